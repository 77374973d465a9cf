"""What one image may cost to check is bounded before decoding: no input of 25 MiB or less takes over 5 s.

Each hostile input is cheap to send and, unchecked, dear to decode: a JPEG
repeating one tiny scan (about 76 s for 8,000 scans with Pillow), PNGs with
hundreds of thousands of chunks or text chunks read whole, zlib bombs in PNG
metadata, WebPs of thousands of frames, HEIC grids naming a tile again and
again. Beside each refused one stands its largest accepted neighbour, which
must be checked within the same bound.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import structure_support as hostile
from ingest_support import nothing_stored, write

from jobgallery import containers, db, ingest, jpeg_scans
from jobgallery.errors import BadImage

MAX_BYTES = 25 * 1024 * 1024
MAX_SECONDS = 5.0
# Pillow's progressive grey JPEG has 6 scans of its own; the flood adds the rest.
GREY_SCANS = 6

REFUSED: dict[str, tuple[Callable[[], bytes], str]] = {
    "jpeg-8000-scans": (lambda: hostile.scan_flood(8000), "more than 100 scans"),
    "jpeg-one-scan-too-many": (lambda: hostile.scan_flood(jpeg_scans.MAX_SCANS + 1 - GREY_SCANS), "scans"),
    "png-200000-chunks": (lambda: hostile.png_chunk_flood(200_000), "chunks"),
    "png-24-mib-itxt": (lambda: hostile.png_with_text(b"iTXt", 24 << 20), "iTXt chunk of"),
    "png-24-mib-text": (lambda: hostile.png_with_text(b"tEXt", 24 << 20), "tEXt chunk of"),
    "png-ztxt-bomb": (lambda: hostile.png_with_text(b"zTXt", 64 << 20), "inflates"),
    "png-iccp-bomb": (lambda: hostile.png_with_text(b"iCCP", 64 << 20), "inflates"),
    "webp-1200-frames": (lambda: hostile.webp_frames(1200), "frames"),
    "heic-1024-tiles": (lambda: hostile.heic_of_tiles(32), "tiles"),
}
ACCEPTED: dict[str, Callable[[], bytes]] = {
    "jpeg-100-scans-48-mp": lambda: hostile.scan_flood(jpeg_scans.MAX_SCANS - GREY_SCANS),
    "png-10000-chunks": lambda: hostile.png_chunk_flood(containers.MAX_PNG_CHUNKS - 2),
    "png-text-at-the-cap": lambda: hostile.png_with_text(b"iTXt", containers.MAX_METADATA_BYTES - 64),
    "webp-1000-frames": lambda: hostile.webp_frames(containers.MAX_WEBP_FRAMES),
    "heic-961-tiles": lambda: hostile.heic_of_tiles(31),
}


@functools.cache
def made(name: str) -> bytes:
    data = REFUSED[name][0]() if name in REFUSED else ACCEPTED[name]()
    assert len(data) <= MAX_BYTES
    return data


@pytest.fixture
def job(conn) -> db.Job:
    return db.create_job(conn, "Roof, 12 Elm St")


def timed_ingest(config, conn, job, path: Path):
    started = time.monotonic()
    try:
        return ingest.ingest_path(config, conn, job.id, path), time.monotonic() - started
    except BadImage as error:
        return error, time.monotonic() - started


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_hostile_input_is_refused_quickly_and_nothing_is_stored(config, conn, job, tmp_path: Path, name) -> None:
    outcome, seconds = timed_ingest(config, conn, job, write(tmp_path / name, made(name)))
    assert isinstance(outcome, BadImage) and REFUSED[name][1] in str(outcome)
    assert seconds < MAX_SECONDS
    assert nothing_stored(config, conn, job.id)


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_the_largest_accepted_neighbour_is_checked_within_the_bound(config, conn, job, tmp_path: Path, name) -> None:
    outcome, seconds = timed_ingest(config, conn, job, write(tmp_path / name, made(name)))
    assert isinstance(outcome, ingest.IngestResult), outcome
    assert seconds < MAX_SECONDS
