"""Faults that pass by themselves answer 503 with Retry-After, and the daemon recovers on its own.

Real parts only: a second process holds the database with ``BEGIN
EXCLUSIVE`` (as a long maintenance command would), and ``data/`` or
``output/`` is a tiny tmpfs filled to the last byte (mounting needs root,
which CI has).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import photos
import pytest
from conftest import IN_CI
from daemon_support import FilePart, basic, http, running_daemon, stored_files, upload
from maintenance_support import run_cli
from PIL import Image

from jobgallery import db, users
from jobgallery.config import Config
from jobgallery.ingest import ingest_path

CREW = basic("crew", "crew-password-1")
HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def photo(seed: int) -> FilePart:
    return FilePart(f"IMG_{seed:04}.jpg", photos.jpeg_bytes(640, 480, seed=seed), content_type="image/jpeg")


def prepared(config: Config) -> db.Job:
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, "crew", "crew-password-1", admin=False)
        return db.create_job(conn, "Roof, 12 Elm St")


def rows(config: Config, job: db.Job) -> list[db.Image]:
    with db.open_db(config.db_path) as conn:
        return db.list_images(conn, job.id)


def assert_try_again(reply, retry_after: int | None = None) -> str:
    assert reply.status == 503, (reply.status, reply.body[:300])
    assert reply.header("retry-after") is not None and int(reply.header("retry-after")) > 0
    if retry_after is not None:
        assert int(reply.header("retry-after")) == retry_after
    message = reply.json()["error"]
    assert message and "internal" not in message and "Traceback" not in message
    return message


# ---------------------------------------------------------------- the database held by another process


@contextlib.contextmanager
def database_held(config: Config) -> Iterator[None]:
    """A second process in ``BEGIN EXCLUSIVE`` on the database for the whole block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(config.db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_a_database_held_by_another_process_gets_503_quickly_and_frees_the_threads(make_config, instance) -> None:
    config = make_config(**{"server.threads": 2})
    job = prepared(config)
    with running_daemon(instance / "config.yaml") as daemon:
        url = f"{daemon.url}/api/jobs/{job.id}/images"
        with database_held(config):
            started = time.monotonic()
            with ThreadPoolExecutor(4) as pool:
                replies = list(pool.map(lambda seed: upload(url, [photo(seed)], CREW), range(4)))
            waited = time.monotonic() - started
            health = http("GET", daemon.url + "/healthz", timeout=5)
            listed = http("GET", daemon.url + "/api/jobs", headers=CREW, timeout=5)
        for reply in replies:
            assert "busy" in assert_try_again(reply)
        assert waited < 10, f"four uploads on two threads took {waited:.1f} s to be answered"
        assert health.status == 200 and listed.status == 200
        assert rows(config, job) == [] and stored_files(config.paths.data) == []
        assert "Traceback" not in daemon.log()

        after = upload(url, [photo(1)], CREW)
    assert after.status == 201
    assert len(rows(config, job)) == 1


def test_the_command_line_still_waits_for_a_busy_database(make_config) -> None:
    """Only the daemon's request connections are short of patience: a CLI command waits its turn."""
    config = make_config()
    prepared(config)
    with database_held(config):
        command = subprocess.Popen(
            [sys.executable, "-m", "jobgallery", "--config", str(config.source), "job", "add", "Patient"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(4)
        assert command.poll() is None, command.communicate()
    out, err = command.communicate(timeout=30)
    assert command.returncode == 0, err
    assert out.strip().isdigit()


# ---------------------------------------------------------------- a full disk


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` (needs root to mount; skipped elsewhere unless CI)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]).returncode == 0
    )
    if not mounted:
        message = "mounting a tiny tmpfs needs root"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(folder: Path) -> Path:
    """Write a file into ``folder`` until its filesystem has no byte left; return it."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    with open(filler, "ab", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0")
    return filler


def test_a_full_data_disk_gets_503_stores_nothing_and_uploads_work_again_after(make_config, instance) -> None:
    with tiny_tmpfs(instance / "data", "2m") as data:
        config = make_config()
        job = prepared(config)
        with running_daemon(instance / "config.yaml") as daemon:
            filler = fill(data)
            url = f"{daemon.url}/api/jobs/{job.id}/images"
            replies = [upload(url, [photo(seed)], CREW) for seed in range(3)]
            for reply in replies:
                assert "disk is full" in assert_try_again(reply)
            assert rows(config, job) == []
            assert stored_files(config.paths.data) == []
            assert "Traceback" not in daemon.log()

            filler.unlink()
            after = upload(url, [photo(1)], CREW)
            assert after.status == 201, after.body
        assert len(rows(config, job)) == 1


def job_page(config: Config, job: db.Job) -> Path:
    return config.paths.output / job.gallery_path(True) / "index.html"


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_rebuild_short_of_space_names_each_photo_and_is_retried_when_space_comes_back(make_config, instance) -> None:
    with tiny_tmpfs(instance / "output", "1m") as output:
        config = make_config(**{"server.rebuild_delay_seconds": 0.2, "server.rebuild_retry_seconds": 1})
        job = prepared(config)
        with running_daemon(instance / "config.yaml") as daemon:
            assert wait_for(lambda: (output / "index.html").is_file(), 10)
            filler = fill(output)
            parts = [photo(seed) for seed in (7, 8)]
            reply = upload(f"{daemon.url}/api/jobs/{job.id}/images", parts, CREW)
            assert reply.status == 201
            names = [item["filename"] for item in reply.json()["images"]]

            def failures_logged() -> bool:
                lines = daemon.log().splitlines()
                rebuilds = [line for line in lines if "could not be rendered" in line]  # not the upload's own attempt
                return all(any(n in line and "No space left on device" in line for line in rebuilds) for n in names)

            assert wait_for(failures_logged, 15), daemon.log()
            assert "trying again in" in daemon.log()

            filler.unlink()
            assert wait_for(lambda: shown_photos(config, job) == 2, 15), daemon.log()
            assert "Traceback" not in daemon.log()


def shown_photos(config: Config, job: db.Job) -> int:
    page = job_page(config, job)
    return page.read_text(encoding="utf-8").count("<img") if page.is_file() else -1


def test_an_incremental_build_retries_photos_an_earlier_build_could_not_render(make_config, instance) -> None:
    """Not only the daemon: ``jobgallery build`` of another job picks up photos that failed before."""
    with tiny_tmpfs(instance / "output", "1m") as output:
        config = make_config()
        job = prepared(config)
        with db.open_db(config.db_path) as conn:
            other = db.create_job(conn, "Another job")
        assert run_cli(config, "build").returncode == 0
        filler = fill(output)
        source = instance / "IMG_0009.jpg"
        source.write_bytes(photos.jpeg_bytes(640, 480, seed=9))
        with db.open_db(config.db_path) as conn:
            ingest_path(config, conn, job.id, source)
        failed = run_cli(config, "build", "--job", str(job.id))
        assert failed.returncode != 0 or shown_photos(config, job) != 1
        filler.unlink()
        assert run_cli(config, "build", "--job", str(other.id)).returncode == 0
        assert shown_photos(config, job) == 1


def noise_jpeg(width: int, height: int) -> bytes:
    """Random pixels at quality 95: about 1.2 bytes a pixel, so the size follows the pixel count."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), random.Random(width).randbytes(width * height * 3)).save(
        out, "JPEG", quality=95
    )
    return out.getvalue()


def leave_free(filler: Path, free: int) -> None:
    """Shrink a filler that took every byte so that about ``free`` bytes (whole pages) are left."""
    os.truncate(filler, max(0, filler.stat().st_size - free))


@pytest.mark.parametrize("pixels", [(500, 400), (900, 700), (1200, 1000), (1600, 1300)])
def test_a_photo_that_does_not_fit_in_the_space_left_gets_503_and_fits_after(make_config, instance, pixels) -> None:
    """A write cut short by a full disk is a full disk, whatever the size: never a damaged photo (422)."""
    body = noise_jpeg(*pixels)
    with tiny_tmpfs(instance / "data", "8m") as data:
        config = make_config()
        job = prepared(config)
        with running_daemon(instance / "config.yaml") as daemon:
            filler = fill(data)
            leave_free(filler, len(body) // 2)
            url = f"{daemon.url}/api/jobs/{job.id}/images"
            part = FilePart("IMG_0001.jpg", body, content_type="image/jpeg")
            assert "disk is full" in assert_try_again(upload(url, [part], CREW))
            assert rows(config, job) == [] and stored_files(config.paths.data) == []
            filler.unlink()
            after = upload(url, [part], CREW)
            assert after.status == 201, after.body
        assert len(rows(config, job)) == 1


@pytest.mark.parametrize("pixels", [(900, 700), (1600, 1300)])
def test_the_command_line_says_a_cut_short_write_is_a_full_disk_in_one_line(make_config, instance, pixels) -> None:
    card = instance / "card"
    card.mkdir()
    (card / "IMG_0001.jpg").write_bytes(noise_jpeg(*pixels))
    with tiny_tmpfs(instance / "data", "8m") as data:
        config = make_config()
        job = prepared(config)
        filler = fill(data)
        leave_free(filler, (card / "IMG_0001.jpg").stat().st_size // 2)
        failed = run_cli(config, "import", str(card), "--job", str(job.id))
        assert failed.returncode == 1, (failed.stdout, failed.stderr)
        said = failed.stdout + failed.stderr
        assert "No space left on device" in said and "damaged" not in said, said
        assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1, failed.stderr
        assert rows(config, job) == [] and stored_files(config.paths.data) == []
        filler.unlink()
        assert run_cli(config, "import", str(card), "--job", str(job.id)).returncode == 0
        assert len(rows(config, job)) == 1
