"""Helpers for the generator's tests: real masters and rows, and snapshots of output/."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import re
import sqlite3
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import photos

from jobgallery import db, storage
from jobgallery.config import Config

FIXED_TIME = "2024-06-01T08:00:00+00:00"


def add_photo(
    config: Config,
    conn: sqlite3.Connection,
    job_id: int,
    data: bytes | None = None,
    *,
    seed: int = 0,
    filename: str | None = None,
    description: str = "",
    tags: str = "",
    taken_at: str | None = None,
    size: tuple[int, int] = (320, 240),
) -> db.Image:
    """Store a master the way ingest does (file first, then its row) and return the row."""
    if data is None:
        data = photos.jpeg_bytes(*size, seed=seed)
    sha = hashlib.sha256(data).hexdigest()
    name = filename or f"img_{sha[:12]}.jpg"
    storage.atomic_write(storage.job_folder(config.paths.data, job_id) / name, data)
    return db.insert_image(
        conn,
        job_id=job_id,
        filename=name,
        sha256=sha,
        byte_size=len(data),
        width=size[0],
        height=size[1],
        taken_at=taken_at,
        timestamp=FIXED_TIME,
        description=description,
        tags=tags,
        location=None,
    )


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: relative path -> (mtime in ns, bytes)."""
    files = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            files[path.relative_to(folder).as_posix()] = (path.stat().st_mtime_ns, path.read_bytes())
    return files


def changed(before: dict, after: dict) -> set[str]:
    """Paths added, removed, rewritten (mtime) or altered (bytes) between two snapshots."""
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


def age_files(folder: Path, seconds: int = 100) -> None:
    """Move every mtime into the past, so a rewrite within the same clock tick still shows."""
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 1_000_000_000))


def job_page(config: Config, job: db.Job) -> Path:
    return config.paths.output / job.gallery_path(config.gallery.public_index) / "index.html"


def img_tags(html: str) -> list[str]:
    return re.findall(r"<img\b[^>]*>", html)


def jpeg_segments(data: bytes) -> list[int]:
    """Marker codes of a JPEG's segments up to the first scan (APPn, COM, SOFn...)."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return markers


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``folder`` served over HTTP on a free 127.0.0.1 port for the block; yields ``http://127.0.0.1:<port>/``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
