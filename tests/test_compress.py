"""Recompression: once per photo, metadata kept, atomic, and a kill mid-run harms no master."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import photos
import pytest
from conftest import cli_command
from maintenance_support import add_photos, job_with_photos, master, run_cli, sha256
from PIL import Image

from jobgallery import db, storage
from jobgallery.ingest import ingest_path
from jobgallery.maintenance.cleanup import cleanup
from jobgallery.maintenance.compress import MARKER, compress, reencode


def decode(path) -> Image.Image:
    with Image.open(path) as picture:
        picture.load()
        return picture


def test_recompresses_once_keeping_exif_and_upload_hash(config, conn):
    job = job_with_photos(config, conn, count=3, size=(1200, 900), quality=95)
    before = {image.id: image for image in db.list_images(conn, job.id)}
    sizes = {image.id: master(config, image).stat().st_size for image in before.values()}

    report = compress(config, conn, older_than_days=0)

    assert report.ok and report.counts["recompressed"] == 3
    for image in db.list_images(conn, job.id):
        path = master(config, image)
        assert image.compressed_at is not None
        assert image.sha256 == before[image.id].sha256, "dedupe keeps comparing with the upload's hash"
        assert image.byte_size == path.stat().st_size <= sizes[image.id] * 0.9
        picture = decode(path)
        assert picture.size == (1200, 900)
        exif = picture.getexif()
        assert exif[photos.ORIENTATION] == 6 and exif.get_ifd(photos.GPS_IFD), "orientation and GPS stay in the master"
        assert MARKER in picture.info["comment"]
    assert not [p for p in storage.job_folder(config.paths.data, job.id).iterdir() if storage.is_temp(p.name)]


def test_second_run_does_no_work(config, conn):
    job = job_with_photos(config, conn, count=2, quality=95)
    compress(config, conn, older_than_days=0)
    paths = [master(config, image) for image in db.list_images(conn, job.id)]
    stats = {path: (path.stat().st_mtime_ns, sha256(path)) for path in paths}

    report = compress(config, conn, older_than_days=0)

    assert report.summary() == "compress: nothing to do"
    assert {path: (path.stat().st_mtime_ns, sha256(path)) for path in paths} == stats


def test_small_saving_keeps_the_file_but_records_it(config, conn, tmp_path):
    job = db.create_job(conn, "Already small")
    source = tmp_path / "small.jpg"
    photos.photo(640, 480).save(source, "JPEG", quality=50, optimize=True)
    image = ingest_path(config, conn, job.id, source).image
    original = sha256(master(config, image))

    report = compress(config, conn, older_than_days=0)

    assert report.counts["kept (saving under 10%)"] == 1
    assert sha256(master(config, image)) == original
    assert db.get_image(conn, image.id).compressed_at is not None
    assert compress(config, conn, older_than_days=0).summary() == "compress: nothing to do"


@pytest.mark.parametrize(("fmt", "label"), [("PNG", "PNG"), ("WEBP", "WebP"), ("HEIF", "HEIC")])
def test_non_jpeg_masters_are_left_as_they_are_once(config, conn, tmp_path, fmt, label):
    """Told by content without decoding; the CLI's own process has no HEIC opener until it asks for one."""
    job = db.create_job(conn, "Screenshots")
    source = tmp_path / "shot"
    source.write_bytes(photos.encoded(fmt, 400, 300))
    image = ingest_path(config, conn, job.id, source).image
    before = sha256(master(config, image))

    result = run_cli(config, "compress", "--older-than", "0")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"left {master(config, image)} as it is ({label})",
        "compress: 1 left as is (not JPEG)",
    ]
    assert sha256(master(config, image)) == before
    assert db.get_image(conn, image.id).compressed_at is not None
    assert run_cli(config, "compress", "--older-than", "0").stdout == "compress: nothing to do\n"


def test_a_jpeg_too_large_for_the_decode_budget_is_left_as_it_is(make_config):
    config = make_config(images__max_decode_mb=1)
    with db.open_db(config.db_path) as conn:
        image = add_photos(config, conn, db.create_job(conn, "Big").id, 1, size=(640, 480), quality=95)[0]
        before = sha256(master(config, image))

        report = compress(config, conn, older_than_days=0)

        assert report.ok and report.counts["left as is (too large to decode)"] == 1
        assert "would take about 2 MiB, over images.max_decode_mb" in report.lines[0]
        assert sha256(master(config, image)) == before
        assert db.get_image(conn, image.id).compressed_at is not None


