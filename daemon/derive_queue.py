"""Derivatives of uploads, made right after storing by worker processes, outside the request.

An upload's check decodes the photo at 1/8 scale in the request thread: that
reads and decodes every compressed byte (damage shows) while holding a
sixty-fourth of the pixels, so sixteen phones uploading at once keep the
daemon under 100 MiB (tests/test_daemon_load.py). The derivatives need the
pixels at zoom scale (a 12 MP photo: 48 MiB decoded, twice that while it is
resized), which the daemon's own process must never hold: they are made here,
by up to two worker processes from the build's fork server
(``generator.pool``), from the stored master with the build's own function,
so the bytes are the ones a build would write. The workers are started
with the first photo and stopped after a minute with none, so an idle
daemon keeps no process around.

The job's rebuild waits for the photos queued here (``Rebuilds.hold``, up to
``server.rebuild_max_wait_seconds``), so it only renders pages; no build, of
this job or another, makes or shows a photo while it is here, and a job
rendered without some is rebuilt when they are done. Nothing
depends on the workers: a photo they could not finish (a damaged master, a full
disk, the daemon stopped or killed) is logged and left to the build.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from daemon.connections import ThreadConnections
from daemon.scheduler import Rebuilds
from generator.build import build_workers
from generator.derivatives import KINDS, PhotoTask, Recipe, derivative_name, make_photo
from generator.pool import pool_context
from jobgallery import db, storage
from jobgallery.config import Config
from jobgallery.decode_budget import DECODES
from jobgallery.errors import JobGalleryError
from jobgallery.images import Limits
from jobgallery.workers import start_worker

log = logging.getLogger("daemon.derive_queue")

# Workers at most, fewer when ``build.workers`` says so: each holds a zoom-scale decode (about 100 MiB
# at its peak for a 12 MP photo), and the upload checks need a core too.
WORKERS = 2
# A worker idle this long is stopped: a crew sending photos one by one keeps it warm (no start for each),
# an idle daemon keeps no worker around.
IDLE_SECONDS = 60


class DeriveQueue:
    """Photos stored without derivatives, made by up to ``WORKERS`` worker processes while any are waiting."""

    def __init__(self, config: Config, connections: ThreadConnections, rebuilds: Rebuilds) -> None:
        self.config = config
        self.connections = connections
        self.rebuilds = rebuilds
        self.recipe = Recipe.from_config(config)
        self.limits = Limits.from_config(config)
        self.workers = min(WORKERS, build_workers(config))
        self.waiting: queue.SimpleQueue[db.Image] = queue.SimpleQueue()
        self.free = threading.Semaphore(self.workers)
        self.started = False
        self.broken = False
        self.stopping = False
        self.lock = threading.Lock()
        self.pool_lock = threading.Lock()  # the pool, and whether the daemon is stopping
        self.pool: ProcessPoolExecutor | None = None

    def put(self, image: db.Image) -> None:
        """Make ``image``'s derivatives soon; its job's rebuild waits until they are written."""
        self.rebuilds.hold(image.job_id, image.id)
        self.waiting.put(image)
        with self.lock:
            if not self.started:
                threading.Thread(target=self.work, name="derive-queue", daemon=True).start()
                self.started = True

    def work(self) -> None:
        """Hand waiting photos to the pool, at most one a worker at a time, so a burst's order is kept."""
        while True:
            try:
                image = self.waiting.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                self.stop_when_idle()
                continue
            self.free.acquire()
            try:
                with self.pool_lock:
                    self.submit(image)
            except Exception:  # the thread outlives any one photo; the build makes what it left
                log.exception("job %d: derivatives of %s left to the build", image.job_id, image.filename)
                self.finished(image)

    def submit(self, image: db.Image) -> None:
        """Hand ``image`` to a worker (under ``pool_lock``); once the daemon is stopping, leave it to the build."""
        if self.stopping:
            self.finished(image)
            return
        try:
            task = self.task(image)
        except (OSError, ValueError, JobGalleryError) as exc:
            log.warning("job %d: derivatives of %s left to the build: %s", image.job_id, image.filename, exc)
            self.finished(image)
            return
        if self.broken:
            self.stop_worker()
        if self.pool is None:
            context = pool_context()
            self.pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=start_worker, initargs=(DECODES.path,)
            )
        self.pool.submit(make_photo, task).add_done_callback(lambda future: self.done(image, task, future))

    def stop(self) -> None:
        """The daemon is stopping: let the photos in hand finish, leave the waiting ones to the next start's build."""
        with self.pool_lock:
            self.stopping = True
            self.stop_worker()
        left = 0
        while True:
            try:
                image = self.waiting.get_nowait()
            except queue.Empty:
                break
            self.rebuilds.release(image.job_id, image.id)
            left += 1
        if left:
            log.info("%d photo(s) left for the build when the daemon starts again", left)

    def task(self, image: db.Image) -> PhotoTask:
        """Every kind of derivative of ``image``, named and placed as the build would; ValueError for a bad name."""
        output = self.config.paths.output
        job = db.get_job(self.connections.get(), image.job_id)
        folder = storage.within(output, output / job.gallery_path(self.config.gallery.public_index))
        names = tuple((kind, derivative_name(image.id, image.sha256, kind, self.recipe)) for kind in KINDS)
        master = storage.master_path(self.config.paths.data, image.job_id, image.filename)
        return PhotoTask(image.id, image.filename, str(master), str(folder), names, self.recipe, self.limits)

    def done(self, image: db.Image, task: PhotoTask, future: Future) -> None:
        """A worker finished ``image`` (or died on it): log which, and let the job's rebuild go when it was the last."""
        try:
            error = future.result().error
        except BrokenProcessPool:
            self.broken = True
            error = "the worker process died (out of memory?)"
        except Exception as exc:  # a failure to hand the task over; the build makes what it left
            error = f"{type(exc).__name__}: {exc}"
        if error and not Path(task.master).exists():  # archived or deleted meanwhile: nothing is left to make
            log.info("job %d: %s went before its derivatives were made", image.job_id, image.filename)
        elif error:
            log.warning("job %d: derivatives of %s left to the build: %s", image.job_id, image.filename, error)
        else:
            log.info("job %d: derivatives of %s made after its upload", image.job_id, image.filename)
        self.finished(image)

    def finished(self, image: db.Image) -> None:
        self.free.release()
        self.rebuilds.release(image.job_id, image.id)

    def stop_when_idle(self) -> None:
        """Stop the workers when none has a photo: take every slot first, so none is handed one meanwhile."""
        for _ in range(self.workers):
            self.free.acquire()
        try:
            with self.pool_lock:
                self.stop_worker()
        finally:
            for _ in range(self.workers):
                self.free.release()

    def stop_worker(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
            self.broken = False
