"""Decode once: a photo's ingest makes its derivatives from the decode that checks it; the build only renders.

Whichever path made a derivative (the daemon's worker after an upload, an
import's worker process, a build), its bytes are the same, and a process
killed between storing a photo and writing its derivatives leaves a site the
next build completes.
"""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import photos
import pytest
from conftest import cli_command
from daemon_support import FilePart, basic, http, running_daemon, upload
from ingest_support import write

from generator.build import build_site
from generator.derivatives import KINDS
from generator.ingest_output import IngestDerivatives
from jobgallery import db, ingest, users
from jobgallery.config import Config

CREW = ("crew", "crew-password-1")
BOSS = ("boss", "boss-password-1")


def jobgallery(config: Config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli_command(), "--config", str(config.source), *args], capture_output=True, text=True, timeout=300
    )


def card(folder: Path) -> None:
    """Nine photos of several kinds: enough for the import's worker processes (8 files or more)."""
    for n in range(6):
        write(folder / f"IMG_{n}.JPG", photos.jpeg_bytes(1600, 1200, seed=n, orientation=n % 8 + 1))
    write(folder / "grey.jpg", grey_jpeg())
    write(folder / "screen.png", photos.encoded("PNG", 900, 700, seed=40))
    write(folder / "tall.webp", photos.encoded("WEBP", 500, 1400, seed=41))


def grey_jpeg() -> bytes:
    out = io.BytesIO()
    photos.photo(1200, 900, seed=42).convert("L").save(out, "JPEG", quality=85)
    return out.getvalue()


def output_files(config: Config) -> dict[str, bytes]:
    """Every file under output/ by its path (the manifest included)."""
    root = config.paths.output
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def derivative_times(config: Config) -> dict[str, int]:
    found = config.paths.output.glob("jobs/*/*")
    return {str(p): p.stat().st_mtime_ns for p in found if p.suffix in (".jpg", ".webp")}  # not pages or reports


def shown(config: Config, job: db.Job) -> int:
    page = config.paths.output / job.gallery_path(config.gallery.public_index) / "index.html"
    return len(set(re.findall(r"(\d+)-thumb-", page.read_text(encoding="utf-8")))) if page.is_file() else -1


# ---------------------------------------------------------------- the build finds what the ingest made


def test_a_build_after_an_import_makes_no_derivative(make_config, tmp_path: Path) -> None:
    config = make_config(**{"build.workers": 2})
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Import")
    card(tmp_path / "card")
    done = jobgallery(config, "import", str(tmp_path / "card"), "--job", str(job.id))
    assert done.returncode == 0, done.stderr
    made = derivative_times(config)
    assert len(made) == 9 * len(KINDS)
    report = build_site(config)
    assert (report.processed, report.skipped, report.failed) == (0, 9, []), report.summary()
    assert derivative_times(config) == made
    assert build_site(config).pages_written == 0


def test_a_build_after_an_upload_makes_no_derivative(config: Config, conn) -> None:
    job = db.create_job(conn, "Upload")
    derivatives = IngestDerivatives.from_config(config)
    for seed in range(3):
        data = io.BytesIO(photos.jpeg_bytes(2000, 1500, seed=seed))
        assert not ingest.ingest_stream(config, conn, job.id, data, derivatives=derivatives).duplicate
    made = derivative_times(config)
    assert len(made) == 3 * len(KINDS)
    report = build_site(config, job_id=job.id)
    assert (report.processed, report.skipped) == (0, 3), report.summary()
    assert derivative_times(config) == made


def test_the_daemon_publishes_an_upload_with_a_rebuild_that_makes_no_derivative(make_config, instance) -> None:
    config = make_config(**{"server.rebuild_delay_seconds": 0.2})
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        job = db.create_job(conn, "Daemon")
    parts = [FilePart(f"p{n}.jpg", photos.jpeg_bytes(1600, 1200, seed=n), content_type="image/jpeg") for n in range(2)]
    with running_daemon(instance / "config.yaml") as daemon:
        assert upload(f"{daemon.url}/api/jobs/{job.id}/images", parts, basic(*CREW)).status == 201
        wait_until(daemon, lambda: shown(config, job) == 2, 20)
        wait_until(daemon, lambda: f"rebuild-{job.id}: done" in daemon.log(), 10)
    assert "build: 0 photos processed, 2 skipped, 0 failed" in daemon.log()
    assert len(derivative_times(config)) == 2 * len(KINDS)  # made by the daemon's worker, not by the rebuild