def test_a_damaged_master_fails_with_a_plain_reason(config, conn):
    image = add_photos(config, conn, db.create_job(conn, "Rot").id, 1, size=(800, 600), quality=95)[0]
    path = master(config, image)
    path.write_bytes(path.read_bytes()[:5000])

    report = compress(config, conn, older_than_days=0)

    assert report.failures == [f"{path}: the JPEG is damaged and cannot be decoded"]
    assert db.get_image(conn, image.id).compressed_at is None


def test_a_file_recompressed_before_a_crash_is_not_encoded_again(config, conn):
    """The row update was lost (crash after the replace): the file's marker stops a second encode."""
    job = db.create_job(conn, "Crashed run")
    image = add_photos(config, conn, job.id, 1, quality=95)[0]
    path = master(config, image)
    with Image.open(path) as picture:
        storage.atomic_write(path, reencode(picture, 60))
    once = sha256(path)

    report = compress(config, conn, older_than_days=0)

    assert report.counts["already recompressed"] == 1
    assert sha256(path) == once
    row = db.get_image(conn, image.id)
    assert row.compressed_at is not None and row.byte_size == path.stat().st_size


def test_default_age_leaves_new_photos_and_upload_of_the_original_is_still_a_duplicate(config, conn, tmp_path):
    job = db.create_job(conn, "New")
    source = tmp_path / "original.jpg"
    source.write_bytes(photos.jpeg_bytes(800, 600, quality=95))
    image = ingest_path(config, conn, job.id, source).image
    assert compress(config, conn).summary() == "compress: nothing to do"

    compress(config, conn, older_than_days=0)
    again = ingest_path(config, conn, job.id, source)

    assert again.duplicate and again.image.id == image.id


def test_cli_summary_and_bad_days(config):
    with db.open_db(config.db_path) as conn:
        job_with_photos(config, conn, count=1, quality=95)
    result = run_cli(config, "compress", "--older-than", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("compress: 1 recompressed, ")
    refused = run_cli(config, "compress", "--older-than", "-1")
    assert refused.returncode == 2 and "0 or more" in refused.stderr


def test_sigkill_mid_run_leaves_every_master_decodable(make_config):
    config = make_config(**{"maintenance.orphan_grace_minutes": 0})
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=24, size=(1600, 1200), quality=95)
        uploaded = {image.id: image.sha256 for image in db.list_images(conn, job.id)}
    command = [*cli_command(), "--config", str(config.source), "compress", "--older-than", "0"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_some_compressed(config, job.id, process)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    with db.open_db(config.db_path) as conn:
        done = sum(1 for image in db.list_images(conn, job.id) if image.compressed_at)
        assert 0 < done < len(uploaded), "the kill should land mid-run"
        for image in db.list_images(conn, job.id):
            path = master(config, image)
            picture = decode(path)
            assert picture.size == (1600, 1200)
            untouched = sha256(path) == uploaded[image.id]
            assert untouched or MARKER in picture.info["comment"]
        rest = compress(config, conn, older_than_days=0)
        cleanup(config, conn)
        assert rest.ok and sum(rest.counts[k] for k in ("recompressed", "already recompressed")) == len(uploaded) - done
        assert all(image.compressed_at for image in db.list_images(conn, job.id))
    assert not [p for p in storage.job_folder(config.paths.data, job.id).iterdir() if storage.is_temp(p.name)]


def wait_for_some_compressed(config, job_id: int, process: subprocess.Popen) -> None:
    """Poll until the running compress has recorded a few photos."""
    deadline = time.monotonic() + 60
    with db.open_db(config.db_path) as conn:
        while time.monotonic() < deadline and process.poll() is None:
            if sum(1 for image in db.list_images(conn, job_id) if image.compressed_at) >= 3:
                return
            time.sleep(0.005)
    raise AssertionError("compress did not get going (or finished before it could be killed)")
