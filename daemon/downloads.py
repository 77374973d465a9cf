"""``Download all photos``: a job's masters as one zip, streamed, without their private metadata.

| route                              | who                  | answer                                   |
|------------------------------------|----------------------|------------------------------------------|
| GET, HEAD /jobs/<folder>/<slug>-photos.zip | whoever has the page | the zip of a live job                    |
| GET, HEAD /s/<token>/<slug>-photos.zip     | whoever has the link | the zip of an active share link's job    |

The address is the key, as for the pages: the folder must be the job's
current gallery path (with its token on a private site), the share link must
be active (revoked or expired: 404 at once, not at the next build).

Nothing is stored twice: the zip is made while it is sent, from the masters
(``jobgallery/clean_copy.py`` leaves their metadata out losslessly). Entries
are stored, not deflated (photos do not shrink), so the size is known before
the first byte and sent as ``Content-Length``: a browser shows progress, and a
download cut short is known to be incomplete. The daemon reads 64 KiB at a
time, and waitress blocks the thread while the client is behind, so memory
stays flat for a job of any size (``bench/downloads.py``). Entry times are
the time of the download (the zip library sets them), so two downloads differ
in those bytes: a broken download is restarted, not resumed
(``Accept-Ranges: none``).

Each download holds one of the daemon's threads while it runs, so at most
half of them (at least one) send zips at once; more get 503 with Retry-After.
Behind Nginx the answer carries ``X-Accel-Buffering: no`` so Nginx passes it
through instead of spooling a gigabyte to its temp folder.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import quote

import bottle
from zipstream import ZIP_STORED, ZipStream

from daemon.accesslog import request_line
from daemon.connections import ThreadConnections
from jobgallery import capture_time, clean_copy, db, shares
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError, NotFound

log = logging.getLogger("daemon.downloads")

EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "HEIF": ".heic"}
NAME_WORDS = 60  # characters of the description in an entry's name
UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|\u202a-\u202e\u2066-\u2069]+')
RETRY_SECONDS = 30


class DownloadsBusy(JobGalleryError):
    """Every thread the daemon lets zips use is sending one."""

    status = 503
    headers: ClassVar[dict[str, str]] = {"Retry-After": str(RETRY_SECONDS)}


class Downloads:
    """The zip routes, with the limit on downloads running at once."""

    def __init__(self, config: Config, connections: ThreadConnections) -> None:
        self.config = config
        self.connections = connections
        self.slots = threading.BoundedSemaphore(max(1, config.server.threads // 2))

    def install(self, app: bottle.Bottle) -> None:
        app.route("/jobs/<folder>/<name>", "GET", self.job_zip, auth=None)
        app.route("/s/<token>/<name>", "GET", self.share_zip, auth=None)

    @property
    def conn(self) -> sqlite3.Connection:
        return self.connections.get()

    def job_zip(self, folder: str, name: str) -> bottle.HTTPResponse:
        """The zip of the live job whose page is at ``jobs/<folder>/``."""
        number = folder.split("-", 1)[0]
        if not (number.isascii() and number.isdigit() and len(number) < 19):
            raise NotFound("there is nothing at this address")
        job = db.get_job(self.conn, int(number), live=True)
        if job.gallery_path(self.config.gallery.public_index) != f"jobs/{folder}/":
            raise NotFound("there is nothing at this address")
        return self.send(job, name)

    def share_zip(self, token: str, name: str) -> bottle.HTTPResponse:
        """The zip of an active share link's job; a revoked or expired link answers 404 from that moment."""
        share = shares.find_active(self.conn, token)
        if share is None:
            raise NotFound("this share link has ended or never existed")
        return self.send(db.get_job(self.conn, share.job_id, live=True), name)

    def send(self, job: db.Job, name: str) -> bottle.HTTPResponse:
        if name != clean_copy.zip_name(job.slug):
            raise NotFound("there is nothing at this address")
        archive = self.plan(job)
        headers = {
            "Content-Type": "application/zip",
            "Content-Length": str(len(archive)),
            "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
            "Accept-Ranges": "none",
            "X-Accel-Buffering": "no",
        }
        if bottle.request.method == "HEAD":
            return bottle.HTTPResponse(b"", 200, **headers)
        if not self.slots.acquire(blocking=False):
            raise DownloadsBusy("the server is busy sending other downloads; try again in a minute")
        log.info("zip of job %d: %d bytes", job.id, len(archive))
        return bottle.HTTPResponse(self.stream(archive, request_line(bottle.request.environ)), 200, **headers)

    def plan(self, job: db.Job) -> ZipStream:
        """Every photo of the job (trashed ones excepted by ``db.list_images``), cleaned, named to sort by time.

        Plans come from the database when the build made them; any made here
        are stored for next time unless the database is busy.
        """
        plans = clean_copy.plan_images(self.conn, self.config.paths.data, db.list_images(self.conn, job.id))
        for image, reason in plans.refused:
            log.warning("zip of job %d: %s left out: %s", job.id, image.filename, reason)
        if plans.new:
            try:
                db.save_download_plans(self.conn, plans.new)
            except sqlite3.OperationalError as exc:
                log.info("zip of job %d: plans not stored this time: %s", job.id, exc)
        archive = ZipStream(compress_type=ZIP_STORED, sized=True)
        taken: set[str] = set()
        for image, copy in plans.copies:
            archive.add(copy.chunks(), entry_name(image, copy, taken), size=copy.size)
        return archive

    def stream(self, archive: ZipStream, what: str) -> Iterator[bytes]:
        """The zip's bytes; the slot is given back however the download ends."""
        try:
            yield from archive
        except clean_copy.NotCleanable as exc:
            log.warning("%s: stopped: %s", what, exc)
        finally:
            self.slots.release()


def entry_name(image: db.Image, copy: clean_copy.CleanCopy, taken: set[str]) -> str:
    """``2024-03-05 0710 north roof.jpg``: capture time (upload time, UTC, when unknown), then the description.

    Names sort by time in any file manager; a second photo of the same minute
    and description gets `` (2)``. No part of a name can leave the zip's top
    level or hide its extension.
    """
    when = capture_time.stored(image.taken_at, image.taken_offset)
    moment = when.local.isoformat(sep=" ", timespec="minutes") if when else image.timestamp[:16].replace("T", " ")
    stamp = moment.replace(":", "")
    words = " ".join(UNSAFE_IN_NAMES.sub(" ", image.description).split())[:NAME_WORDS].strip(" .")
    base = f"{stamp} {words}".strip()
    extension = EXTENSIONS.get(copy.kind, ".jpg")
    name, number = base + extension, 1
    while name.lower() in taken:
        number += 1
        name = f"{base} ({number}){extension}"
    taken.add(name.lower())
    return name
