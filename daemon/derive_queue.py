"""Derivatives of uploads that overlapped another: made right after storing, by one worker, outside the request.

One upload at a time makes its derivatives from its own check's decode
(``UploadDaemon.derivatives_slot``); an upload that arrives while that slot
is taken only checks, at 1/8 scale. Its photos come here: a single worker
thread makes their derivatives from the stored master, one photo at a time,
holding the same slot, so the daemon never holds more than one
display-scale decode for uploads (tests/test_daemon_load.py), and publishes
them as the ingest would. The job's rebuild waits for them
(``Rebuilds.hold``, up to ``server.rebuild_max_wait_seconds``), so it only
renders pages instead of making the burst's derivatives one after another.

Nothing depends on the worker: a photo it could not finish (a damaged
master, a full disk, the daemon stopped) is logged and left to the build.
"""

from __future__ import annotations

import logging
import queue
import threading

from daemon.connections import ThreadConnections
from daemon.scheduler import Rebuilds
from generator.derivatives import make_derivatives
from generator.ingest_output import IngestDerivatives
from jobgallery import db, storage
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError
from jobgallery.images import Limits

log = logging.getLogger("daemon.derive_queue")


class DeriveQueue:
    """Photos stored without derivatives, made one at a time by a daemon thread started on first use."""

    def __init__(
        self,
        config: Config,
        connections: ThreadConnections,
        rebuilds: Rebuilds,
        derivatives: IngestDerivatives,
        slot: threading.Lock,
    ) -> None:
        self.config = config
        self.connections = connections
        self.rebuilds = rebuilds
        self.derivatives = derivatives
        self.slot = slot
        self.waiting: queue.SimpleQueue[db.Image] = queue.SimpleQueue()
        self.started = False
        self.lock = threading.Lock()

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
            except Exception:  # the worker outlives any one photo; the build makes what it left
                log.exception("job %d: derivatives of %s left to the build", image.job_id, image.filename)
            finally:
                self.rebuilds.release(image.job_id)

    def make(self, image: db.Image) -> None:
        """Decode the stored master (the build's decode: the same bytes) and publish; failures are left to the build."""
        try:
            master = storage.master_path(self.config.paths.data, image.job_id, image.filename)
            with self.slot:
                made = make_derivatives(master, self.derivatives.recipe, Limits.from_config(self.config))
            self.derivatives.publish(self.connections.get(), image, made)
            log.info("job %d: derivatives of %s made after its upload", image.job_id, image.filename)
        except (OSError, ValueError, JobGalleryError) as exc:
            log.warning("job %d: derivatives of %s left to the build: %s", image.job_id, image.filename, exc)
