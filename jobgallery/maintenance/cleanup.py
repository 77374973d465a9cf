"""Orphan cleanup: master files without rows, rows without masters, temp leftovers of crashes.

The seed's cleanup deleted a file whose row was not yet committed. Here
nothing younger than ``maintenance.orphan_grace_minutes`` is touched (file
mtime, row timestamp), and each file's row is looked up once more inside a
write transaction just before the file goes: ingest publishes a master and
commits its row inside one such transaction, so the two cannot interleave.

Cleanup first makes a plan (``find_orphans``), then carries it out
(``remove_orphans``); a dry run only prints the plan. Derivatives left in
``output/`` are the generator's to prune: the CLI and the daemon run a build
after a cleanup that removed anything.

A missing or empty ``data/images`` (a drive not mounted) would make every
row look orphaned, and, once the drive is back, every master too. So cleanup
first checks that the masters are there: it stops, removing nothing and
reporting one failure that asks to check the mount, when ``images/`` is
missing, when a live job with rows has no folder or (with two rows or more)
none of its masters, or when more than a tenth of all masters, and more than
five, are missing at once. A single lost master is still cleaned up as usual.

Cleanup also empties the trash of photos deleted more than
``maintenance.trash_days`` ago (``jobgallery/trash.py``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jobgallery import db, runs, storage
from jobgallery.config import Config
from jobgallery.locks import maintenance_lock
from jobgallery.maintenance.reports import Report, reason
from jobgallery.trash import empty_trash

JOB_FOLDER_PREFIX = "job_"
FINISH_ARCHIVE = "run 'jobgallery archive --job {}' to finish archiving it"
MISSING_SHARE = 0.10
MISSING_COUNT = 5
CHECK_MOUNT = "check that the data folder is mounted (or restore it from a backup), then run cleanup again"


@dataclass(frozen=True)
class Orphan:
    """One thing cleanup means to remove: a "file", a "temp" file or a "row" without its master."""

    kind: str
    path: Path
    job_id: int | None = None
    filename: str | None = None
    mtime: float | None = None

    @property
    def label(self) -> str:
        return {"file": "orphan file", "temp": "temp file", "row": "row without file"}[self.kind]

    def describe(self) -> str:
        return f"{self.label} {self.path}"


# ---------------------------------------------------------------- entry point


def cleanup(config: Config, conn: sqlite3.Connection, dry_run: bool = False, now: float | None = None) -> Report:
    """Find orphans older than the grace period and remove them (or only list them); a real run is recorded."""
    if dry_run:
        return clean(config, conn, True, now)
    with runs.recorded(config.db_path, "cleanup") as run:
        run.done(report := clean(config, conn, False, now))
    return report


def clean(config: Config, conn: sqlite3.Connection, dry_run: bool, now: float | None) -> Report:
    report = Report("cleanup", dry_run=dry_run)
    with maintenance_lock(config.paths.data):
        problem = masters_missing(config, conn)
        if problem:
            report.failed("cleanup", f"stopped, nothing removed: {problem}; {CHECK_MOUNT}")
            return report
        orphans = find_orphans(config, conn, report, now)
        if dry_run:
            for orphan in orphans:
                report.did(f"{plural(orphan.label)} to remove", f"would remove {orphan.describe()}")
        else:
            remove_orphans(config, conn, orphans, report)
        empty_trash(config, conn, report, dry_run)
    return report


def plural(label: str) -> str:
    """A count's kind: "orphan file" -> "orphan file{s}", "row without file" -> "row{s} without file"."""
    first, _, rest = label.partition(" without")
    return f"{first}{{s}} without{rest}" if rest else f"{label}{{s}}"


# ---------------------------------------------------------------- safety stop


def masters_missing(config: Config, conn: sqlite3.Connection) -> str | None:
    """Why the masters look unmounted rather than lost one by one; None when cleanup may go on."""
    images = db.live_images(conn)
    root = storage.masters_root(config.paths.data)
    if images and not root.is_dir():
        return f"{root} is missing"
    by_job: dict[int, list[bool]] = {}
    for image in images:
        by_job.setdefault(image.job_id, []).append(
            storage.master_path(config.paths.data, image.job_id, image.filename).exists()
        )
    for job_id, present in by_job.items():
        if not storage.job_folder(config.paths.data, job_id).is_dir():
            return f"the folder of job {job_id} ({len(present)} photos) is missing"
        if len(present) > 1 and not any(present):
            return f"all {len(present)} masters of job {job_id} are missing"
    missing = sum(not found for present in by_job.values() for found in present)
    if missing > MISSING_COUNT and missing > MISSING_SHARE * len(images):
        return f"{missing} of {len(images)} masters are missing"
    return None


# ---------------------------------------------------------------- finding


