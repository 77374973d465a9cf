"""A real ``jobgallery serve`` for tests, and small HTTP helpers to talk to it.

Start one from a config file::

    from daemon_support import running_daemon, http, basic

    with running_daemon(instance / "config.yaml") as daemon:
        reply = http("GET", daemon.url + "/api/jobs", headers=basic("crew", "crew-pass-1"))
        assert reply.status == 200 and reply.json()["jobs"] == []

``running_daemon(config_path, port=None, startup_timeout=30, env=None)`` writes
``server.host: 127.0.0.1`` and ``server.port`` (a free port unless given)
into the config file, starts ``jobgallery --config <path> serve`` as a
subprocess with stdout and stderr going to files beside the config, waits
until ``GET /healthz`` answers 200, and yields a ``Daemon``:

* ``url`` (``http://127.0.0.1:<port>``), ``port``, ``process`` (Popen);
* ``stdout()`` / ``log()``: what it printed so far (banner / log lines);
* ``peak_rss_kib()``: the process' VmHWM from ``/proc``;
* ``stop(sig=SIGTERM, timeout=30)``: signal it and return its exit status.

Leaving the block stops it with SIGTERM (if the test did not already) and
fails the test when it does not exit 0 within the timeout. Other test areas
(nginx in front, the scheduler's jobs) can use it as is.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import photos
import yaml
from conftest import cli_command, free_port
from PIL import Image

from jobgallery.config import Config

# ---------------------------------------------------------------- the daemon process


@dataclass
class Daemon:
    url: str
    port: int
    process: subprocess.Popen
    config_path: Path
    stdout_path: Path
    stderr_path: Path
    exit_status: int | None = field(default=None)

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def log(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def peak_rss_kib(self) -> int:
        """Peak resident memory so far (VmHWM), in KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1])

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` (unless it has exited already) and wait for the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.exit_status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"jobgallery serve did not stop within {timeout} s:\n{self.log()}") from None
        return self.exit_status


def set_listen_address(config_path: Path, port: int) -> None:
    """Point the config's ``server.host``/``server.port`` at 127.0.0.1:port, keeping every other key."""
    data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    data.setdefault("server", {}).update({"host": "127.0.0.1", "port": port})
    config_path.write_text(yaml.safe_dump(data), encoding="utf-8")


def wait_healthy(daemon: Daemon, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise AssertionError(f"jobgallery serve exited with {daemon.process.returncode}:\n{daemon.log()}")
        with contextlib.suppress(OSError):
            if http("GET", daemon.url + "/healthz", timeout=2).status == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"jobgallery serve did not answer /healthz within {timeout} s:\n{daemon.log()}")


@contextlib.contextmanager
def running_daemon(
    config_path: Path,
    port: int | None = None,
    startup_timeout: float = 30,
    env: dict[str, str] | None = None,
) -> Iterator[Daemon]:
    """Run ``jobgallery --config <config_path> serve`` on 127.0.0.1 for the block; see the module docstring.

    ``env`` adds environment variables for the daemon (the rest is inherited).
    """
    config_path = Path(config_path)
    port = port or free_port()
    set_listen_address(config_path, port)
    stdout_path = config_path.with_name(f"serve-{port}.out")
    stderr_path = config_path.with_name(f"serve-{port}.log")
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [*cli_command(), "--config", str(config_path), "serve"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=config_path.parent,
            env={**os.environ, **(env or {})},
        )
    daemon = Daemon(f"http://127.0.0.1:{port}", port, process, config_path, stdout_path, stderr_path)
    try:
        wait_healthy(daemon, startup_timeout)
        yield daemon
    finally:
        if daemon.exit_status is None:
            status = daemon.stop()
            assert status == 0, f"jobgallery serve exited with {status}:\n{daemon.log()}"


# ---------------------------------------------------------------- HTTP


@dataclass
class Site:
    """A running daemon, its config and a connection to its database; test modules add their own helpers."""

    daemon: Daemon
    config: Config
    conn: object

    @property
    def url(self) -> str:
        return self.daemon.url


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    header_list: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> object:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def header_values(self, name: str) -> list[str]:
        """Every value sent under ``name`` (``headers`` keeps only the last of repeated ones)."""
        return [value for key, value in self.header_list if key.lower() == name.lower()]


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    """One request with http.client (no redirects followed, no exceptions for error statuses)."""
    parts = urlsplit(url)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        sent = response.getheaders()
        return Reply(response.status, {k.lower(): v for k, v in sent}, data, sent)
    finally:
        conn.close()


def basic(name: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP Basic."""
    import base64

    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass(frozen=True)
class FilePart:
    filename: str
    data: bytes
    name: str = "image"
    content_type: str = "application/octet-stream"


def multipart(fields: Iterable[tuple[str, str]] = (), files: Iterable[FilePart] = ()) -> tuple[dict[str, str], bytes]:
    """``(headers, body)`` of a multipart/form-data request, fields first, as browsers send them."""
    boundary = f"----jobgallery{uuid.uuid4().hex}"
    out = io.BytesIO()
    for name, value in fields:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode("utf-8") + b"\r\n")
    for part in files:
        disposition = f'form-data; name="{part.name}"; filename="{part.filename}"'
        out.write(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode())
        out.write(f"Content-Type: {part.content_type}\r\n\r\n".encode())
        out.write(part.data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, out.getvalue()


def upload(url: str, files: Iterable[FilePart], auth: dict[str, str], fields: Iterable[tuple[str, str]] = ()) -> Reply:
    """POST a multipart form of ``files`` (and ``fields``) to ``url``."""
    headers, body = multipart(fields, files)
    return http("POST", url, body, {**headers, **auth})


# ---------------------------------------------------------------- phone-sized photos


@functools.cache
def _phone_base(width: int, height: int) -> Image.Image:
    return Image.blend(photos.photo(width, height, seed=1), Image.effect_noise((width, height), 40).convert("RGB"), 0.2)


def phone_photo(seed: int, width: int = 4000, height: int = 3000, quality: int = 92) -> bytes:
    """A distinct 12 MP JPEG of about 4 MB, like a phone's: one shared picture with a block marked by ``seed``."""
    image = _phone_base(width, height).copy()
    image.paste((seed * 37 % 256, seed * 91 % 256, seed * 53 % 256), (0, 0, 64 + seed % 64, 64))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


# ---------------------------------------------------------------- what is stored


def stored_files(data_dir: Path) -> list[str]:
    """Every file under ``data/images`` (masters and any temp leftovers), relative, sorted."""
    root = data_dir / "images"
    if not root.is_dir():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
