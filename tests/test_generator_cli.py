"""``jobgallery build`` as admins and systemd timers run it, including two at once."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import time
from pathlib import Path

import photos
import pytest
from conftest import cli_command
from generator_support import add_photo, snapshot
from PIL import Image

from jobgallery import db, locks, storage

SUMMARY = re.compile(
    r"build: (\d+) photos processed, (\d+) skipped, (\d+) failed; (\d+) pages written, (\d+) files removed in [\d.]+ s"
)


def command(config, *args: str) -> list[str]:
    return [*cli_command(), "--config", str(config.source), "build", *args]


def run(config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(config, *args), capture_output=True, text=True, timeout=120)


@pytest.fixture
def job(config):
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Roof")
        for seed in range(8):
            add_photo(config, conn, job.id, seed=seed, description=f"photo {seed}")
    return job


def counts(stdout: str) -> tuple[int, ...]:
    match = SUMMARY.fullmatch(stdout.strip())
    assert match, stdout
    return tuple(int(n) for n in match.groups())


def test_build_prints_one_summary_line(config, job) -> None:
    result = run(config)
    assert result.returncode == 0, result.stderr
    assert counts(result.stdout) == (8, 0, 0, 2, 0)
    assert result.stderr == ""
    again = run(config, "--job", str(job.id))
    assert again.returncode == 0 and counts(again.stdout) == (0, 8, 0, 0, 0)


def test_full_rebuild(config, job) -> None:
    run(config)
    result = run(config, "--full")
    assert result.returncode == 0 and counts(result.stdout)[:3] == (8, 0, 0)


def test_failed_photo_exits_1_and_names_it(config, job) -> None:
    with db.open_db(config.db_path) as conn:
        add_photo(config, conn, job.id, data=b"\xff\xd8\xff\xe0 cut short", filename="broken.jpg")
    result = run(config)
    assert result.returncode == 1
    assert counts(result.stdout)[:3] == (8, 0, 1)
    assert re.fullmatch(r"jobgallery: broken\.jpg: .+\n", result.stderr), result.stderr


def test_unknown_job_is_one_clear_line(config) -> None:
    result = run(config, "--job", "42")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "jobgallery: job 42 does not exist\n"


def test_progress_bar_on_a_terminal(config, job) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(command(config), stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    stdout, _ = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 0
    assert b"building photos [" in seen and b"8/8" in seen
    assert counts(stdout.decode())[0] == 8


def test_a_build_waits_for_the_lock(config, job) -> None:
    with locks.maintenance_lock(config.paths.data):
        process = subprocess.Popen(command(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert process.poll() is None
        assert not (config.paths.output / "index.html").exists()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert counts(stdout)[0] == 8


def test_two_builds_at_once_do_not_collide(config, job) -> None:
    processes = [
        subprocess.Popen(command(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], results
    processed = sorted(counts(stdout)[0] for stdout, _ in results)
    assert processed == [0, 8], "the second build must find the first one's work done"
    assert_consistent(config.paths.output)
    before = snapshot(config.paths.output)
    assert counts(run(config).stdout)[:4] == (0, 8, 0, 0)
    assert snapshot(config.paths.output) == before


def assert_consistent(output: Path) -> None:
    """No temp files; every page's references exist (or are the daemon's: upload form, zips); every image decodes."""
    files = snapshot(output)
    assert not [path for path in files if storage.is_temp(Path(path).name)]
    for path, (_, data) in files.items():
        if path.endswith(".html"):
            folder = Path(path).parent
            for ref in re.findall(r'(?:src|href)="([^"/][^"]*)"', data.decode()):
                target = os.path.normpath(folder / ref.split("#")[0].split("?")[0])
                present = target in files or f"{target}/index.html" in files
                assert present or target in (".", "upload") or target.endswith("-photos.zip"), (path, ref)
        elif path.endswith(".jpg"):
            Image.open(io.BytesIO(data)).load()


def test_new_photo_through_the_cli(config, job) -> None:
    run(config)
    with db.open_db(config.db_path) as conn:
        add_photo(config, conn, job.id, data=photos.encoded("PNG", 300, 200, seed=4), filename="drawing.png")
    result = run(config, "--job", str(job.id))
    assert counts(result.stdout)[:4] == (1, 8, 0, 2)


def test_broken_override_template_is_one_line_and_exit_1(make_config, instance) -> None:
    custom = instance / "my-templates"
    custom.mkdir()
    (custom / "job.html").write_text('{% extends "base.html" %}\n{% block content %}{{ job.title }\n{% endblock %}')
    config = make_config(gallery__templates=str(custom))
    with db.open_db(config.db_path) as conn:
        add_photo(config, conn, db.create_job(conn, "Roof").id, seed=1)
    result = run(config)
    assert (result.returncode, result.stdout) == (1, "")
    expected = f"jobgallery: template {custom / 'job.html'}, line 2: unexpected '}}'\n"
    assert result.stderr == expected
