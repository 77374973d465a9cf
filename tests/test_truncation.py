"""Files that end early are refused in every accepted format, on every path in; whole ones never are."""

from __future__ import annotations

import io
import re
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import photos
import pytest
import yaml
from conftest import cli_command, nest
from daemon_support import FilePart, basic, running_daemon, stored_files, upload
from ingest_support import nothing_stored, png_chunk, write
from structure_support import truncated_files, whole_files

from jobgallery import db, ingest, users
from jobgallery.config import load_config
from jobgallery.errors import BadImage

TRUNCATED = truncated_files()
WHOLE = whole_files()
SAMPLES = Path(__file__).resolve().parent / "samples"
CREW = ("crew", "crew-password-1")


@pytest.fixture
def job(conn) -> db.Job:
    return db.create_job(conn, "Roof, 12 Elm St")


def test_every_format_family_has_at_least_six_truncations() -> None:
    families = Counter(name.split("-")[0] for name in TRUNCATED)
    progressive = sum(name.startswith("jpeg-progressive") for name in TRUNCATED)
    assert set(families) == {"jpeg", "png", "webp", "heic"}
    assert min(families.values()) >= 6 and progressive >= 6


@pytest.mark.parametrize("name", sorted(TRUNCATED))
def test_a_file_that_ends_early_is_refused_and_nothing_is_stored(config, conn, job, tmp_path: Path, name: str) -> None:
    source = write(tmp_path / "card" / name, TRUNCATED[name])
    with pytest.raises(BadImage, match=r"cut short|damaged"):
        ingest.ingest_path(config, conn, job.id, source)
    assert nothing_stored(config, conn, job.id)


@pytest.mark.parametrize("name", sorted(WHOLE))
def test_the_same_files_whole_are_accepted(config, conn, job, name: str) -> None:
    image = ingest.ingest_stream(config, conn, job.id, io.BytesIO(WHOLE[name])).image
    assert image.width > 0 and len(db.list_images(conn, job.id)) == 1


@pytest.mark.parametrize("name", sorted(path.name for path in SAMPLES.iterdir() if path.suffix != ".md"))
def test_the_sample_photos_are_all_accepted(config, conn, job, name: str) -> None:
    assert ingest.ingest_path(config, conn, job.id, SAMPLES / name).image.width > 0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_phone_style_jpegs_with_exif_are_accepted(config, conn, job, orientation: int) -> None:
    data = photos.jpeg_bytes(1600, 1200, orientation=orientation, taken="2024:03:05 08:10:00", gps=(52.5, 13.4))
    assert ingest.ingest_stream(config, conn, job.id, io.BytesIO(data)).image.taken_at


def test_the_real_daemon_answers_422_for_each_and_stores_nothing(make_config, instance: Path) -> None:
    config = make_config()
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        job = db.create_job(conn, "Gutters")
        with running_daemon(config.source) as daemon:
            url = f"{daemon.url}/api/jobs/{job.id}/images"
            statuses = {
                name: upload(url, [FilePart(name, data)], basic(*CREW)).status for name, data in TRUNCATED.items()
            }
            assert statuses == dict.fromkeys(TRUNCATED, 422)
            assert db.list_images(conn, job.id) == [] and stored_files(config.paths.data) == []
            assert upload(url, [FilePart("whole.heic", WHOLE["heic"])], basic(*CREW)).status == 201


