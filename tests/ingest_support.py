"""Hand-made files for the ingest tests: what Pillow will not write for us."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

import photos
from PIL import Image

from jobgallery import db, storage
from jobgallery.config import Config


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# PNG colour types and their channels: grey, RGB, grey + alpha, RGBA.
PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def png_header(width: int, height: int, depth: int = 8, colour: int = 2, rows: int = 0) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (valid CRCs) with only ``rows`` rows of zeros (at most a few).

    Decoding it fails as "truncated", so a refusal that names the size or
    the memory proves nothing was decoded.
    """
    row = bytes(1 + width * PNG_CHANNELS[colour] * depth // 8)
    pixels = zlib.compress(row * rows if rows else b"\0" * 64)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", pixels) + png_chunk(b"IEND", b"")


def zero_png(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    """A whole, valid PNG of black rows: tiny on disk (zeros compress 1000:1), full size once decoded."""
    row = bytes(1 + width * PNG_CHANNELS[colour] * depth // 8)
    packer = zlib.compressobj(1)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", pixels) + png_chunk(b"IEND", b"")


def noise_jpeg(width: int, height: int, seed: int = 0, **options) -> bytes:
    """A JPEG of random pixels: every block carries data, so a cut anywhere loses some."""
    pixels = random.Random(seed).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, "JPEG", **options)
    return out.getvalue()


def cut_with_eoi(jpeg: bytes, fraction: float) -> bytes:
    """The first ``fraction`` of a JPEG with an end-of-image marker put back, as a careless cutter leaves it."""
    return jpeg[: int(len(jpeg) * fraction)] + b"\xff\xd9"


def claiming_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A baseline JPEG whose frame header (SOF0) claims another size than its scan holds."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]


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
    """No row, no file, and not even the job's folder when the job had no photos before."""
    folder = storage.job_folder(config.paths.data, job_id)
    return not folder.exists() and db.list_images(conn, job_id) == []


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
