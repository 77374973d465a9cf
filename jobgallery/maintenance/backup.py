"""Backup: a consistent, incremental copy of the database and the masters.

``DEST_DIR`` ends up shaped like a data folder, so restoring a whole box is
copying it back::

    DEST_DIR/jobgallery.db               SQLite's online backup of the live database
    DEST_DIR/images/job_<id>/<filename>  the masters its rows name (mtimes kept)
    DEST_DIR/SHA256SUMS                  checksums of those masters as they were copied

Everything is private whatever the umask (files 0600, folders 0700): the
database holds password hashes and the masters GPS.

The database is copied first through SQLite's backup API (a consistent
snapshot even while the daemon takes uploads, since a master is always
durable before its row commits), into a temp file. The masters named by the
snapshot's rows are then brought up to date: a file whose size and mtime
match the copy already there is not read again. Only then does the new
snapshot replace the old one, and files the snapshot no longer names are
removed, so an interrupted backup leaves the previous one whole. Derivatives
are left out: ``jobgallery build`` makes them again from the masters.

The maintenance lock is held throughout, so cleanup, compress and archive
cannot remove or replace a master the snapshot names while it is copied.

``--verify`` re-reads every copied master from the drive. A copy that
fails its size or checksum check is copied again from the live master at once
and read back once more: the run reports it as "repaired" and still exits 1,
so the admin learns that the drive damaged a file. (Left alone, later runs
would skip it for ever: its size and mtime still match.)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from pathlib import Path

from jobgallery import db, runs, storage
from jobgallery.config import Config
from jobgallery.errors import UsageError
from jobgallery.locks import maintenance_lock
from jobgallery.maintenance.archive_format import hash_stream
from jobgallery.maintenance.reports import Report, human_size, reason
from jobgallery.progress import Progress

DB_NAME = "jobgallery.db"
SUMS_NAME = "SHA256SUMS"
MTIME_SLACK = 2.0  # FAT and exFAT USB drives store mtimes coarsely
CHUNK = 1 << 20


def backup(
    config: Config, conn: sqlite3.Connection, dest: Path, verify: bool = False, progress: bool = False
) -> Report:
    """Copy the database and masters to ``dest`` (created if missing); optionally re-hash the copy.

    The outcome is recorded for the health page and ``jobgallery status`` (``jobgallery/runs.py``).
    """
    with runs.recorded(config.db_path, "backup") as run:
        run.done(report := backup_to(config, conn, dest, verify, progress))
    return report


def backup_to(config: Config, conn: sqlite3.Connection, dest: Path, verify: bool, progress: bool) -> Report:
    report = Report("backup")
    dest = outside_the_box(config, dest.resolve())
    with maintenance_lock(config.paths.data):
        storage.ensure_dir(dest, private=True)
        storage.ensure_dir(dest / "images", private=True)
        snapshot = storage.temp_path(dest, ".db")
        try:
            copy_database(conn, snapshot)
            images = snapshot_images(snapshot)
            sums = copy_masters(config, dest, images, report, progress)
            storage.atomic_write(dest / SUMS_NAME, sums_text(sums), storage.PRIVATE_FILE)
            storage.publish_file(snapshot, dest / DB_NAME)
        finally:
            with contextlib.suppress(FileNotFoundError):
                snapshot.unlink()
        report.did("database{s} copied", f"copied the database ({len(images)} photo rows) to {dest / DB_NAME}")
        prune(dest, set(sums), report)
        if verify:
            verify_backup(config, dest, report)
    return report


def outside_the_box(config: Config, dest: Path) -> Path:
    """A backup inside ``data/`` would replace the live database and prune live masters."""
    for folder in (config.paths.data, config.paths.output):
        if dest == folder or folder in dest.parents:
            raise UsageError(f"the backup folder must be outside {folder}")
    return dest


# ---------------------------------------------------------------- database


def copy_database(conn: sqlite3.Connection, target: Path) -> None:
    """SQLite's online backup in one step: a consistent snapshot, standalone (no WAL), fsynced, 0600."""
    storage.create_private_file(target)
    copy = sqlite3.connect(target)
    try:
        conn.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")
    finally:
        copy.close()
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_snapshot(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def snapshot_images(path: Path) -> list[db.Image]:
    conn = open_snapshot(path)
    try:
        return db.live_images(conn)
    finally:
        conn.close()


# ---------------------------------------------------------------- masters


def relative_master(image: db.Image) -> str:
    """A master's path relative to a data folder (and to ``dest``)."""
    return f"images/job_{image.job_id}/{storage.safe_name(image.filename)}"


def copy_masters(config: Config, dest: Path, images: list[db.Image], report: Report, progress: bool) -> dict[str, str]:
    """Bring each master named by the snapshot up to date in ``dest``; return name -> sha256."""
    known = read_sums(dest / SUMS_NAME)
    sums: dict[str, str] = {}
    touched: set[Path] = set()
    with Progress(len(images) if progress else 0, "backup") as bar:
        for image in images:
            name = relative_master(image)
            try:
                sums[name], copied = update_master(config.paths.data / name, dest / name, known.get(name), report)
            except OSError as exc:
                report.failed(str(config.paths.data / name), reason(exc, str(config.paths.data / name)))
                continue
            finally:
                bar.advance()
            if copied:
                touched.add((dest / name).parent)
    for folder in sorted(touched):
        storage.fsync_dir(folder)  # once per folder, before the new snapshot is published
    return sums


def update_master(source: Path, target: Path, known: str | None, report: Report) -> tuple[str, bool]:
    """Copy ``source`` unless ``target`` already has its size and mtime; return its checksum and if copied."""
    info = source.stat()
    if same_file(info, target) and known:
        report.did("master{s} unchanged")
        return known, False
    digest = copy_file(source, target, info)
    report.did("master{s} copied", f"copied {source} ({human_size(info.st_size)})")
    report.add_size("copied", info.st_size)
    return digest, True


def same_file(info: os.stat_result, target: Path) -> bool:
    try:
        there = target.stat()
    except FileNotFoundError:
        return False
    return there.st_size == info.st_size and abs(there.st_mtime - info.st_mtime) <= MTIME_SLACK


def copy_file(source: Path, target: Path, info: os.stat_result) -> str:
    """Atomic copy, fsynced, 0600, that keeps the mtime (the next run compares it); the caller fsyncs the folder."""
    folder = storage.ensure_dir(target.parent, private=True)
    tmp = storage.temp_path(folder, target.suffix)
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src, storage.create_file(tmp, storage.PRIVATE_FILE) as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        os.utime(tmp, ns=(info.st_atime_ns, info.st_mtime_ns))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return digest.hexdigest()


def sums_text(sums: dict[str, str]) -> bytes:
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())).encode("utf-8")


