"""Running the daemon: waitress (threaded, one process), the scheduler, signals, a clean stop.

waitress reads each request completely before a worker thread sees it. So
slow and idle connections cost a socket and a little memory each, never a
thread: ``server.connection_limit`` (default 500, well under the 1024 open
files systemd allows) says how many it holds at once, and
``server.channel_timeout_seconds`` closes the ones where nothing moves
(waitress' own defaults, 100 connections kept for 120 s, let 101 idle
sockets take the daemon off the air). And the one place that can refuse an
oversized body *before reading it* is waitress itself:
``max_request_body_size`` is set to the upload limit, and its refusal (like
its other protocol errors) is answered in our JSON shape, or as a page for
browsers, by ``JsonErrorTask``, with the same security headers as every
other answer.

On SIGTERM or SIGINT the daemon stops listening at once, lets requests that
are being received or answered finish (at most ``DRAIN_SECONDS``; a second
signal cuts this short), stops the scheduler after its running job, and
returns 0.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from daemon import housekeeping, share_expiry
from daemon.accesslog import printable
from daemon.app import error_renderer, make_app
from daemon.connections import ThreadConnections
from daemon.derive_queue import DeriveQueue
from daemon.headers import with_security_headers
from daemon.responses import Pages
from daemon.scheduler import Rebuilds, make_scheduler
from jobgallery import db, invocation, storage, users
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError
from jobgallery.malloc import tune_malloc

log = logging.getLogger("daemon.server")

MIB = 1024 * 1024
DRAIN_SECONDS = 20.0
LOOP_SECONDS = 0.5
THREAD_EXIT_SECONDS = 5.0
# How often idle connections are looked for (at most; half the idle timeout when that is shorter).
CLEANUP_SECONDS = 30
# A request body in waitress' hands moves to a temp file past this: 500 slow uploads hold 32 MiB, not 250.
BODY_MEMORY_BYTES = 64 * 1024

WAITRESS_MESSAGES = {
    400: "the request could not be understood",
    413: "the upload is larger than {limit} MiB",
    431: "the request headers are too large",
    501: "this transfer encoding is not supported",
}


# ---------------------------------------------------------------- waitress' own refusals, in our shape


def channel_class(render: Callable[[int, str, dict], tuple[str, bytes]], limit_mb: int) -> type[HTTPChannel]:
    """An HTTPChannel whose protocol errors (413 before reading, 400, 431) answer like the app does."""

    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            error = self.request.error
            message = WAITRESS_MESSAGES.get(error.code, "the request could not be read").format(limit=limit_mb)
            # A request line waitress could not parse leaves no ``path`` (nor ``command``) on the request.
            path, command = getattr(self.request, "path", None), getattr(self.request, "command", None)
            asked = {"HTTP_ACCEPT": self.request.headers.get("ACCEPT", ""), "PATH_INFO": path or ""}
            content_type, body = render(error.code, message, asked)
            line = printable(f"{command or '-'} {path or '-'}")
            log.info('%s - "%s" %d (refused before reading the body)', self.channel.addr[0], line, error.code)
            self.status = f"{error.code} {error.reason}"
            self.response_headers[:] = with_security_headers([*self.response_headers, ("Content-Type", content_type)])
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class Channel(HTTPChannel):
        error_task_class = JsonErrorTask

    return Channel


def make_server(config: Config, app, socket_map: dict) -> BaseWSGIServer:
    """Bind ``server.host:server.port``; a port in use is a one-line error, not a traceback."""
    try:
        server = create_server(
            app,
            map=socket_map,
            host=config.server.host,
            port=config.server.port,
            threads=config.server.threads,
            max_request_body_size=config.server.max_upload_mb * MIB + 1,
            ident="jobgallery",
            # X-Forwarded-For/-Proto reach the app, which believes them from server.trusted_proxies only.
            clear_untrusted_proxy_headers=False,
            asyncore_use_poll=True,
            connection_limit=config.server.connection_limit,
            channel_timeout=config.server.channel_timeout_seconds,
            cleanup_interval=max(1, min(CLEANUP_SECONDS, config.server.channel_timeout_seconds // 2)),
            inbuf_overflow=BODY_MEMORY_BYTES,
        )
    except OSError as exc:
        where = f"{config.server.host}:{config.server.port}"
        raise JobGalleryError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return server


# ---------------------------------------------------------------- stopping cleanly


@dataclass
class StopSignal:
    """Counts SIGTERM/SIGINT; the first asks for a clean stop, the second cuts the drain short."""

    wake: Callable[[], None]
    count: int = 0
    names: list[str] = field(default_factory=list)

    def __call__(self, signum: int, frame: object) -> None:
        self.count += 1
        self.names.append(signal.Signals(signum).name)
        # After the drain the event loop and its wake-up pipe are closed (EBADF): the count is all that matters then.
        with contextlib.suppress(OSError):
            self.wake()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)

    @staticmethod
    def ignore_from_now_on() -> None:
        """Once stopped, a late signal must not turn exit status 0 into death by signal.

        (Python puts its own handlers back to the default while it exits; ignored ones stay ignored.)
        """
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def busy(channel: HTTPChannel) -> bool:
    """A request being received, worked on or sent (waitress' channel state)."""
    return bool(channel.requests or channel.request is not None or channel.total_outbufs_len)


def serve_until_stopped(server: BaseWSGIServer, socket_map: dict, stop: StopSignal) -> None:
    """Run waitress' event loop until a signal arrives."""
    loop = server.asyncore.loop
    while not stop.count:
        loop(timeout=LOOP_SECONDS, map=socket_map, use_poll=True, count=1)


def drain(server: BaseWSGIServer, socket_map: dict, stop: StopSignal) -> int:
    """Stop listening, finish what is in flight (bounded), close the rest; returns requests cut off."""
    server.asyncore.dispatcher.close(server)  # the listening socket only; the wake-up pipe stays
    deadline = time.monotonic() + DRAIN_SECONDS
    loop = server.asyncore.loop
    while time.monotonic() < deadline and stop.count < 2:
        channels = list(server.active_channels.values())
        for channel in channels:
            if not busy(channel):
                channel.will_close = True
        if not any(busy(channel) for channel in channels) and not server.active_channels:
            break
        loop(timeout=0.1, map=socket_map, use_poll=True, count=1)
    cut_off = sum(busy(channel) for channel in server.active_channels.values())
    server.task_dispatcher.shutdown(timeout=THREAD_EXIT_SECONDS)
    server.asyncore.close_all(socket_map)
    return cut_off


# ---------------------------------------------------------------- first start and the banner


def first_admin(config: Config, out: TextIO) -> None:
    """With no users at all, create an admin and show its password, this once."""
    with db.open_db(config.db_path) as conn:
        created = users.ensure_first_admin(conn)
    if created is None:
        return
    name, password = created
    out.write(
        "No users yet, so an admin was created. Note the password now; it is not shown again.\n"
        f"  user:     {name}\n"
        f"  password: {password}\n"
        f"Add crew accounts with: {invocation.command(config.source, 'user', 'add', 'NAME')}\n"
    )


def announce(config: Config, out: TextIO) -> None:
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    base = f"http://{host}:{config.server.port}"
    out.write(f"Upload form: {base}/upload\n")
    if config.server.serve_output:
        out.write(f"Gallery:     {base}/\n")
    else:
        out.write(f"Gallery:     served by Nginx from {config.paths.output}\n")
    out.flush()


def setup_logging(config: Config) -> None:
    """Log lines to stderr (systemd's journal); quiet the libraries' routine chatter."""
    logging.basicConfig(
        stream=sys.stderr,
        level=config.server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    if config.server.log_level != "debug":
        # Our own lines already say what these would: one per request, one per photo, one per scheduled run.
        for name in ("apscheduler", "waitress.queue", "jobgallery.ingest"):
            logging.getLogger(name).setLevel(logging.WARNING)


# ---------------------------------------------------------------- the whole run


def remove_crash_leftovers(config: Config) -> None:
    """An upload cut off by a crash leaves nothing once the daemon runs again."""
    for path in storage.remove_dead_temps(config.paths.data):
        log.info("removed %s, left by an upload that was cut off", path)


def run(config: Config, out: TextIO = sys.stdout) -> int:
    """``jobgallery serve``: serve until SIGTERM/SIGINT, then stop cleanly and return 0."""
    setup_logging(config)
    tune_malloc()
    connections = ThreadConnections(config.db_path, config.server.busy_timeout_seconds)
    connections.get()  # create and migrate the database before the first request
    remove_crash_leftovers(config)
    scheduler = make_scheduler()
    rebuilds = Rebuilds(scheduler, config)
    socket_map: dict = {}
    pages = Pages(config)
    derive = DeriveQueue(config, connections, rebuilds)
    app = make_app(config, connections, rebuilds, pages, derive)
    server = make_server(config, app, socket_map)
    server.channel_class = channel_class(error_renderer(pages), config.server.max_upload_mb)
    stop = StopSignal(server.pull_trigger)
    stop.install()
    first_admin(config, out)
    announce(config, out)
    housekeeping.schedule(scheduler, config)
    share_expiry.schedule(scheduler, config, rebuilds.publishes)
    rebuilds.request_all()
    scheduler.start()
    log.info("settings from %s", config.source or "the defaults (no config.yaml)")
    log.info("listening on %s:%s (%d threads)", config.server.host, server.effective_port, config.server.threads)
    serve_until_stopped(server, socket_map, stop)
    log.info("%s received: finishing requests in flight (at most %.0f s)", stop.names[0], DRAIN_SECONDS)
    if rebuilds.publishes is not None:
        rebuilds.publishes.stop()
    cut_off = drain(server, socket_map, stop)
    if cut_off:
        log.warning("%d request(s) were cut off before they were answered", cut_off)
    derive.stop()
    scheduler.shutdown(wait=True)
    connections.close_all()
    stop.ignore_from_now_on()
    log.info("stopped")
    return 0
