"""The stamp of a whole build: one hash of everything a site is made from, so a no-op build stops at once.

A build with nothing to do still had to read every photo's row, name 30,000
derivatives, list 1,000 folders and key 1,001 pages to find that out (1.2 s
for 10,000 photos). The stamp (``data/.build-stamp``: output/ stays only the
site, and the same bytes whoever built it) says in one hash what the last whole build saw:

- the settings fingerprint (sizes, templates, assets: ``Build.fingerprint``);
- every row of the tables pages are made from (``SITE_TABLES``), as read;
- every entry of ``output/`` and of its folders by name, inode,
  modification time and size, and every name deeper down: a derivative or
  page deleted from a job's folder is seen even when the folder's time was
  put back (``rsync -a``). A file written over in place under its own name
  is not: ``build --full`` remakes it.

When all three match, nothing can differ and the build ends. Anything else
(a missing or unreadable stamp included) runs the build as usual. A build
that could not render every photo writes no stamp, so the next one retries.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

from jobgallery import shares
from jobgallery.storage import atomic_write, remove_file

STAMP_NAME = ".build-stamp"
# The tables whose rows decide what output/ holds; a table that feeds pages belongs here.
SITE_TABLES = ("job", "job_image", "job_alias", "share")
# output/ and its folders (jobs/, s/, static/) are described by inode, time and size; deeper folders by names.
STAT_DEPTH = 2


def database_digest(conn: sqlite3.Connection) -> str:
    """A hash of every row of ``SITE_TABLES`` (10,000 photos: about 30 ms), and of which share links answer now.

    A share link expires with no row changing, so the links active at this
    moment are part of what the site is made from: the hourly expiry build
    must not find the stamp unchanged.
    """
    digest = hashlib.sha256()
    for table in SITE_TABLES:
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):
            digest.update(repr(tuple(row)).encode())
    for row in shares.active(conn):
        digest.update(f"active {row.token}".encode())
    return digest.hexdigest()


def output_state(output: Path) -> str:
    """A hash of every name under ``output/`` at every depth, and of the inode, time and size of the top two levels.

    The time of a job's folder alone is not enough: ``rsync -a``, ``cp -a``
    and ``tar x`` put it back after a file inside was deleted, so the names
    in every folder count too. Looking up every file's inode and time as well
    would cost 140 ms of CPU for 40,000 files; their names cost 25 ms
    (10,000 photos in 1,000 jobs: bench/pipeline.py step 5).
    """
    digest = hashlib.sha256(str(output.resolve()).encode())
    folders = [(output, 0)]
    while folders:
        folder, depth = folders.pop()
        entries = sorted(scan(folder), key=lambda e: e.name)
        if depth < STAT_DEPTH:
            digest.update("".join(describe(entry) for entry in entries).encode())
        else:
            names = "\0".join(entry.name for entry in entries)
            digest.update(f"{folder}/\0{names}\n".encode())
        folders += [(Path(entry.path), depth + 1) for entry in entries if entry.is_dir(follow_symlinks=False)]
    return digest.hexdigest()


def scan(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def describe(entry: os.DirEntry) -> str:
    info = entry.stat(follow_symlinks=False)
    return f"{entry.name}\0{info.st_ino}\0{info.st_mtime_ns}\0{info.st_size}\n"


def stamp(settings: str, database: str, output: Path) -> str:
    return hashlib.sha256(f"{settings}\0{database}\0{output_state(output)}".encode()).hexdigest()


def read_stamp(path: Path) -> tuple[str, int] | None:
    """The last whole build's stamp and photo count (kept at ``path``), or None when there is none to trust."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("stamp"), str) or type(body.get("photos")) is not int:
        return None
    return body["stamp"], body["photos"]


def write_stamp(path: Path, value: str, photos: int) -> None:
    """Write the stamp unless it already says this (a build with nothing to do writes nothing)."""
    if read_stamp(path) != (value, photos):
        atomic_write(path, json.dumps({"stamp": value, "photos": photos}).encode())


def remove_stamp(path: Path) -> None:
    if path.exists():
        remove_file(path)
