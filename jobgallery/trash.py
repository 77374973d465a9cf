"""The trash: a deleted photo leaves the site at once, its master stays for ``maintenance.trash_days``.

Deleting sets ``deleted_at`` (and ``deleted_by``) on the row: the listings
the generator, the zip and the report read leave it out, so the next build
takes it off every page. Undo clears the mark. ``empty_trash`` (run by
cleanup, daily in the daemon) removes rows and masters whose time is up:
the row first, in a transaction with its audit line, then the file (a crash
between the two leaves a file without a row, which cleanup removes later).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from jobgallery import audit, db, storage
from jobgallery.config import Config
from jobgallery.errors import Conflict
from jobgallery.maintenance.reports import Report, reason
from jobgallery.selection import chosen_ids


def trash_photos(conn: sqlite3.Connection, image_ids: list[int], who: str) -> set[int]:
    """Move photos of live jobs to the trash (all or none); the jobs whose pages change."""
    jobs: set[int] = set()
    with db.write(conn):
        for image_id in chosen_ids(image_ids):
            image = db.get_image(conn, image_id)
            if image.trashed:
                continue
            db.get_job(conn, image.job_id, live=True)
            conn.execute(
                "UPDATE job_image SET deleted_at = ?, deleted_by = ? WHERE id = ?", (db.now_iso(), who, image_id)
            )
            audit.note(conn, who, "trash", f"deleted {image.filename} (kept in the trash)", image.job_id, image_id)
            jobs.add(image.job_id)
    return jobs


def untrash_photos(conn: sqlite3.Connection, image_ids: list[int], who: str) -> set[int]:
    """Bring photos back from the trash; Conflict when one of them is not in it."""
    jobs: set[int] = set()
    with db.write(conn):
        for image_id in chosen_ids(image_ids):
            image = db.get_image(conn, image_id)
            if not image.trashed:
                raise Conflict(f"photo {image_id} is not in the trash")
            conn.execute("UPDATE job_image SET deleted_at = NULL, deleted_by = NULL WHERE id = ?", (image_id,))
            audit.note(conn, who, "untrash", f"brought {image.filename} back from the trash", image.job_id, image_id)
            jobs.add(image.job_id)
    return jobs


def back_on_upload(conn: sqlite3.Connection, image: db.Image, who: str | None) -> db.Image | None:
    """The same bytes were uploaded again while the photo is in the trash: it comes back (None if it was not)."""
    if not image.trashed:
        return None
    with db.write(conn):
        gone = conn.execute(
            "UPDATE job_image SET deleted_at = NULL, deleted_by = NULL WHERE id = ? AND deleted_at IS NOT NULL",
            (image.id,),
        ).rowcount
        if gone:
            detail = f"uploaded again: {image.filename} came back from the trash"
            audit.note(conn, who or audit.COMMAND_LINE, "untrash", detail, image.job_id, image.id)
    return db.get_image(conn, image.id) if gone else None


def in_trash(conn: sqlite3.Connection, job_id: int) -> list[tuple[db.Image, str]]:
    """A job's photos in the trash, most recently deleted first, with who deleted each."""
    rows = conn.execute(
        "SELECT * FROM job_image WHERE job_id = ? AND deleted_at IS NOT NULL ORDER BY deleted_at DESC, id DESC",
        (job_id,),
    )
    return [(db.record(db.Image, row), row["deleted_by"] or "") for row in rows]


def purge_date(image: db.Image, days: int) -> str:
    """The day (YYYY-MM-DD, UTC) cleanup removes a trashed photo for good."""
    deleted = datetime.fromisoformat(image.deleted_at or db.now_iso())
    return (deleted + timedelta(days=days)).date().isoformat()


def empty_trash(config: Config, conn: sqlite3.Connection, report: Report, dry_run: bool = False, now=None) -> None:
    """Remove photos deleted more than ``maintenance.trash_days`` ago: rows, then masters.

    ``now`` (an aware datetime) stands for the present in tests; the caller holds the maintenance lock.
    """
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=config.maintenance.trash_days)).isoformat(timespec="seconds")
    rows = conn.execute("SELECT * FROM job_image WHERE deleted_at IS NOT NULL AND deleted_at <= ?", (cutoff,))
    for image in [db.record(db.Image, row) for row in rows]:
        if dry_run:
            report.did("photo{s} to remove from the trash", f"would remove {image.filename} from the trash")
            continue
        try:
            purge(config, conn, image)
        except (OSError, ValueError) as exc:
            report.failed(f"trash {image.filename}", reason(exc))
            continue
        report.did("photo{s} removed from the trash", f"removed {image.filename} (job {image.job_id}) from the trash")


def purge(config: Config, conn: sqlite3.Connection, image: db.Image) -> None:
    path = storage.master_path(config.paths.data, image.job_id, image.filename)
    with db.write(conn):
        gone = conn.execute("DELETE FROM job_image WHERE id = ? AND deleted_at IS NOT NULL", (image.id,)).rowcount
        if gone:
            audit.note(conn, audit.SYSTEM, "purge", f"{image.filename} removed from the trash", image.job_id, image.id)
    if gone:
        storage.remove_file(path)
