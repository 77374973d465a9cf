"""Hand-made files for the ingest tests: what Pillow will not write for us."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import photos

from jobgallery import db, storage
from jobgallery.config import Config


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (valid CRCs), with almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """Insert an APP1 (EXIF) segment right after a JPEG's start-of-image marker."""
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def exif_with_thumbnail(orientation: int, thumbnail: bytes) -> bytes:
    """EXIF (big-endian TIFF) with IFD0 holding the orientation and IFD1 pointing at a thumbnail."""
    ifd0 = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 26)
    thumb_at = 26 + 2 + 2 * 12 + 4
    ifd1 = (
        struct.pack(">H", 2)
        + struct.pack(">HHII", 0x0201, 4, 1, thumb_at)
        + struct.pack(">HHII", 0x0202, 4, 1, len(thumbnail))
        + struct.pack(">I", 0)
    )
    return b"Exif\0\0" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd0 + ifd1 + thumbnail


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("photo.jpg", photos.jpeg_bytes(64, 48))
    return out.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def job_files(config: Config, job_id: int) -> list[str]:
    """Every name in the job's folder, temp files included (none when the folder does not exist)."""
    folder = storage.job_folder(config.paths.data, job_id)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def nothing_stored(config: Config, conn, job_id: int) -> bool:
    return job_files(config, job_id) == [] and db.list_images(conn, job_id) == []


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
