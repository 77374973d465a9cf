"""Changes made on the command line reach the gallery by themselves, as uploads do.

``job add`` and ``import`` build what they changed before they return, so a
new job's page and imported photos are on the site without ``jobgallery
build`` and without a daemon running. The pages are checked through the
files the daemon (or Nginx) serves.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import photos
from conftest import cli_command

from jobgallery import db


def jobgallery(config, *args: str) -> subprocess.CompletedProcess:
    command = [*cli_command(), "--config", str(config.source), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def thumbnails(page: Path) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page.read_text(encoding="utf-8"))


def test_job_add_publishes_the_job_page_and_the_index_and_prints_only_the_id(config) -> None:
    result = jobgallery(config, "job", "add", "Roof, 12 Elm St")
    assert (result.returncode, result.stdout, result.stderr) == (0, "1\n", "")
    page = config.paths.output / "jobs" / "1-roof-12-elm-st" / "index.html"
    assert page.is_file() and "Roof, 12 Elm St" in page.read_text(encoding="utf-8")
    assert 'href="jobs/1-roof-12-elm-st/"' in (config.paths.output / "index.html").read_text(encoding="utf-8")


def test_import_publishes_its_photos_without_a_build(config, tmp_path: Path) -> None:
    assert jobgallery(config, "job", "add", "Porch").returncode == 0
    for i in range(3):
        (tmp_path / "card").mkdir(exist_ok=True)
        (tmp_path / "card" / f"IMG_{i}.JPG").write_bytes(photos.jpeg_bytes(320, 240, seed=400 + i))
    result = jobgallery(config, "import", str(tmp_path / "card"), "--job", "1")
    assert result.returncode == 0, result.stderr
    assert re.match(r"build: \d+ photos processed, \d+ skipped, 0 failed", result.stdout.splitlines()[-1])
    page = config.paths.output / "jobs" / "1-porch" / "index.html"
    shown = thumbnails(page)
    assert len(shown) == 3 and all((page.parent / src).is_file() for src in shown)
    index = (config.paths.output / "index.html").read_text(encoding="utf-8")
    assert '<span class="count">3 photos</span>' in index


def test_an_import_of_only_duplicates_builds_nothing(config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Again")
    (tmp_path / "card").mkdir()
    (tmp_path / "card" / "a.jpg").write_bytes(photos.jpeg_bytes(seed=410))
    assert jobgallery(config, "import", str(tmp_path / "card"), "--job", str(job.id)).returncode == 0
    again = jobgallery(config, "import", str(tmp_path / "card"), "--job", str(job.id))
    assert (again.returncode, again.stdout) == (0, "imported 0, duplicates 1, refused 0\n")


def test_job_add_succeeds_when_photos_of_other_jobs_fail_to_render(config, conn) -> None:
    """A row whose master is gone (a crash, a card pulled) fails in every build; it must not fail ``job add``."""
    broken = db.create_job(conn, "Broken")
    db.insert_image(conn, job_id=broken.id, filename="gone.jpg", sha256="0" * 64, byte_size=1, width=1, height=1)
    result = jobgallery(config, "job", "add", "Fence")
    assert (result.returncode, result.stdout) == (0, "2\n")
    assert result.stderr == "jobgallery: 1 photo(s) of other jobs failed to render; 'build' lists them\n"
    assert (config.paths.output / "jobs" / "2-fence" / "index.html").is_file()


def test_with_a_bucket_set_job_add_and_import_reach_the_bucket_too(s3, make_config, tmp_path: Path) -> None:
    """As the daemon mirrors the bucket after a rebuild, the commands mirror it after theirs (real S3 server)."""
    from s3_support import bucket_objects, publish_settings

    bucket = s3.new_bucket()
    config = make_config(**publish_settings(s3, bucket))
    added = jobgallery(config, "job", "add", "Roof")
    assert (added.returncode, added.stdout, added.stderr) == (0, "1\n", "")
    keys = set(bucket_objects(s3.client(), bucket, "depot-north/"))
    assert {"depot-north/index.html", "depot-north/jobs/1-roof/index.html"} <= keys
    (tmp_path / "card").mkdir()
    (tmp_path / "card" / "a.jpg").write_bytes(photos.jpeg_bytes(320, 240, seed=420))
    imported = jobgallery(config, "import", str(tmp_path / "card"), "--job", "1")
    assert imported.returncode == 0 and imported.stdout.splitlines()[-1].startswith("publish: "), imported.stderr
    shown = thumbnails(config.paths.output / "jobs" / "1-roof" / "index.html")
    keys = set(bucket_objects(s3.client(), bucket, "depot-north/"))
    assert len(shown) == 1 and f"depot-north/jobs/1-roof/{shown[0]}" in keys
