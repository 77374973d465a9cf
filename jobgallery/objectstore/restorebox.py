"""``restore-box s3://BUCKET/PREFIX DATA_DIR``: a whole box back from its off-site backup.

All or nothing: everything is fetched into a temp folder inside ``DATA_DIR``
(archives: inside the archive folder) and checked there, and only when every
byte matched is it moved into place (archives and masters first, the
database last). Any failure removes the temp folder, so
``DATA_DIR`` is left as empty as it was.

What is checked, since every byte from the bucket is hostile: the catalog's
shape (``catalog.check``); the database's size and SHA-256, its SQLite
header and integrity, and that its schema is exactly the one our migrations
make (no extra triggers or views, not a newer version); each master's name
(a plain name inside ``images/job_<id>/``), size and SHA-256, against the
catalog and against the master's own database row (size always, SHA-256
while compress has not touched it), so swapped masters are refused. Only
the masters the database's rows name are fetched.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from jobgallery import db, storage
from jobgallery.config import Config
from jobgallery.errors import StoreError, UsageError
from jobgallery.maintenance.backup import DB_NAME, hash_uncached, open_snapshot, relative_master, snapshot_images
from jobgallery.maintenance.reports import Report
from jobgallery.objectstore import catalog as catalogs
from jobgallery.objectstore.client import Location, make_client, store_errors
from jobgallery.progress import Progress

SQLITE_HEADER = b"SQLite format 3\x00"


def restore_box(
    config: Config,
    location: Location,
    data_dir: Path,
    day: str | None = None,
    progress: bool = False,
    archive_dir: Path | None = None,
):
    """Fetch the database, masters and archives of ``day`` (default: the newest) into the empty ``data_dir``.

    Archives go to ``archive_dir`` (default ``paths.archive``), which may hold
    files already: one of the same name must have the backed-up bytes, or
    nothing is restored (UsageError).
    """
    target = empty_folder(data_dir)
    archives = storage.ensure_dir((archive_dir or config.paths.archive).resolve(), private=True)
    client = make_client(config)
    report = Report("restore-box")
    staging = storage.temp_path(target)
    archive_staging = storage.temp_path(archives)
    with store_errors(location):
        day = day or newest_day(client, location)
        catalog = catalogs.fetch(client, location, day)
        wanted = archives_to_fetch(catalog, archives)
        try:
            staging.mkdir(mode=storage.PRIVATE_DIR)
            archive_staging.mkdir(mode=storage.PRIVATE_DIR)
            images = fetch_database(client, location, catalog, staging, day)
            total = fetch_masters(client, location, catalog, images, staging, progress)
            total += fetch_archives(client, location, catalog, wanted, archive_staging)
            for name in wanted:
                os.replace(archive_staging / name, archives / name)
            move_into_place(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(archive_staging, ignore_errors=True)
    report.did("master{s} restored", None, len(images))
    report.did("archive{s} restored", None, len(wanted))
    report.add_size("restored", total)
    report.note(f"restored the database of {day} ({len(images)} photo rows) into {target}")
    report.note(f"next: point paths.data at {target} and run jobgallery build")
    return report


def empty_folder(data_dir: Path) -> Path:
    """``data_dir`` made absolute and created; UsageError unless it is (or was) empty."""
    target = data_dir.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} must be an empty folder: restore-box never overwrites a data folder")
    return storage.ensure_dir(target, private=True)


def newest_day(client, location: Location) -> str:
    days = catalogs.stored_days(client, location)
    if not days:
        raise StoreError(f"{location} holds no backup (no catalogs/ written by backup)")
    return days[-1]


def fetch_database(client, location: Location, catalog: dict, staging: Path, day: str) -> list[db.Image]:
    """Download and check the day's database; return its live photos' rows."""
    path = staging / DB_NAME
    with storage.create_file(path, storage.PRIVATE_FILE) as stream:
        key = catalogs.database_key(catalog["database"]["sha256"])
        catalogs.download_to(client, location, key, catalog["database"], stream, path)
    check_ours(path)
    return snapshot_images(path)


def check_ours(path: Path) -> None:
    """StoreError unless ``path`` is a sound SQLite file whose schema our migrations made."""
    with open(path, "rb") as stream:
        if stream.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise StoreError("the backed-up database is not an SQLite file")
    try:
        conn = open_snapshot(path)
        try:
            conn.execute("PRAGMA trusted_schema = OFF")
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise StoreError("the backed-up database fails SQLite's integrity check")
            version, schema = db.schema_version(conn), schema_of(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the backed-up database cannot be read: {exc}") from None
    if not 1 <= version <= len(db.MIGRATIONS):
        raise StoreError(f"the backed-up database has schema version {version}, which this jobgallery does not make")
    if schema != reference_schema(version):
        raise StoreError("the backed-up database has tables, views or triggers that jobgallery does not make")


def schema_of(conn: sqlite3.Connection) -> list[tuple]:
    return [tuple(row) for row in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")]


def reference_schema(version: int) -> list[tuple]:
    """The schema our first ``version`` migrations make, in a database in memory."""
    conn = sqlite3.connect(":memory:")
    try:
        for script in db.MIGRATIONS[:version]:
            for statement in db.split_statements(script):
                conn.execute(statement)
        return schema_of(conn)
    finally:
        conn.close()


def fetch_masters(
    client, location: Location, catalog: dict, images: list[db.Image], staging: Path, progress: bool
) -> int:
    """Download each master the rows name, checked against the catalog; return the bytes fetched."""
    total = 0
    with Progress(len(images) if progress else 0, "restore-box") as bar:
        for image in images:
            name = master_name(image)
            entry = catalog["masters"].get(name)
            if entry is None:
                raise StoreError(f"the backup has no copy of {name}, which the database names")
            check_row(image, name, entry)
            path = storage.within(staging, staging / name)
            storage.ensure_dir(path.parent, private=True)
            with storage.create_file(path, storage.PRIVATE_FILE) as stream:
                catalogs.download_to(client, location, catalogs.master_key(entry["sha256"]), entry, stream, path)
            if entry.get("mtime_ns"):
                os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))
            total += entry["size"]
            bar.advance()
    return total


def check_row(image: db.Image, name: str, entry: dict) -> None:
    """StoreError unless the catalog's object is the master the row describes.

    The catalog alone cannot tell two swapped masters apart, the row can:
    ``byte_size`` is always the stored file's size (compress updates it), and
    ``sha256`` is the stored bytes' hash until compress looked at the photo
    (after that it keeps the uploaded bytes' hash, for duplicate detection).
    """
    if entry["size"] != image.byte_size or (image.compressed_at is None and entry["sha256"] != image.sha256):
        raise StoreError(f"the backup's copy of {name} is not the photo its database row describes")


def archives_to_fetch(catalog: dict, folder: Path) -> list[str]:
    """The catalog's archives not in ``folder`` yet; UsageError when one there has other bytes."""
    wanted = []
    for name, entry in sorted(catalog["archives"].items()):
        path = folder / name
        if not path.exists():
            wanted.append(name)
        elif not path.is_file() or path.stat().st_size != entry["size"] or hash_uncached(path) != entry["sha256"]:
            raise UsageError(f"{path} is not the archive the backup holds under that name; move it away first")
    return wanted


def fetch_archives(client, location: Location, catalog: dict, names: list[str], staging: Path) -> int:
    """Download each named archive into ``staging``, checked against the catalog; return the bytes fetched."""
    total = 0
    for name in names:
        entry = catalog["archives"][name]
        path = staging / name
        with storage.create_file(path, storage.PRIVATE_FILE) as stream:
            catalogs.download_to(client, location, catalogs.archive_key(entry["sha256"]), entry, stream, path)
        if entry.get("mtime_ns"):
            os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))
        total += entry["size"]
    return total


def move_into_place(staging: Path, target: Path) -> None:
    """Masters first, then the database: a box with a database always has its masters."""
    if (staging / "images").is_dir():
        os.replace(staging / "images", target / "images")
    os.replace(staging / DB_NAME, target / DB_NAME)
    storage.fsync_dir(target)


def master_name(image: db.Image) -> str:
    """The master's path in the data folder, from a row of a database we do not trust yet."""
    try:
        name = relative_master(image) if isinstance(image.job_id, int) and isinstance(image.filename, str) else ""
    except ValueError:
        name = ""
    if not catalogs.MASTER_NAME.fullmatch(name):
        raise StoreError(f"the backed-up database names a master it may not: {str(image.filename)[:100]!r}")
    return name
