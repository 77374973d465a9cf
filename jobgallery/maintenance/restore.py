"""Restore: bring an archived job back under its original id, with its rows and masters.

The whole archive is verified before anything is written (every member's
name, type, size and checksum, every row like user input). Then each master
is copied out under a temp name and checked like an upload
(``images.inspect`` with the config's limits: structure, scans, pixels,
decode budget); one that fails refuses the whole archive, naming the member,
and the copies are removed. Only then are the masters renamed into place;
the rows and the "live" state follow in one transaction.

What a row says about its master is not taken from the manifest but
recomputed from the master: ``byte_size`` from the file, ``width`` and
``height`` from the check, ``sha256`` from its bytes. The ``sha256`` column
is the upload's hash, which duplicate detection compares new uploads with;
a master that compress re-encoded or ``images.master_max_px`` shrank no
longer hashes to it, and nothing in an archive can prove a hash of bytes it
does not hold. So the row takes the hash of the master it brings: a row that
claimed another hash (a rewritten master, or a forged claim meant to turn a
real photo away as a duplicate) is noted, and uploading that photo's
original again afterwards stores a second copy instead of being refused. A master already in place is kept,
and rows already present stay as they are, so restoring twice is harmless.
A job id that belongs to another job in this database is a clash, and the
restore is refused before it changes anything.

A box rebuilt from a backup older than the archive may have given a photo's
id, or (rarely) its file name, to something else. Such a photo still comes
back, under a fresh id or a new file name, with a line saying so; a photo
whose bytes (sha256) the job already has is the same photo and is skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import sqlite3
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from jobgallery import db, images, storage
from jobgallery.config import Config
from jobgallery.errors import ArchiveError, Conflict, JobGalleryError, NotFound
from jobgallery.locks import maintenance_lock
from jobgallery.maintenance import archive_format
from jobgallery.maintenance.reports import Report


def restore(config: Config, conn: sqlite3.Connection, archive_file: Path) -> tuple[Report, db.Job]:
    """Verify ``archive_file`` and put its job back; return the report and the restored job."""
    report = Report("restore")
    with maintenance_lock(config.paths.data):
        contents = archive_format.verify_archive(archive_file, config.server.max_upload_mb * images.MIB)
        check_no_clash(conn, contents)
        with checked_masters(config, archive_file, contents) as checked:
            contents = recomputed_rows(contents, checked, report)
            planned = plan_photos(conn, contents, report)
            written = publish_masters(config, checked, planned)
            moved = db.restore_job(conn, contents.job, [image for image, _ in planned])
    for image, _ in planned:
        if image.id in moved:
            line = f"photo {image.id} ({image.filename}) comes back as photo {moved[image.id]}: its id is another's now"
            report.did("photo{s} given a new id", line)
    job = db.get_job(conn, contents.job.id)
    present = len(planned) - written
    report.did("job{s} restored", f"restored job {job.id} ({job.title}) from {archive_file}")
    report.did("master{s} written", amount=written)
    report.did("master{s} already present", amount=present)
    return report, job


class Planned(NamedTuple):
    """A photo as it comes back (its file name may be new) and its member in the archive."""

    image: db.Image
    member: str


def check_no_clash(conn: sqlite3.Connection, contents: archive_format.Contents) -> None:
    """The same job (by id, token and creation time) may come back; a different one may not be overwritten."""
    job = contents.job
    try:
        current = db.get_job(conn, job.id)
    except NotFound:
        return
    if (current.token, current.created_at) != (job.token, job.created_at):
        raise Conflict(f"job {job.id} in this database is another job ({current.title!r}); restore refused")


def plan_photos(conn: sqlite3.Connection, contents: archive_format.Contents, report: Report) -> list[Planned]:
    """Each archived photo as it will come back; a photo the job already holds (same sha256) is left out."""
    rows = {image.filename: image for image in db.list_images(conn, contents.job.id)}
    taken = set(rows)
    planned = []
    for image in contents.images:
        member = archive_format.member_name(image.filename)
        if image.filename in rows and rows[image.filename].id == image.id:
            planned.append(Planned(image, member))
            continue
        same = db.find_by_hash(conn, image.job_id, image.sha256)
        if same is not None:
            line = f"skipped photo {image.id} ({image.filename}): the job has it as photo {same.id}"
            report.did("photo{s} already there", line)
            continue
        if image.filename not in taken:
            planned.append(Planned(image, member))
            continue
        name = free_name(image.filename, taken)
        taken.add(name)
        report.note(f"photo {image.id} ({image.filename}) comes back as {name}: another photo of the job has its name")
        planned.append(Planned(dataclasses.replace(image, filename=name), member))
    return planned


def free_name(filename: str, taken: set[str]) -> str:
    stem, dot, suffix = filename.rpartition(".")
    stem, dot = (stem, dot) if dot else (filename, "")
    number = 2
    while (name := f"{stem}-{number}{dot}{suffix if dot else ''}") in taken:
        number += 1
    return name


class Checked(NamedTuple):
    """A master copied out of the archive under a temp name, and what its check as an upload read."""

    temp: Path
    size: int
    info: images.PhotoInfo


@contextlib.contextmanager
def checked_masters(
    config: Config, archive_file: Path, contents: archive_format.Contents
) -> Iterator[dict[str, Checked]]:
    """Every master copied beside the job folders and checked like an upload; member name -> Checked.

    The copies wait in the job's folder under temp names, where a crash's
    leftovers are found like an upload's. ArchiveError names the first member
    that is no allowed, whole image within the limits. The copies not renamed
    into place are removed when the block ends, whatever happened, and so is
    the folder when this made it and nothing came in.
    """
    folder = storage.job_folder(config.paths.data, contents.job.id)
    made = not folder.exists()
    storage.ensure_dir(folder, private=True)
    limits = images.Limits.from_config(config)
    temps: list[Path] = []
    checked: dict[str, Checked] = {}
    try:
        with tarfile.open(archive_file, mode="r:") as tar:
            for image in contents.images:
                name = archive_format.member_name(image.filename)
                temps.append(storage.temp_path(folder, Path(image.filename).suffix))
                size = copy_out(tar.extractfile(name), temps[-1], contents.sums[name])
                checked[name] = Checked(temps[-1], size, inspect_master(temps[-1], name, image.filename, limits))
        yield checked
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()


def copy_out(source: BinaryIO, temp: Path, expected: str) -> int:
    """Write ``source`` to the new file ``temp`` durably; its bytes must hash to the archive's checksum."""
    digest = hashlib.sha256()
    size = 0
    with storage.create_file(temp) as handle:
        while chunk := source.read(archive_format.CHUNK):
            digest.update(chunk)
            handle.write(chunk)
            size += len(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    if digest.hexdigest() != expected:
        raise ArchiveError(f"{temp.name} changed while it was restored: the archive is damaged")
    return size


def inspect_master(temp: Path, member: str, filename: str, limits: images.Limits) -> images.PhotoInfo:
    """The upload's check of one master; its name must also carry the extension of what it holds."""
    try:
        info = images.inspect(temp, limits)
    except JobGalleryError as exc:
        raise ArchiveError(f"{member} in the archive is refused: {exc}") from None
    if not filename.endswith("." + info.extension):
        raise ArchiveError(f"{member} in the archive is refused: it holds a {images.LABELS[info.format]} image")
    return info


def recomputed_rows(
    contents: archive_format.Contents, checked: dict[str, Checked], report: Report
) -> archive_format.Contents:
    """The rows with size, pixel size and hash of the masters they bring (see the module's note on hashes)."""
    rows = []
    for image in contents.images:
        name = archive_format.member_name(image.filename)
        master = checked[name]
        digest = contents.sums[name]
        if digest != image.sha256:
            line = f"photo {image.id} ({image.filename}) is kept under its master's hash: its row's cannot be checked"
            report.did("photo{s} given its master's hash", line)
        info = master.info
        rows.append(
            dataclasses.replace(image, sha256=digest, byte_size=master.size, width=info.width, height=info.height)
        )
    if len({image.sha256 for image in rows}) != len(rows):
        raise ArchiveError("the archive holds the same master twice under two names: a job never stores that")
    return dataclasses.replace(contents, images=rows)


def publish_masters(config: Config, checked: dict[str, Checked], planned: list[Planned]) -> int:
    """Rename each checked master into place unless one is there already; return how many were."""
    written = 0
    for image, name in planned:
        path = storage.master_path(config.paths.data, image.job_id, image.filename)
        target = storage.within(storage.masters_root(config.paths.data), path)
        if target.exists():
            continue
        storage.publish_file(checked[name].temp, target)
        written += 1
    return written