def read_sums(path: Path) -> dict[str, str]:
    """The checksums of the previous backup; a damaged or missing list just means re-reading files."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    return {name: digest for digest, _, name in (line.partition("  ") for line in lines) if len(digest) == 64}


def prune(dest: Path, keep: set[str], report: Report) -> None:
    """Remove masters the new snapshot no longer names (deleted, cleaned up or archived photos)."""
    for leftover in dest.glob(f"{storage.TEMP_PREFIX}*"):
        storage.remove_file(leftover)
    root = dest / "images"
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.relative_to(dest).as_posix() not in keep:
                storage.remove_file(path)
                report.did("old master{s} removed", f"removed {path} (no longer in the database)")
        with contextlib.suppress(OSError):
            folder.rmdir()


# ---------------------------------------------------------------- verify


def verify_backup(config: Config, dest: Path, report: Report) -> None:
    """Re-read the copy from the drive: the database's integrity, and every master against the rows and sums."""
    conn = open_snapshot(dest / DB_NAME)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        images = db.live_images(conn)
    finally:
        conn.close()
    if check != "ok":
        report.failed(str(dest / DB_NAME), f"integrity check says {check}")
    sums = read_sums(dest / SUMS_NAME)
    repaired = False
    for image in images:
        name = relative_master(image)
        problem = check_copy(dest / name, image, sums.get(name))
        if problem is None:
            report.did("master{s} verified")
            continue
        repaired |= repair(config.paths.data / name, dest / name, image, sums, problem, report)
    if repaired:
        storage.atomic_write(dest / SUMS_NAME, sums_text(sums), storage.PRIVATE_FILE)


def repair(source: Path, target: Path, image: db.Image, sums: dict[str, str], problem: str, report: Report) -> bool:
    """Copy a bad copy again from the live master and read it back; the failure is reported either way."""
    name = relative_master(image)
    try:
        digest = copy_file(source, target, source.stat())
        storage.fsync_dir(target.parent)
    except OSError as exc:
        report.failed(str(target), f"{problem}; not repaired: {reason(exc)}")
        return False
    still = check_copy(target, image, digest)
    if still:
        report.failed(str(target), f"{problem}; copied again but {still}")
        return False
    sums[name] = digest
    report.failed(str(target), f"{problem}; repaired from {source}")
    report.did("master{s} repaired", f"repaired {target} from {source}")
    return True


def check_copy(path: Path, image: db.Image, expected: str | None) -> str | None:
    try:
        size = path.stat().st_size
        digest = hash_uncached(path)
    except OSError as exc:
        return reason(exc)
    if size != image.byte_size:
        return f"size {size} differs from the row's {image.byte_size}"
    if digest != expected:
        return "checksum differs from the one recorded when it was copied"
    return None


def hash_uncached(path: Path) -> str:
    """Drop the file from the page cache first, so the drive itself is read."""
    with open(path, "rb") as stream:
        os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return hash_stream(stream)
