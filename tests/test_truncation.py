"""Files that end early are refused in every accepted format, on every path in; whole ones never are."""

from __future__ import annotations

import io
import subprocess
from collections import Counter
from pathlib import Path

import photos
import pytest
import yaml
from conftest import cli_command, nest
from daemon_support import FilePart, basic, running_daemon, stored_files, upload
from ingest_support import nothing_stored, write
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
        refused = sorted(line.split(":")[0].removeprefix("refused DCIM/") for line in result.stdout.splitlines()[:-1])
        assert result.returncode == 1, result.stderr
        assert refused == sorted(TRUNCATED)
        assert result.stdout.splitlines()[-1] == f"imported {len(WHOLE)}, duplicates 0, refused {len(TRUNCATED)}"
        assert len(db.list_images(conn, job.id)) == len(WHOLE) == len(stored_files(config.paths.data))
