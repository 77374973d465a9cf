"""Archival: move whole jobs to ``paths.archive`` (e.g. a USB drive) and off the live box.

Per job, in this order, so that a failure at any step changes nothing live:

1. write the tar under a temp name in ``paths.archive``, fsync it;
2. drop it from the page cache and read it back, checking every checksum
   (what is checked is what the drive holds, not what memory remembers);
3. rename it to ``job_<id>.tar`` (or a new name, see below) and fsync the folder;
4. mark the job archived, only if its photos are still exactly those in the
   file (an upload that landed meanwhile keeps the job live);
5. remove its masters, then everything else left in its folder (the master
   of a photo deleted earlier, a crash's temp file) and the folder itself.

A full disk, an unplugged drive or a read-only folder fails step 1 or 2: the
temp file is removed and the job stays live with its masters. A crash
between 4 and 5 leaves masters of an archived job behind; ``archive --job``
on that job checks them against the archive file and finishes the removal.
Taking the job off the site is the generator's: the CLI runs a build of each
archived job right after (its page becomes an "archived" stub).

An existing ``job_<id>.tar`` is replaced only when its manifest is this
job's (same token and creation time) and every photo in it (id and sha256)
is also in the new file: re-archiving a restored job. A file of another job
(a rebuilt box reusing the archive drive) or one holding photos this job no
longer has (a box restored from an older backup) is kept, and the new archive
goes under the first free name ``job_<id>-2.tar``, ``-3``... with a line
saying so; the run still succeeds, so ``archive --due`` stays safe unattended.
Temp files of archive writers that died (``.tmp-<pid>-...``) are removed
from ``paths.archive`` at the start of every run.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from jobgallery import db, runs, storage
from jobgallery.config import Config
from jobgallery.errors import ArchiveError, Conflict, JobGalleryError
from jobgallery.locks import maintenance_lock
from jobgallery.maintenance import archive_format
from jobgallery.maintenance.cutoff import older_than
from jobgallery.maintenance.reports import Report, human_size, reason
from jobgallery.progress import Progress

ITEM_ERRORS = (OSError, JobGalleryError)
Tick = Callable[..., None]


def archive_path(config: Config, job_id: int) -> Path:
    return config.paths.archive / f"job_{int(job_id)}.tar"


def idle_jobs(conn: sqlite3.Connection, days: int, now: datetime | None = None) -> list[db.Job]:
    """Live jobs with no new job or upload for ``days`` days."""
    return db.jobs_idle_since(conn, older_than(days, now))


def archive_jobs(config: Config, conn: sqlite3.Connection, job_ids: list[int], progress: bool = False) -> Report:
    """Archive each job in turn; one job's failure is recorded and the others go on. The run is recorded."""
    with runs.recorded(config.db_path, "archive") as run:
        run.done(report := archive_each(config, conn, job_ids, progress))
    return report


def archive_each(config: Config, conn: sqlite3.Connection, job_ids: list[int], progress: bool) -> Report:
    report = Report("archive")
    with maintenance_lock(config.paths.data):
        remove_dead_temps(config.paths.archive, report)
    counts = {job.id: job.image_count for job in db.list_jobs(conn)}
    total = sum(counts.get(job_id, 0) for job_id in job_ids) if progress else 0
    with Progress(total, "archive") as bar:
        for job_id in job_ids:
            try:
                with maintenance_lock(config.paths.data):
                    archive_one(config, conn, job_id, report, bar.advance)
            except ITEM_ERRORS as exc:
                report.failed(f"job {job_id}", reason(exc))
    return report


# ---------------------------------------------------------------- one job


def archive_one(config: Config, conn: sqlite3.Connection, job_id: int, report: Report, tick: Tick) -> None:
    job = db.get_job(conn, job_id)
    if job.archived:
        finish_removal(config, conn, job, report)
        return
    images = db.list_images(conn, job.id)
    masters = [storage.master_path(config.paths.data, job.id, image.filename) for image in images]
    for path in masters:
        if not path.is_file():
            raise ArchiveError(f"master {path} is missing; run 'jobgallery cleanup' or restore it from a backup")
    archived_at = db.now_iso()
    target = free_target(config, job, images, report)
    write_verified(target, job, images, masters, archived_at, tick)
    if not db.archive_if_unchanged(conn, job.id, {image.id for image in images}, archived_at):
        raise ArchiveError(f"its photos changed while {target} was written; it stays live, run archive again")
    size = target.stat().st_size
    report.did("job{s} archived", f"archived job {job.id} ({len(images)} photos, {human_size(size)}) to {target}")
    report.did("photo{s} archived", amount=len(images))
    report.add_size("archived", size)
    clear_folder(config, job.id, masters, report)


