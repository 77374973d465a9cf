"""Derivatives of uploads, made right after storing by one worker process, outside the request.

An upload's check decodes the photo at 1/8 scale in the request thread: that
reads and decodes every compressed byte (damage shows) while holding a
sixty-fourth of the pixels, so sixteen phones uploading at once keep the
daemon under 100 MiB (tests/test_daemon_load.py). The derivatives need the
pixels at zoom scale (a 12 MP photo: 48 MiB decoded, twice that while it is
resized), which the daemon's own process must never hold: they are made here,
one photo at a time, by a single worker from the build's fork server
(``generator.pool``), from the stored master with the build's own function,
so the bytes are the ones a build would write. The worker is started with
the first photo of a burst and stopped when the queue runs dry, so an idle
daemon keeps no big process around.

The job's rebuild waits for the photos queued here (``Rebuilds.hold``, up to
``server.rebuild_max_wait_seconds``), so it only renders pages. Nothing
depends on the worker: a photo it could not finish (a damaged master, a full
disk, the daemon stopped or killed) is logged and left to the build.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from daemon.connections import ThreadConnections
from daemon.scheduler import Rebuilds
from generator.derivatives import KINDS, PhotoResult, PhotoTask, Recipe, derivative_name, make_photo
from generator.pool import pool_context
from jobgallery import db, storage
from jobgallery.config import Config
from jobgallery.decode_budget import DECODES
from jobgallery.errors import JobGalleryError
from jobgallery.images import Limits
from jobgallery.workers import start_worker

log = logging.getLogger("daemon.derive_queue")


class DeriveQueue:
    """Photos stored without derivatives, made one at a time by a worker process while any are waiting."""

    def __init__(self, config: Config, connections: ThreadConnections, rebuilds: Rebuilds) -> None:
        self.config = config
        self.connections = connections
        self.rebuilds = rebuilds
        self.recipe = Recipe.from_config(config)
        self.waiting: queue.SimpleQueue[db.Image] = queue.SimpleQueue()
        self.started = False
        self.lock = threading.Lock()
        self.pool: ProcessPoolExecutor | None = None

    def put(self, image: db.Image) -> None:
        """Make ``image``'s derivatives soon; its job's rebuild waits until they are written."""
        self.rebuilds.hold(image.job_id)
        self.waiting.put(image)
        with self.lock:
            if not self.started:
                threading.Thread(target=self.work, name="derive-queue", daemon=True).start()
                self.started = True

    def work(self) -> None:
        while True:
            image = self.waiting.get()
            try:
                self.make(image)
            except Exception:  # the thread outlives any one photo; the build makes what it left
                log.exception("job %d: derivatives of %s left to the build", image.job_id, image.filename)
            finally:
                if self.waiting.empty():
                    self.stop_worker()
                self.rebuilds.release(image.job_id)

    def make(self, image: db.Image) -> None:
        try:
            task = self.task(image)
        except (OSError, ValueError, JobGalleryError) as exc:
            log.warning("job %d: derivatives of %s left to the build: %s", image.job_id, image.filename, exc)
            return
        result = self.run(task)
        if result.error:
            log.warning("job %d: derivatives of %s left to the build: %s", image.job_id, image.filename, result.error)
        else:
            log.info("job %d: derivatives of %s made after its upload", image.job_id, image.filename)

    def task(self, image: db.Image) -> PhotoTask:
        """Every kind of derivative of ``image``, named and placed as the build would; ValueError for a bad name."""
        output = self.config.paths.output
        job = db.get_job(self.connections.get(), image.job_id)
        folder = storage.within(output, output / job.gallery_path(self.config.gallery.public_index))
        names = tuple((kind, derivative_name(image.id, image.sha256, kind, self.recipe)) for kind in KINDS)
        master = storage.master_path(self.config.paths.data, image.job_id, image.filename)
        limits = Limits.from_config(self.config)
        return PhotoTask(image.id, image.filename, str(master), str(folder), names, self.recipe, limits)

    def run(self, task: PhotoTask) -> PhotoResult:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(
                1, mp_context=pool_context(), initializer=start_worker, initargs=(DECODES.path,)
            )
        try:
            return self.pool.submit(make_photo, task).result()
        except BrokenProcessPool:
            self.stop_worker()
            return PhotoResult(task.image_id, task.filename, error="the worker process died (out of memory?)")

    def stop_worker(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