def test_jobgallery_import_refuses_each_and_imports_the_whole_ones(tmp_path: Path, instance: Path) -> None:
    config_path = instance / "config.yaml"
    config_path.write_text(yaml.safe_dump(nest({"build.workers": 2})), encoding="utf-8")
    config = load_config(str(config_path))
    card = tmp_path / "card"
    for name, data in TRUNCATED.items():
        write(card / "DCIM" / name, data)
    for name, data in WHOLE.items():
        write(card / "whole" / name, data)
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Card")
        result = subprocess.run(
            [*cli_command(), "--config", str(config_path), "import", str(card), "--job", str(job.id)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        *report, totals, built = result.stdout.splitlines()  # the import publishes what it stored, last
        refused = sorted(line.split(":")[0].removeprefix("refused DCIM/") for line in report)
        assert result.returncode == 1, result.stderr
        assert refused == sorted(TRUNCATED)
        assert totals == f"imported {len(WHOLE)}, duplicates 0, refused {len(TRUNCATED)}"
        assert re.match(r"build: \d+ photos processed, \d+ skipped, 0 failed", built)
        assert len(db.list_images(conn, job.id)) == len(WHOLE) == len(stored_files(config.paths.data))


# ---------------------------------------------------------------- PNG rows that end cleanly but early

ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_rows(width: int, height: int, interlaced: bool) -> list[bytes]:
    """Every row of an RGB picture of grey bands (filter byte 0 each), pass after pass when ``interlaced``."""
    passes = ADAM7 if interlaced else ((0, 0, 1, 1),)
    rows = []
    for left, top, step_x, step_y in passes:
        columns = len(range(left, width, step_x))
        if columns:
            rows += [b"\0" + bytes([(y * 7) % 256]) * 3 * columns for y in range(top, height, step_y)]
    return rows


def png_from_rows(width: int, height: int, interlaced: bool, raw: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, int(interlaced))
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        png_chunk(kind, body) for kind, body in ((b"IHDR", ihdr), (b"IDAT", zlib.compress(raw)), (b"IEND", b""))
    )


SHORTFALLS = {
    "one-row": lambda rows: b"".join(rows[:-1]),
    "half": lambda rows: b"".join(rows)[: len(b"".join(rows)) // 2],
    "one-byte": lambda rows: b"".join(rows)[:-1],
}
# (width, height): the reported 800x600, and a 5x3 picture whose Adam7 passes 2, 3 and 5 are empty.
SHAPES = [(800, 600), (5, 3)]


@pytest.mark.parametrize("interlaced", [False, True], ids=["plain", "adam7"])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"{w}x{h}" for w, h in SHAPES])
@pytest.mark.parametrize("short", sorted(SHORTFALLS))
def test_a_png_whose_stream_ends_cleanly_before_its_last_row_is_refused(
    config, conn, job, tmp_path: Path, short: str, shape: tuple[int, int], interlaced: bool
) -> None:
    rows = png_rows(*shape, interlaced)
    source = write(tmp_path / "short.png", png_from_rows(*shape, interlaced, SHORTFALLS[short](rows)))
    with pytest.raises(BadImage, match=r"PNG image is .*cut short"):
        ingest.ingest_path(config, conn, job.id, source)
    assert nothing_stored(config, conn, job.id)


@pytest.mark.parametrize("interlaced", [False, True], ids=["plain", "adam7"])
@pytest.mark.parametrize("shape", [*SHAPES, (1, 1), (9, 17)], ids=str)
def test_a_png_with_exactly_its_rows_passes_and_one_byte_more_does_not(
    config, conn, job, shape: tuple[int, int], interlaced: bool
) -> None:
    raw = b"".join(png_rows(*shape, interlaced))
    stored = ingest.ingest_stream(config, conn, job.id, io.BytesIO(png_from_rows(*shape, interlaced, raw))).image
    assert (stored.width, stored.height) == shape
    with pytest.raises(BadImage, match="runs on past the picture"):
        ingest.ingest_stream(config, conn, job.id, io.BytesIO(png_from_rows(*shape, interlaced, raw + b"\0")))
    assert len(db.list_images(conn, job.id)) == 1


def test_the_reported_half_png_is_answered_422_by_the_daemon_and_import(
    make_config, instance: Path, tmp_path: Path
) -> None:
    """IHDR 800x600 RGB, one IDAT holding half the rows in a stream that ends cleanly: was 201, black rows."""
    rows = png_rows(800, 600, False)
    half = png_from_rows(800, 600, False, SHORTFALLS["half"](rows))
    config = make_config()
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        job = db.create_job(conn, "Half")
        with running_daemon(config.source) as daemon:
            url = f"{daemon.url}/api/jobs/{job.id}/images"
            assert upload(url, [FilePart("half.png", half)], basic(*CREW)).status == 422
        write(tmp_path / "card" / "half.png", half)
        result = subprocess.run(
            [*cli_command(), "--config", str(config.source), "import", str(tmp_path / "card"), "--job", str(job.id)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1 and result.stdout.startswith("refused half.png: the PNG image is cut short")
        assert db.list_images(conn, job.id) == [] and stored_files(config.paths.data) == []
