"""The scheduler inside the daemon: debounced page rebuilds and the daily housekeeping.

It lives in the daemon's one process (DESIGN, principle 4), so every job
runs exactly once. Two things are offered to the rest of the daemon:

``run_logged(name, func)``
    the wrapper every scheduled job runs in: logs the start, the result's
    ``summary()`` (when it has one) and any failure, with its traceback when
    unexpected. It never raises, so a failing job never kills the daemon.

``add_daily(scheduler, job_id, func, hour, minute)``
    runs ``func()`` (no arguments) every day at ``hour:minute`` local time
    inside ``run_logged``; ``coalesce=True``, ``max_instances=1`` and a
    misfire grace of six hours, so a run missed while the box was busy or
    asleep still happens once, late, but never twice.

``Rebuilds`` turns "a photo was stored in job 3" into one rebuild of that
job's page after a short quiet time (the upload made the photo's
derivatives, so the rebuild only renders pages): a burst of twenty photos
gives one rebuild (two when they come phone-paced: the first photo's, then
the burst's), a burst longer than ``server.rebuild_max_wait_seconds``
one rebuild per that much time, and no request is ever lost, even when it
arrives while the same job is being built. With ``publish.bucket`` set, each
finished rebuild asks ``Publishes`` for a publish, which runs in a job of its
own (one at a time, coalesced) so the box's own pages never wait on the store.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from daemon import config_watch
from jobgallery import db, runs, storage
from jobgallery.config import Config
from jobgallery.errors import ConfigError, JobGalleryError

log = logging.getLogger("daemon.scheduler")

WORKERS = 2
DAILY_GRACE_SECONDS = 6 * 3600
REBUILD_GRACE_SECONDS = 3600
# One rebuild of a job may run while one more waits; requests during a build are caught by the generation check.
REBUILD_INSTANCES = 2
ALL_JOBS = "all"
MAX_RETRY_SECONDS = 600.0
# Requests closer than this are one burst, whose rebuild waits the longer quiet time (issue 16: one
# rebuild per burst, its last photo visible within 2 s; a single photo still shows after the delay).
BURST_GAP_SECONDS = 1.5
BURST_QUIET_SECONDS = 1.2


def make_scheduler() -> BackgroundScheduler:
    """A background scheduler with a small thread pool; jobs are added before or after ``start()``."""
    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(WORKERS)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": REBUILD_GRACE_SECONDS},
    )


def run_logged(name: str, func: Callable[[], object]) -> object | None:
    """Run one scheduled job and log how it went; never raises."""
    log.info("%s: started", name)
    started = time.monotonic()
    try:
        result = func()
    except JobGalleryError as exc:
        log.error("%s: failed after %.1f s: %s", name, time.monotonic() - started, exc)
        return None
    except Exception:
        log.exception("%s: failed after %.1f s", name, time.monotonic() - started)
        return None
    summary = getattr(result, "summary", None)
    detail = f": {summary()}" if callable(summary) else ""
    log.info("%s: done in %.1f s%s", name, time.monotonic() - started, detail)
    return result


def add_daily(scheduler: BackgroundScheduler, job_id: str, func: Callable[[], object], hour: int, minute: int) -> None:
    """Run ``func()`` every day at ``hour:minute`` (local time), logged by ``run_logged``."""
    add_recurring(scheduler, job_id, func, CronTrigger(hour=hour, minute=minute))


def add_recurring(scheduler: BaseScheduler, job_id: str, func: Callable[[], object], trigger: BaseTrigger) -> None:
    """Run ``func()`` on ``trigger`` inside ``run_logged``: never two at once, a missed run made up once."""
    scheduler.add_job(
        run_logged,
        trigger,
        args=[job_id, func],
        id=job_id,
        name=job_id,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=DAILY_GRACE_SECONDS,
    )


def build_pages(config: Config, job_id: int | None, pending: Collection[int] = ()) -> object:
    """One incremental build: of one job's page (and the index), or of the whole site.

    ``pending``: photos the upload workers are deriving, left for them (``build_site``).
    ConfigError when config.yaml changed since the daemon started (``daemon/config_watch.py``),
    recorded as a failed build, so the health page and ``jobgallery status`` say a restart is due.
    """
    from generator.build import build_site

    try:
        config_watch.check_current(config)
    except ConfigError as exc:
        runs.save(config.db_path, "build", db.now_iso(), False, f"build stopped: {exc}")
        raise
    return build_site(config, job_id=job_id, pending=pending)


def publish_pages(config: Config) -> object:
    """Bring the ``publish.*`` bucket up to date, with the daemon's short timeouts."""
    from generator.bucket import publish_site
    from jobgallery.objectstore.client import DAEMON_TIMEOUTS

    return publish_site(config, timeouts=DAEMON_TIMEOUTS)