def test_overlapping_uploads_make_their_own_derivatives_and_the_rebuild_makes_none(make_config, instance) -> None:
    """Eight uploads at once: each checked in its request, all derived by the one worker, none by the rebuild."""
    config = make_config(**{"server.rebuild_delay_seconds": 0.2, "server.threads": 8})
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        job = db.create_job(conn, "Two phones")
    sent = [FilePart(f"p{n}.jpg", photos.jpeg_bytes(3000, 2000, seed=n), content_type="image/jpeg") for n in range(8)]
    with running_daemon(instance / "config.yaml") as daemon:
        url = f"{daemon.url}/api/jobs/{job.id}/images"
        start = threading.Barrier(len(sent))

        def send(part: FilePart) -> int:
            start.wait()
            return upload(url, [part], basic(*CREW)).status

        with ThreadPoolExecutor(len(sent)) as pool:
            assert list(pool.map(send, sent)) == [201] * len(sent)
        wait_until(daemon, lambda: shown(config, job) == len(sent) and rebuilds_settled(daemon.log(), job), 60)
        log = daemon.log()
    assert_the_workers_made_every_derivative(config, log, len(sent))


def test_another_jobs_rebuild_leaves_photos_being_derived_to_the_workers(make_config, instance) -> None:
    """A job created while another's uploads are being derived: its rebuild neither makes nor shows them."""
    config = make_config(**{"server.rebuild_delay_seconds": 0.2})
    job = crew_and_job(config, "Busy")
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *BOSS, admin=True)
    sent = photo_parts("b", 8)
    with running_daemon(instance / "config.yaml") as daemon:
        send_each(daemon, job, sent)
        body = json.dumps({"title": "Next door"}).encode()
        headers = {"Content-Type": "application/json", **basic(*BOSS)}
        other = http("POST", f"{daemon.url}/api/jobs", body, headers).json()["id"]
        wait_until(daemon, lambda: shown(config, job) == len(sent) and f"rebuild-{other}: done" in daemon.log(), 60)
        log = daemon.log()
    assert_the_workers_made_every_derivative(config, log, len(sent))


def wait_until(daemon, done: Callable[[], bool], seconds: float) -> None:
    """Poll ``done`` every 50 ms; fail with the daemon's log after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, daemon.log()
        time.sleep(0.05)


def assert_the_workers_made_every_derivative(config: Config, log: str, photos_sent: int) -> None:
    """Each photo's derivatives were made after its upload, and no rebuild made any."""
    assert log.count("made after its upload") == photos_sent
    processed = [int(n) for n in re.findall(r"build: (\d+) photos? processed", log)]
    assert processed and sum(processed) == 0, log
    assert len(derivative_times(config)) == photos_sent * len(KINDS)


def crew_and_job(config: Config, title: str) -> db.Job:
    """A crew account (``CREW``) and a new job to upload into."""
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        return db.create_job(conn, title)


def photo_parts(prefix: str, count: int) -> list[FilePart]:
    """``count`` distinct 6 MP JPEGs to upload: big enough that deriving them takes a moment."""
    return [
        FilePart(f"{prefix}{n}.jpg", photos.jpeg_bytes(3000, 2000, seed=n), content_type="image/jpeg")
        for n in range(count)
    ]


def send_each(daemon, job: db.Job, parts: list[FilePart]) -> None:
    """Upload ``parts`` one request each, as the form's queue does; every one is stored."""
    for part in parts:
        assert upload(f"{daemon.url}/api/jobs/{job.id}/images", [part], basic(*CREW)).status == 201


def rebuilds_settled(log: str, job: db.Job) -> bool:
    return log.count(f"rebuild-{job.id}: started") == log.count(f"rebuild-{job.id}: done") > 0


# ---------------------------------------------------------------- the same bytes by every path


