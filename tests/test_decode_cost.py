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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import structure_support as hostile
from daemon_support import FilePart, basic, running_daemon, stored_files, upload
from ingest_support import nothing_stored, write

from jobgallery import containers, db, ingest, jpeg_scans, users
from jobgallery.errors import BadImage

MAX_BYTES = 25 * 1024 * 1024
MAX_SECONDS = 5.0
# Four 24 MiB uploads may grow the daemon by their multipart buffers, not by their text (before: 400 MiB).
MAX_GROWTH_MIB = 100
# Pillow's progressive grey JPEG has 6 scans of its own; the flood adds the rest.
GREY_SCANS = 6

REFUSED: dict[str, tuple[Callable[[], bytes], str]] = {
    "jpeg-8000-scans": (lambda: hostile.scan_flood(8000), "more than 100 scans"),
    "jpeg-one-scan-too-many": (lambda: hostile.scan_flood(jpeg_scans.MAX_SCANS + 1 - GREY_SCANS), "scans"),
    "jpeg-200000-segments": (lambda: hostile.jpeg_segment_flood(200_000), "segments"),
    "png-200000-chunks": (lambda: hostile.png_chunk_flood(200_000), "chunks"),
    "png-200000-pixel-chunks": (lambda: hostile.png_idat_flood(200_000), "chunks"),
    "png-pixels-running-on-for-64-mib": (lambda: hostile.png_pixels_running_on(64 << 20), "runs on"),
    "png-24-mib-itxt": (lambda: hostile.png_with_text(b"iTXt", 24 << 20), "iTXt chunk holds"),
    "png-24-mib-text": (lambda: hostile.png_with_text(b"tEXt", 24 << 20), "tEXt chunk holds"),
    "png-5-mib-of-text-in-1-mib-chunks": (lambda: hostile.png_with_many_texts(5, (1 << 20) - 64), "bytes of metadata"),
    "png-ztxt-bomb": (lambda: hostile.png_with_text(b"zTXt", 64 << 20), "inflates"),
    "png-iccp-bomb": (lambda: hostile.png_with_text(b"iCCP", 64 << 20), "ICC profile is larger than"),
    "webp-1200-frames": (lambda: hostile.webp_frames(1200), "frames"),
    "heic-1024-tiles": (lambda: hostile.heic_of_tiles(32), "tiles"),
}
ACCEPTED: dict[str, Callable[[], bytes]] = {
    "jpeg-100-scans-48-mp": lambda: hostile.scan_flood(jpeg_scans.MAX_SCANS - GREY_SCANS),
    "jpeg-10000-segments": lambda: hostile.jpeg_segment_flood(jpeg_scans.MAX_SEGMENTS - 10),
    "png-10000-chunks": lambda: hostile.png_chunk_flood(containers.MAX_PNG_CHUNKS - 2),
    "png-100000-pixel-chunks": lambda: hostile.png_idat_flood(containers.MAX_PNG_PIXEL_CHUNKS),
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


def test_four_text_chunk_uploads_at_once_leave_the_daemons_memory_flat(make_config) -> None:
    """Four 16x16 PNGs with 24 MiB iTXt chunks, uploaded at once (before: the daemon went from 41 to 442 MB)."""
    config = make_config()
    payloads = [hostile.png_with_text(b"iTXt", (24 << 20) + index) for index in range(4)]
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, "crew", "crew-password-1", admin=False)
        job = db.create_job(conn, "Gutters")
        with running_daemon(config.source) as daemon:
            url = f"{daemon.url}/api/jobs/{job.id}/images"
            send = functools.partial(upload, auth=basic("crew", "crew-password-1"))
            cut = hostile.png_with_text(b"iTXt", 1024)[:-40]
            assert send(url, [FilePart("warm-up.png", cut)]).status == 422
            before = daemon.peak_rss_kib()
            with ThreadPoolExecutor(4) as pool:
                replies = list(pool.map(lambda data: send(url, [FilePart("text.png", data)]), payloads))
            grown_mib = (daemon.peak_rss_kib() - before) / 1024
        print(f"daemon peak RSS {before / 1024:.0f} MiB before, +{grown_mib:.0f} MiB after four uploads")
        assert [reply.status for reply in replies] == [422] * 4
        assert all("iTXt chunk holds" in reply.json()["error"] for reply in replies)
        assert grown_mib < MAX_GROWTH_MIB, f"peak RSS grew by {grown_mib:.0f} MiB"
        assert db.list_images(conn, job.id) == [] and stored_files(config.paths.data) == []
