"""Private files stay private whatever the umask: the database, masters with GPS, backups and archives.

Each test runs the real command in a subprocess under a permissive umask (0o000,
the worst case: nothing taken away) and reads the modes back from disk.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import photos
import pytest
from conftest import cli_command
from daemon_support import FilePart, basic, running_daemon, upload

from jobgallery import db, users

PERMISSIVE = 0o000


def run(config, *args: str, umask: int = PERMISSIVE, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``jobgallery ARGS`` as an admin with ``umask`` runs it."""
    command = [*cli_command(), "--config", str(config.source), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, input=stdin, preexec_fn=lambda: os.umask(umask)
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): mode(path) for path in [folder, *folder.rglob("*")]}


def a_site(make_config, tmp_path: Path):
    """A fresh site: the first command creates ``data/``; then a job, an imported photo with GPS and a build."""
    config = make_config()
    card = tmp_path / "card"
    card.mkdir()
    (card / "IMG_0001.jpg").write_bytes(photos.jpeg_bytes(640, 480, gps=(52.5, 13.4)))
    assert run(config, "job", "add", "Roof").returncode == 0
    result = run(config, "import", str(card), "--job", "1")
    assert result.returncode == 0, result.stderr
    assert run(config, "build").returncode == 0
    return config


def test_data_the_database_and_masters_are_private_whatever_the_umask(make_config, tmp_path):
    config = a_site(make_config, tmp_path)
    found = modes_under(config.paths.data)
    folders = {name: m for name, m in found.items() if (config.paths.data / name).is_dir()}
    files = {name: m for name, m in found.items() if (config.paths.data / name).is_file()}
    assert set(folders.values()) == {0o700}, folders
    assert {name: m for name, m in files.items() if not name.endswith(".lock")} == dict.fromkeys(
        [n for n in files if not n.endswith(".lock")], 0o600
    )
    assert any(name.startswith("images/job_1/img_") for name in files) and "jobgallery.db" in files
    published = [p for p in config.paths.output.rglob("*.jpg")]
    assert published and all(mode(p) & 0o004 for p in published), "the public site stays readable"


def test_backup_writes_the_database_0600_and_folders_0700(make_config, tmp_path):
    config = a_site(make_config, tmp_path)
    dest = tmp_path / "usb" / "box"
    (tmp_path / "usb").mkdir(mode=0o755)
    result = run(config, "backup", str(dest), "--verify")
    assert result.returncode == 0, result.stderr
    found = modes_under(dest)
    assert {n: m for n, m in found.items() if (dest / n).is_dir()} == dict.fromkeys(
        [n for n in found if (dest / n).is_dir()], 0o700
    )
    assert {n: m for n, m in found.items() if (dest / n).is_file()} == dict.fromkeys(
        [n for n in found if (dest / n).is_file()], 0o600
    )
    assert "jobgallery.db" in found and any(n.startswith("images/job_1/") for n in found)


def test_a_backup_into_an_existing_open_folder_still_keeps_its_files_private(make_config, tmp_path):
    config = a_site(make_config, tmp_path)
    dest = tmp_path / "shared"
    dest.mkdir()
    os.chmod(dest, 0o755)
    assert run(config, "backup", str(dest)).returncode == 0
    assert mode(dest / "jobgallery.db") == 0o600 and mode(dest / "images") == 0o700
    assert mode(next((dest / "images").rglob("img_*"))) == 0o600


def test_an_archive_of_a_job_is_private(make_config, tmp_path):
    config = a_site(make_config, tmp_path)
    assert run(config, "archive", "--job", "1").returncode == 0
    archives = list(config.paths.archive.glob("*.tar"))
    assert archives and all(mode(p) == 0o600 for p in archives)
    assert mode(config.paths.archive) == 0o700


def test_masters_are_private_in_a_data_folder_made_open_by_hand(make_config, tmp_path):
    """An operator's ``mkdir data`` (0755, or a mount point) must not open the job folders of masters."""
    config = make_config()
    config.paths.data.mkdir(mode=0o755)
    os.chmod(config.paths.data, 0o755)
    a_site(lambda: config, tmp_path)
    job_folder = config.paths.data / "images" / "job_1"
    assert mode(job_folder) == 0o700
    assert {mode(p) for p in job_folder.iterdir()} == {0o600}


def test_restored_masters_are_private(make_config, tmp_path):
    config = a_site(make_config, tmp_path)
    assert run(config, "archive", "--job", "1").returncode == 0
    result = run(config, "restore", str(next(config.paths.archive.glob("*.tar"))))
    assert result.returncode == 0, result.stderr
    masters = list((config.paths.data / "images").rglob("img_*"))
    assert masters and {mode(p) for p in masters} == {0o600}
    assert mode(config.paths.data / "images" / "job_1") == 0o700


def test_an_existing_database_is_opened_as_it_is(make_config):
    """Modes an admin chose for an existing database are left alone; only new files are made private."""
    config = make_config()
    config.paths.data.mkdir(mode=0o750)
    with db.open_db(config.db_path):
        pass
    os.chmod(config.db_path, 0o640)
    with db.open_db(config.db_path):
        pass
    assert mode(config.db_path) == 0o640 and mode(config.paths.data) == 0o750


def assert_public(output: Path) -> None:
    """Every folder of the public site 0755 and every file 0644: readable by the web server, writable by nobody else."""
    found = modes_under(output)
    folders = {n: m for n, m in found.items() if (output / n).is_dir()}
    files = {n: m for n, m in found.items() if (output / n).is_file() and not n.endswith(".lock")}
    assert any(n.startswith("jobs/") and n.count("/") == 1 for n in folders), folders
    assert any(n.endswith(".jpg") for n in files) and "index.html" in files, files
    assert set(folders.values()) == {0o755}, folders
    assert set(files.values()) == {0o644}, {n: oct(m) for n, m in files.items() if m != 0o644}


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_a_build_makes_the_public_site_0755_and_0644_whatever_the_umask(make_config, tmp_path, umask):
    config = make_config(**{"gallery.public_index": True})
    card = tmp_path / "card"
    card.mkdir()
    (card / "IMG_0001.jpg").write_bytes(photos.jpeg_bytes(640, 480))
    assert run(config, "job", "add", "Roof", umask=umask).returncode == 0
    assert run(config, "import", str(card), "--job", "1", umask=umask).returncode == 0
    result = run(config, "build", umask=umask)
    assert result.returncode == 0, result.stderr
    assert_public(config.paths.output)


def test_the_daemon_makes_the_public_site_0755_and_0644_whatever_the_umask(make_config, instance):
    config = make_config(**{"gallery.public_index": True, "server.rebuild_delay_seconds": 0.2})
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, "crew", "crew-password-1", admin=False)
        job = db.create_job(conn, "Roof, 12 Elm St")
    before = os.umask(PERMISSIVE)  # the daemon inherits it when it starts
    try:
        with running_daemon(instance / "config.yaml") as daemon:
            os.umask(before)
            part = FilePart("IMG_0001.jpg", photos.jpeg_bytes(640, 480), content_type="image/jpeg")
            reply = upload(f"{daemon.url}/api/jobs/{job.id}/images", [part], basic("crew", "crew-password-1"))
            assert reply.status == 201, reply.body
            page = config.paths.output / job.gallery_path(True) / "index.html"
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and "<img" not in (page.read_text() if page.is_file() else ""):
                time.sleep(0.1)
    finally:
        os.umask(before)
    assert_public(config.paths.output)
