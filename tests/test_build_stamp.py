"""The stamp of a whole build: a build with nothing to do stops at once, and any change still gets built."""

from __future__ import annotations

import io
import os
from pathlib import Path

import photos
import pytest

from generator.build import build_site
from generator.ingest_output import IngestDerivatives
from generator.stamp import STAMP_NAME
from jobgallery import db, ingest
from jobgallery.config import Config


def site_with_photos(config: Config, conn) -> db.Job:
    job = db.create_job(conn, "Stamp")
    derivatives = IngestDerivatives.from_config(config)
    for seed in range(2):
        ingest.ingest_stream(config, conn, job.id, io.BytesIO(photos.jpeg_bytes(seed=seed)), derivatives=derivatives)
    assert build_site(config).ok
    return job


def times(config: Config) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in config.paths.output.rglob("*")}


def test_a_build_with_nothing_to_do_stops_at_the_stamp_and_writes_nothing(config: Config, conn) -> None:
    site_with_photos(config, conn)
    stamp = (config.paths.data / STAMP_NAME).read_bytes()
    before = times(config)
    report = build_site(config)
    assert (report.processed, report.skipped, report.pages_written) == (0, 2, 0)
    assert times(config) == before and (config.paths.data / STAMP_NAME).read_bytes() == stamp


def test_a_changed_row_is_built_despite_the_stamp(config: Config, conn) -> None:
    job = site_with_photos(config, conn)
    with db.write(conn):
        conn.execute("UPDATE job_image SET description = 'north wall' WHERE job_id = ?", (job.id,))
    assert build_site(config).pages_written == 1
    page = config.paths.output / job.gallery_path(config.gallery.public_index) / "index.html"
    assert "north wall" in page.read_text(encoding="utf-8")


def test_a_deleted_derivative_or_page_is_made_again_despite_the_stamp(config: Config, conn) -> None:
    job = site_with_photos(config, conn)
    folder = config.paths.output / job.gallery_path(config.gallery.public_index)
    next(folder.glob("*-display-*.jpg")).unlink()
    assert build_site(config).processed == 1
    (config.paths.output / "index.html").unlink()
    assert build_site(config).pages_written == 1
    assert (config.paths.output / "index.html").is_file()


def test_a_derivative_deleted_with_its_folder_time_put_back_is_made_again(config: Config, conn) -> None:
    """As ``rsync -a`` or ``tar x`` leave it: the file is gone, every folder keeps the time it had."""
    job = site_with_photos(config, conn)
    folder = config.paths.output / job.gallery_path(config.gallery.public_index)
    folders = [folder, *(p for p in folder.parents if p.is_relative_to(config.paths.output))]
    kept = {f: f.stat().st_mtime_ns for f in folders}
    next(folder.glob("*-thumb-*.jpg")).unlink()
    for f, mtime in kept.items():
        os.utime(f, ns=(mtime, mtime))
    assert build_site(config).processed == 1
    assert len(list(folder.glob("*-thumb-*.jpg"))) == 2


def test_a_job_build_drops_the_stamp_and_the_next_whole_build_looks_at_everything(config: Config, conn) -> None:
    job = site_with_photos(config, conn)
    ingest.ingest_stream(config, conn, job.id, io.BytesIO(photos.jpeg_bytes(seed=9)))
    assert build_site(config, job_id=job.id).processed == 1
    assert not (config.paths.data / STAMP_NAME).exists()
    assert build_site(config).skipped == 3
    assert (config.paths.data / STAMP_NAME).is_file()


@pytest.mark.parametrize(
    ("setting", "value", "kinds"),
    [
        ("images__zoom_size", 1600, {"zoom", "display", "thumb", "thumb2x", "thumb-webp", "thumb2x-webp"}),
        ("images__thumb_webp_quality", 60, {"thumb-webp", "thumb2x-webp"}),
        ("images__thumb_size", 200, {"thumb", "thumb2x", "thumb-webp", "thumb2x-webp"}),
        ("images__display_quality", 70, {"display", "zoom"}),
    ],
)
def test_every_setting_a_derivative_is_made_with_gets_past_the_stamp(make_config, setting, value, kinds) -> None:
    """After a no-op build, changing any one of them remakes exactly the derivatives it makes."""
    config = make_config()
    with db.open_db(config.db_path) as conn:
        site_with_photos(config, conn)
    assert build_site(config).pages_written == 0
    before = times(config)
    report = build_site(make_config(**{setting: value}))
    assert report.processed == 2
    remade = {
        Path(path).name.split("-", 1)[1].rsplit("-", 1)[0]
        for path, t in times(config).items()
        if path.endswith((".jpg", ".webp")) and "/jobs/" in path and before.get(path) != t
    }
    assert remade == kinds