class Publishes:
    """Publishes after rebuilds in a job of their own (``publish``), one at a time, coalesced.

    A rebuild only asks; the upload runs on another worker without the
    maintenance lock (``objectstore.mirror`` takes it just to read
    ``output/``), so a slow or stalled store never holds up the box's own
    gallery. Requests made while a publish runs give exactly one more run
    after it; a failed publish is logged and tried again at the next request.
    """

    def __init__(
        self, scheduler: BaseScheduler, config: Config, publish: Callable[[Config], object] = publish_pages
    ) -> None:
        self.scheduler = scheduler
        self.config = config
        self.publish = publish
        self.pending = False
        self.running = False
        self.stopped = False
        self.lock = threading.Lock()

    def stop(self) -> None:
        """The daemon is stopping: the publish under way finishes, no other starts (the next start publishes)."""
        with self.lock:
            self.stopped = True

    def request(self) -> None:
        with self.lock:
            if self.stopped:
                return
            self.pending = True
            if self.running:
                return
            self.running = True
        self.scheduler.add_job(
            self.run,
            "date",
            run_date=datetime.now(UTC),
            id="publish",
            name="publish",
            replace_existing=True,
            misfire_grace_time=REBUILD_GRACE_SECONDS,
        )

    def run(self) -> None:
        """Publish until no request is left; never raises (``run_logged``)."""
        while True:
            with self.lock:
                if not self.pending or self.stopped:
                    self.running = False
                    return
                self.pending = False
            run_logged("publish", lambda: self.publish(self.config))


