"""The off-site backup's catalog and the careful reading of objects back from the bucket.

A catalog (``catalogs/<YYYY-MM-DD>.json``) says which master is which
object and what the day's database must hash to::

    {"format": 1, "day": "2026-11-29",
     "database": {"sha256": "<64 hex>", "size": 1234},   (the object databases/<sha256>.db)
     "masters": {"images/job_3/a1b2.jpg": {"sha256": "<64 hex>", "size": 5678, "mtime_ns": 1700000000000000000}},
     "archives": {"job_7.tar": {"sha256": "<64 hex>", "size": 91011, "mtime_ns": 1700000000000000000}}}

(``archives``: the tar files of ``paths.archive``, each the object ``archives/<sha256>``.)

Everything read from the bucket is hostile: a catalog is size-capped and
checked field by field (a master's name must be ``images/job_<id>/<plain
name>``, so no key can climb out of the data folder), and an object is
streamed with a byte cap and hashed on the way in.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from jobgallery.errors import StoreError
from jobgallery.objectstore.client import Location

FORMAT = 1
MASTERS = "masters/"
DATABASES = "databases/"
CATALOGS = "catalogs/"
ARCHIVES = "archives/"
MAX_CATALOG_BYTES = 64 << 20
MAX_MASTER_BYTES = 4 << 30
MAX_DATABASE_BYTES = 16 << 30
MAX_ARCHIVE_BYTES = 1 << 40
CHUNK = 1 << 20
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MASTER_NAME = re.compile(r"images/job_[1-9][0-9]{0,17}/[^/\\\x00-\x1f]{1,255}")
SHA256 = re.compile(r"[0-9a-f]{64}")
ARCHIVE_NAME = re.compile(r"job_[1-9][0-9]{0,17}(-[1-9][0-9]{0,5})?\.tar")  # archive.py's names


def master_key(sha: str) -> str:
    return f"{MASTERS}{sha}"


def archive_key(sha: str) -> str:
    return f"{ARCHIVES}{sha}"


def database_key(sha: str) -> str:
    """A database snapshot is named by its SHA-256: a later run never replaces one a catalog names."""
    return f"{DATABASES}{sha}.db"


def catalog_key(day: str) -> str:
    return f"{CATALOGS}{day}.json"


def make(day: str, database: dict, masters: dict[str, dict], archives: dict[str, dict]) -> dict:
    return {
        "format": FORMAT,
        "day": day,
        "made": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": database,
        "masters": masters,
        "archives": archives,
    }


def encode(catalog: dict) -> bytes:
    return json.dumps(catalog, sort_keys=True, indent=1).encode("utf-8")


def master_keys(catalog: dict) -> list[str]:
    return [master_key(entry["sha256"]) for entry in catalog["masters"].values()]


def named_keys(catalog: dict) -> set[str]:
    """Every object a catalog needs: its masters, its database and its archives."""
    archives = {archive_key(entry["sha256"]) for entry in catalog["archives"].values()}
    return {*master_keys(catalog), database_key(catalog["database"]["sha256"]), *archives}


def stored_days(client, location: Location) -> list[str]:
    """The days that have a catalog, oldest first; keys of any other shape are ignored."""
    days = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.folder + CATALOGS
    ):
        for item in page.get("Contents", ()):
            name = str(item["Key"])[len(location.folder + CATALOGS) :]
            if name.endswith(".json") and DAY.fullmatch(name[:-5]):
                days.append(name[:-5])
    return sorted(days)


# ---------------------------------------------------------------- reading a catalog


def fetch(client, location: Location, day: str) -> dict:
    """The catalog of ``day``, checked; StoreError when it is missing, too large or malformed."""
    if not DAY.fullmatch(day):
        raise StoreError(f"{day!r} is not a day like 2026-11-29")
    sink = bytearray()
    read_object(client, location, catalog_key(day), MAX_CATALOG_BYTES, sink.extend)
    try:
        body = json.loads(bytes(sink).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StoreError(f"{location}/{catalog_key(day)} is not a catalog written by backup") from None
    return check(body, f"{location}/{catalog_key(day)}")


def check(body: object, where: str) -> dict:
    """The catalog itself when every field has its shape; StoreError naming the first that does not."""
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise StoreError(f"{where} is not a catalog written by backup")
    if not is_entry(body.get("database"), MAX_DATABASE_BYTES):
        raise StoreError(f"{where} has no usable database entry")
    masters = body.get("masters")
    if not isinstance(masters, dict):
        raise StoreError(f"{where} has no list of masters")
    for name, entry in masters.items():
        if not MASTER_NAME.fullmatch(name) or name.endswith(("/.", "/..")) or not is_entry(entry, MAX_MASTER_BYTES):
            raise StoreError(f"{where} names a master it may not: {str(name)[:100]!r}")
    archives = body.setdefault("archives", {})
    if not isinstance(archives, dict):
        raise StoreError(f"{where} has no list of archives")
    for name, entry in archives.items():
        if not ARCHIVE_NAME.fullmatch(name) or not is_entry(entry, MAX_ARCHIVE_BYTES):
            raise StoreError(f"{where} names an archive it may not: {str(name)[:100]!r}")
    return body


def is_entry(entry: object, limit: int) -> bool:
    if not isinstance(entry, dict) or not SHA256.fullmatch(str(entry.get("sha256", ""))):
        return False
    size = entry.get("size")
    mtime = entry.get("mtime_ns", 0)
    numbers = isinstance(size, int) and isinstance(mtime, int) and not isinstance(size, bool)
    return numbers and 0 <= size <= limit and 0 <= mtime < 1 << 63


# ---------------------------------------------------------------- reading objects


def read_object(client, location: Location, relative: str, limit: int, write) -> int:
    """Stream an object into ``write`` (a callable taking bytes); StoreError once it passes ``limit`` bytes."""
    answer = client.get_object(Bucket=location.bucket, Key=location.key(relative))
    if int(answer.get("ContentLength", 0)) > limit:
        raise StoreError(f"{location}/{relative} is larger than it may be ({limit:,} bytes)")
    body = answer["Body"]
    total = 0
    try:
        while chunk := body.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise StoreError(f"{location}/{relative} is larger than it may be ({limit:,} bytes)")
            write(chunk)
    finally:
        body.close()
    return total


def download_hash(client, location: Location, relative: str, size: int) -> str:
    """The SHA-256 of an object, read to at most ``size`` bytes; a size mismatch gives a hash that cannot match."""
    digest = hashlib.sha256()
    got = read_object(client, location, relative, size, digest.update)
    return digest.hexdigest() if got == size else f"{got} bytes instead of {size}"


def download_to(client, location: Location, relative: str, entry: dict, stream: BinaryIO, target: Path) -> None:
    """Write an object into ``stream`` and check its size and SHA-256 against ``entry``; StoreError if they differ."""
    digest = hashlib.sha256()

    def write(chunk: bytes) -> None:
        digest.update(chunk)
        stream.write(chunk)

    got = read_object(client, location, relative, entry["size"], write)
    if got != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise StoreError(f"{location}/{relative} does not match its catalog entry (for {target.name})")