def find_orphans(config: Config, conn: sqlite3.Connection, report: Report, now: float | None = None) -> list[Orphan]:
    """Everything older than the grace period that has lost its other half, or was left by a crash."""
    cutoff = (time.time() if now is None else now) - config.maintenance.orphan_grace_minutes * 60
    rows = db.image_files(conn)
    archived = {job.id for job in db.list_jobs(conn) if job.archived}
    orphans = old_temp_files(config.paths.data, cutoff) + old_temp_files(config.paths.archive, cutoff)
    root = storage.masters_root(config.paths.data)
    orphans += old_temp_files(root, cutoff)
    for job_id, folder in job_folders(root):
        orphans += old_temp_files(folder, cutoff)
        orphans += unlisted_masters(job_id, folder, rows, cutoff)
        if job_id in archived and any((job_id, entry.name) in rows for entry in plain_files(folder)):
            report.note(f"job {job_id} is archived but masters remain in {folder}: {FINISH_ARCHIVE.format(job_id)}")
    orphans += rows_without_files(config, conn, cutoff)
    return orphans


def job_folders(root: Path) -> list[tuple[int, Path]]:
    """``job_<id>`` folders under ``images/``; anything else there is not ours to judge."""
    if not root.is_dir():
        return []
    found = []
    for entry in entries(root):
        suffix = entry.name.removeprefix(JOB_FOLDER_PREFIX)
        if entry.name.startswith(JOB_FOLDER_PREFIX) and suffix.isdigit() and entry.is_dir(follow_symlinks=False):
            found.append((int(suffix), Path(entry.path)))
    return sorted(found)


def entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as found:
        return sorted(found, key=lambda entry: entry.name)


def plain_files(folder: Path) -> list[os.DirEntry]:
    return [entry for entry in entries(folder) if entry.is_file(follow_symlinks=False)]


def old_temp_files(folder: Path, cutoff: float) -> list[Orphan]:
    """Temp files older than the cutoff whose writer (named in the temp name) is no longer running."""
    if not folder.is_dir():
        return []
    return [
        Orphan("temp", Path(entry.path), mtime=mtime)
        for entry in plain_files(folder)
        if storage.is_temp(entry.name)
        and (mtime := entry.stat(follow_symlinks=False).st_mtime) < cutoff
        and storage.temp_is_dead(Path(entry.path))
    ]


def unlisted_masters(job_id: int, folder: Path, rows: set[tuple[int, str]], cutoff: float) -> list[Orphan]:
    """Files in a job folder that no row names, last changed before the cutoff."""
    return [
        Orphan("file", Path(entry.path), job_id, entry.name, mtime)
        for entry in plain_files(folder)
        if not storage.is_temp(entry.name)
        and (job_id, entry.name) not in rows
        and (mtime := entry.stat(follow_symlinks=False).st_mtime) < cutoff
    ]


def rows_without_files(config: Config, conn: sqlite3.Connection, cutoff: float) -> list[Orphan]:
    """Rows of live jobs whose master is missing; archived jobs' masters live in their archive file."""
    return [
        Orphan("row", path, image.job_id, image.filename)
        for image in db.live_images(conn)
        if row_time(image.timestamp) < cutoff
        and not (path := storage.master_path(config.paths.data, image.job_id, image.filename)).exists()
    ]


def row_time(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


# ---------------------------------------------------------------- removing


def remove_orphans(config: Config, conn: sqlite3.Connection, orphans: list[Orphan], report: Report) -> None:
    """Remove each planned orphan after checking once more that it still is one."""
    for orphan in orphans:
        try:
            removed = REMOVERS[orphan.kind](conn, orphan)
        except OSError as exc:
            report.failed(str(orphan.path), reason(exc, str(orphan.path)))
            continue
        if removed:
            report.did(f"{plural(orphan.label)} removed", f"removed {orphan.describe()}")
        else:
            report.note(f"kept {orphan.describe()}: it changed during cleanup")
    remove_empty_folders(config, conn, report)


def unchanged(orphan: Orphan) -> bool:
    """The file is still there with the mtime the plan saw (a rewrite would make it young again)."""
    try:
        return orphan.path.stat(follow_symlinks=False).st_mtime == orphan.mtime
    except FileNotFoundError:
        return False


def remove_temp(conn: sqlite3.Connection, orphan: Orphan) -> bool:
    return unchanged(orphan) and storage.remove_file(orphan.path)


def remove_unlisted_file(conn: sqlite3.Connection, orphan: Orphan) -> bool:
    """Inside a write transaction no upload can publish a master and commit its row."""
    with db.write(conn):
        if db.image_exists(conn, orphan.job_id, orphan.filename) or not unchanged(orphan):
            return False
        return storage.remove_file(orphan.path)


def remove_row(conn: sqlite3.Connection, orphan: Orphan) -> bool:
    """A restore may have brought the master back since the plan was made."""
    if orphan.path.exists():
        return False
    db.delete_image_row(conn, orphan.job_id, orphan.filename)
    return True


REMOVERS = {"temp": remove_temp, "file": remove_unlisted_file, "row": remove_row}


def remove_empty_folders(config: Config, conn: sqlite3.Connection, report: Report) -> None:
    """Empty folders of jobs that are gone or archived; a live job's folder stays for its next upload."""
    live = {job.id for job in db.list_jobs(conn, live_only=True)}
    for job_id, folder in job_folders(storage.masters_root(config.paths.data)):
        if job_id in live or entries(folder):
            continue
        try:
            folder.rmdir()
            storage.fsync_dir(folder.parent)
        except OSError as exc:
            report.failed(str(folder), reason(exc, str(folder)))
            continue
        report.did("empty folder{s} removed", f"removed empty folder {folder}")