class Rebuilds:
    """Debounced one-shot rebuilds, one APScheduler job per gallery job (``rebuild-<id>``).

    Every request bumps the job's generation and (re)schedules its rebuild
    ``delay`` seconds from now, replacing any that has not fired yet. A run
    records the generation it started from; a run that finds its generation
    already built skips, and a request that arrives mid-build schedules a
    fresh run that will not skip. Runs for the same job never overlap.

    Each photo a run could not render is logged with its reason. A run cut
    short by a full disk (a photo's derivatives, or a page) is tried again
    by its own job (``rebuild-retry-<id>``, so an upload's rebuild does not
    push it back) after ``server.rebuild_retry_seconds``, doubling up to
    ``MAX_RETRY_SECONDS`` while the disk stays full.
    """

    def __init__(
        self,
        scheduler: BackgroundScheduler,
        config: Config,
        build: Callable[[Config, int | None, Collection[int]], object] = build_pages,
    ) -> None:
        self.scheduler = scheduler
        self.config = config
        self.build = build
        self.delay = config.server.rebuild_delay_seconds
        self.max_wait = config.server.rebuild_max_wait_seconds
        self.last_request: dict[int, float] = {}  # when each job was last asked for, to tell a burst
        self.waiting_since: dict[int | str, float] = {}  # first request not yet covered by a started run
        self.storing: dict[int | str, int] = {}  # uploads into the job being checked and stored right now
        # jobs to rebuild at their last release: their rebuild came due, or a build showed them without some photos
        self.at_release: set[int | str] = set()
        self.deriving: dict[int, int] = {}  # photos the upload workers are deriving (id -> job id), left to them
        self.first_retry = config.server.rebuild_retry_seconds
        self.requested: dict[int | str, int] = {}
        self.built: dict[int | str, int] = {}
        self.retry_delay: dict[int | str, float] = {}
        self.running: dict[int | str, threading.Lock] = {}
        self.lock = threading.Lock()
        self.publishes = Publishes(scheduler, config) if config.publish.bucket else None

    def request(self, job_id: int, delay: float | None = None) -> None:
        """A job changed: rebuild its page after ``delay`` quiet seconds (the configured delay by default).

        Uploads come in bursts and wait for quiet; a new job has nothing to
        wait for, so its (empty) page is made at once with ``delay=0``. A
        request less than ``BURST_GAP_SECONDS`` after the job's last one is
        part of a burst (a phone sends a photo every 0.7 s or so): it waits
        ``BURST_QUIET_SECONDS`` instead, so the burst gets one rebuild after
        its first photo's and its last photo shows within 2 s.
        """
        now = time.monotonic()
        with self.lock:
            last = self.last_request.get(job_id)
            self.last_request[job_id] = now
        if delay is None:
            burst = last is not None and now - last < BURST_GAP_SECONDS
            delay = max(self.delay, BURST_QUIET_SECONDS) if burst else self.delay
        self.schedule(job_id, self.within_max_wait(job_id, delay))

    @contextlib.contextmanager
    def storing_into(self, job_id: int) -> Iterator[None]:
        """An upload into ``job_id`` is being stored: its rebuild waits for it (up to ``max_wait``).

        A burst's next photo often arrives before the quiet time is over but
        takes longer than it to check; without this, each photo of a burst
        of big photos would get a rebuild of its own.
        """
        self.hold(job_id)
        try:
            yield
        finally:
            self.release(job_id)

    def hold(self, job_id: int, image_id: int | None = None) -> None:
        """Something the job's rebuild should wait for has begun (an upload, a photo's derivatives: ``image_id``).

        ``release`` ends it. Until then no build makes that photo's derivatives
        or shows it, whichever job it is a build of.
        """
        with self.lock:
            self.storing[job_id] = self.storing.get(job_id, 0) + 1
            if image_id is not None:
                self.deriving[image_id] = job_id

    def release(self, job_id: int, image_id: int | None = None) -> None:
        """The end of a ``hold``: a rebuild that came due, or ran, while the job was held runs now."""
        with self.lock:
            self.storing[job_id] -= 1
            if image_id is not None:
                self.deriving.pop(image_id, None)
            due = self.storing[job_id] == 0 and job_id in self.at_release
            if due:
                self.at_release.discard(job_id)
        if due:
            self.schedule(job_id, 0)

    def within_max_wait(self, key: int | str, delay: float) -> float:
        """``delay``, cut so that no request waits longer than ``max_wait`` for a run to start."""
        now = time.monotonic()
        with self.lock:
            first = self.waiting_since.setdefault(key, now)
        return max(0.0, min(delay, first + self.max_wait - now))

    def request_all(self) -> None:
        """Bring the whole site up to date at once (at start: catches rebuilds lost to a restart or power cut)."""
        self.schedule(ALL_JOBS, 0)

    def schedule(self, key: int | str, delay: float, name: str | None = None) -> None:
        with self.lock:
            self.requested[key] = self.requested.get(key, 0) + 1
            self.running.setdefault(key, threading.Lock())
        name = name or f"rebuild-{key}"
        self.scheduler.add_job(
            self.fire,
            "date",
            run_date=datetime.now(UTC) + timedelta(seconds=delay),
            args=[key, name],
            id=name,
            name=name,
            replace_existing=True,
            coalesce=True,
            max_instances=REBUILD_INSTANCES,
            misfire_grace_time=REBUILD_GRACE_SECONDS,
        )

    def fire(self, key: int | str, name: str) -> None:
        """A scheduled rebuild is due: run it (logged), unless an upload into the job is still arriving."""
        with self.lock:
            held = self.held_back(key)
        if held:
            with self.lock:
                self.at_release.add(key)
            self.schedule(key, self.delay, name)  # looked at again after the upload, whether it stores anything or not
            return
        run_logged(name, lambda: self.run(key))

    def run(self, key: int | str) -> object | None:
        """Build unless an earlier run already covered every request made so far."""
        with self.running[key]:
            with self.lock:
                wanted = self.requested[key]
                if self.built.get(key) == wanted:
                    return None
                self.waiting_since.pop(key, None)
                pending = dict(self.deriving)
            try:
                result = self.build(self.config, None if key == ALL_JOBS else key, frozenset(pending))
            except OSError as exc:
                if not storage.is_disk_full(exc):
                    raise
                log.warning("rebuild-%s: stopped: %s", key, exc)
                self.retry(key)
                return None
            self.left_out(set(pending.values()))
            with self.lock:
                self.built[key] = wanted
            self.log_failures(key, result)
            if self.publishes is not None:
                self.publishes.request()
            return result

    def left_out(self, jobs: set[int]) -> None:
        """``jobs`` were rendered without photos their workers were deriving: show those once they are made.

        A job whose photos are all made by now is rebuilt at once; the others
        when their last photo is released.
        """
        with self.lock:
            busy = set(self.deriving.values())
            self.at_release.update(jobs & busy)
        for job in sorted(jobs - busy):
            self.schedule(job, 0)

    def held_back(self, key: int | str) -> bool:
        """An upload into the job is being stored right now, and the first request waited less than the maximum."""
        waited = time.monotonic() - self.waiting_since.get(key, time.monotonic())
        return self.storing.get(key, 0) > 0 and waited < self.max_wait

    def log_failures(self, key: int | str, result: object) -> None:
        for filename, reason in getattr(result, "failed", ()):
            log.warning("rebuild-%s: %s could not be rendered: %s", key, filename, reason)
        if getattr(result, "short_of_space", False):
            self.retry(key)
        else:
            with self.lock:
                self.retry_delay.pop(key, None)

    def retry(self, key: int | str) -> None:
        """Build ``key`` again later: the disk was full."""
        with self.lock:
            delay = self.retry_delay.get(key, self.first_retry)
            self.retry_delay[key] = min(delay * 2, MAX_RETRY_SECONDS)
        log.warning("rebuild-%s: the disk is full; trying again in %.0f s", key, delay)
        self.schedule(key, delay, f"rebuild-retry-{key}")