def test_derivatives_and_pages_are_the_same_bytes_whichever_path_made_them(make_config, tmp_path: Path) -> None:
    config = make_config(**{"build.workers": 2})
    with db.open_db(config.db_path) as conn:
        imported, uploaded = db.create_job(conn, "Imported"), db.create_job(conn, "Uploaded")
        card(tmp_path / "card")
        assert jobgallery(config, "import", str(tmp_path / "card"), "--job", str(imported.id)).returncode == 0
        derivatives = IngestDerivatives.from_config(config)
        for path in sorted((tmp_path / "card").iterdir()):
            with open(path, "rb") as stream:
                ingest.ingest_stream(config, conn, uploaded.id, stream, derivatives=derivatives)
    assert build_site(config).processed == 0
    by_ingest = output_files(config)
    assert build_site(config, full=True).processed == 18
    assert output_files(config) == by_ingest
    for path in config.paths.output.glob("jobs/*/*.jpg"):
        path.unlink()
    (config.paths.output / ".jobgallery-manifest.json").unlink()
    assert build_site(config).processed == 18
    assert output_files(config) == by_ingest


# ---------------------------------------------------------------- a crash between the row and the files

CHILD = """
import os, signal, sys
from generator.ingest_output import IngestDerivatives
from jobgallery import db, ingest
from jobgallery.config import load_config


class Killed(IngestDerivatives):
    def publish(self, conn, image, made):
        made.files = dict(list(made.files.items())[: int(sys.argv[3])])
        super().publish(conn, image, made)
        os.kill(os.getpid(), signal.SIGKILL)


config = load_config(sys.argv[1])
with db.open_db(config.db_path) as conn:
    ingest.ingest_stream(config, conn, int(sys.argv[2]), sys.stdin.buffer, derivatives=Killed.from_config(config))
"""


@pytest.mark.parametrize("written", [0, 1, 2])
def test_a_process_killed_between_storing_and_deriving_leaves_a_site_the_next_build_completes(
    make_config, written: int
) -> None:
    config = make_config()
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Killed")
    data = photos.jpeg_bytes(1600, 1200, seed=7, orientation=6)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(config.source), str(job.id), str(written)], input=data, timeout=120
    )
    assert child.returncode == -signal.SIGKILL
    with db.open_db(config.db_path) as conn:
        assert len(db.list_images(conn, job.id)) == 1
    assert len(derivative_times(config)) == written
    done = jobgallery(config, "build")
    assert done.returncode == 0, done.stderr
    assert shown(config, job) == 1
    assert len(derivative_times(config)) == len(KINDS)
    site = output_files(config)
    for path in derivative_times(config):
        Path(path).unlink()
    assert build_site(config, full=True).processed == 1
    assert output_files(config) == site


def test_a_daemon_killed_while_its_workers_derive_leaves_a_site_the_next_build_completes(make_config, instance) -> None:
    """kill -9 right after the last upload's answer: the photos are stored, some derivatives not yet written."""
    config = make_config()
    job = crew_and_job(config, "Killed daemon")
    sent = photo_parts("k", 3)
    with running_daemon(instance / "config.yaml") as daemon:
        send_each(daemon, job, sent)
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    with db.open_db(config.db_path) as conn:
        assert len(db.list_images(conn, job.id)) == len(sent)
    assert len(derivative_times(config)) < len(sent) * len(KINDS), "the kill came before the workers were done"
    done = jobgallery(config, "build")
    assert done.returncode == 0, done.stderr
    assert shown(config, job) == len(sent)
    assert len(derivative_times(config)) == len(sent) * len(KINDS)


def test_a_daemon_stopped_while_its_workers_derive_exits_cleanly_and_its_next_start_completes_the_site(
    make_config, instance
) -> None:
    config = make_config()
    job = crew_and_job(config, "Stopped daemon")
    sent = photo_parts("s", 6)
    with running_daemon(instance / "config.yaml") as daemon:
        send_each(daemon, job, sent)
        assert daemon.stop() == 0
        log = daemon.log()
    assert "Traceback" not in log and " ERROR " not in log, log
    with running_daemon(instance / "config.yaml") as daemon:
        wait_until(daemon, lambda: shown(config, job) == len(sent), 60)
    assert len(derivative_times(config)) == len(sent) * len(KINDS)


def test_settings_in_the_config_file_reach_the_ingest(make_config, tmp_path: Path) -> None:
    """The daemon and the import make derivatives with the configured sizes, so the build still finds them."""
    config = make_config(**{"images.display_size": 800, "images.thumb_size": 200})
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Sizes")
    write(tmp_path / "one" / "a.jpg", photos.jpeg_bytes(1600, 1200, seed=3))
    assert jobgallery(config, "import", str(tmp_path / "one"), "--job", str(job.id)).returncode == 0
    assert build_site(config).processed == 0