def remove_dead_temps(folder: Path, report: Report) -> None:
    """Temp files an interrupted archive left in ``folder``, once their writer is gone."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob(f"{storage.TEMP_PREFIX}*")):
        if path.is_file() and storage.temp_is_dead(path) and storage.remove_file(path):
            report.did("temp file{s} removed", f"removed temp file {path}")


def free_target(config: Config, job: db.Job, images: list[db.Image], report: Report) -> Path:
    """``job_<id>.tar``, unless a file there holds what the new archive would not: then a new name."""
    target = archive_path(config, job.id)
    if not target.exists():
        return target
    problem = keeps_something(target, job, images)
    if problem is None:
        return target
    number = 2
    while (other := target.with_name(f"{target.stem}-{number}.tar")).exists():
        number += 1
    report.note(f"kept {target}: {problem}; writing job {job.id}'s archive to {other} instead")
    return other


def keeps_something(target: Path, job: db.Job, images: list[db.Image]) -> str | None:
    """Why replacing ``target`` would lose something, or None when the new archive holds all it holds."""
    try:
        old_job, old_images, _ = archive_format.read_manifest(target)
    except ArchiveError as exc:
        return f"it cannot be read as an archive ({exc})"
    if (old_job.token, old_job.created_at) != (job.token, job.created_at):
        return f"it holds another job ({old_job.title!r}, created {old_job.created_at})"
    missing = {(i.id, i.sha256) for i in old_images} - {(i.id, i.sha256) for i in images}
    if missing:
        return f"it holds {len(missing)} photos this job no longer has"
    return None


def write_verified(
    target: Path, job: db.Job, images: list[db.Image], masters: list[Path], archived_at: str, tick: Tick
) -> None:
    """Write under a temp name, read back and verify, then rename into place; no partial file survives."""
    folder = storage.ensure_dir(target.parent, private=True)
    tmp = storage.temp_path(folder, ".tar")
    try:
        with storage.create_file(tmp, storage.PRIVATE_FILE) as handle:
            sums = archive_format.write_archive(handle, job, images, masters, archived_at, tick)
            handle.flush()
            os.fsync(handle.fileno())
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        contents = archive_format.verify_archive(tmp)
        if contents.sums != sums:
            raise ArchiveError(f"{tmp} does not read back as it was written")
        storage.publish_file(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def clear_folder(config: Config, job_id: int, masters: list[Path], report: Report) -> None:
    """Remove an archived job's masters, then the rest of its folder, then the folder; one fsync for all.

    Once the job is marked archived no upload can publish into it, so a file
    without a row there is a deleted photo's master or a crash's leftover.
    Only a temp file whose writer still runs stays: that upload fails on the
    archived job and removes it itself.
    """
    folder = storage.job_folder(config.paths.data, job_id)
    for path in masters:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    for path in leftovers(folder, masters):
        if writer_running(path):
            report.note(f"kept {path}: the upload writing it is still running")
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        kind = "temp file" if storage.is_temp(path.name) else "orphan file"
        report.did(f"{kind}{{s}} removed", f"removed {kind} {path}")
    if folder.is_dir():
        storage.fsync_dir(folder)
    with contextlib.suppress(OSError):
        folder.rmdir()
        storage.fsync_dir(folder.parent)


def leftovers(folder: Path, masters: list[Path]) -> list[Path]:
    """Files in the job's folder other than ``masters``; sub-folders are not ours and stay."""
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        found = [Path(entry.path) for entry in entries if not entry.is_dir(follow_symlinks=False)]
    return sorted(set(found) - set(masters))


def writer_running(path: Path) -> bool:
    """A temp file whose writer still runs (a pid reused after a crash does not count)."""
    return storage.is_temp(path.name) and not storage.temp_is_dead(path)


def finish_removal(config: Config, conn: sqlite3.Connection, job: db.Job, report: Report) -> None:
    """An archived job whose folder is still here (a crash after step 4): remove the archived masters, then the rest."""
    target = written_archive(config, job)
    paths = [storage.master_path(config.paths.data, job.id, image.filename) for image in db.list_images(conn, job.id)]
    left = [path for path in paths if path.exists()]
    others = leftovers(storage.job_folder(config.paths.data, job.id), paths)
    if not left and all(writer_running(path) for path in others):
        raise Conflict(f"job {job.id} is already archived in {target}")
    if left:
        check_kept(job, target, left)
        report.did("job{s} archived", f"finished archiving job {job.id}: removed {len(left)} masters kept in {target}")
    clear_folder(config, job.id, left, report)


def written_archive(config: Config, job: db.Job) -> Path:
    """The file this job was archived to: ``job_<id>.tar``, or the ``-N`` one whose manifest has its archive time."""
    target = archive_path(config, job.id)
    for path in sorted(config.paths.archive.glob(f"{target.stem}-*.tar")):
        with contextlib.suppress(ArchiveError):
            old_job, _, archived_at = archive_format.read_manifest(path)
            if (old_job.token, archived_at) == (job.token, job.archived_at):
                return path
    return target


def check_kept(job: db.Job, target: Path, masters: list[Path]) -> None:
    """Every master about to go must be in the archive file, byte for byte."""
    if not target.is_file():
        raise ArchiveError(f"job {job.id} is archived but {target} is missing; its masters stay")
    sums = archive_format.verify_archive(target).sums
    for path in masters:
        if sums.get(archive_format.member_name(path.name)) != archive_format.hash_file(path):
            raise ArchiveError(f"{path} differs from its copy in {target}; it stays")
