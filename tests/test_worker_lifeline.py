"""Workers die with their owner: kill -9 of a build or of the daemon leaves no process behind.

Real processes throughout: a real ``jobgallery build --full`` or ``serve`` with
a pool of two workers, its descendants read from /proc while they work, then
SIGKILL to the owner alone, and every descendant (fork server, resource
tracker, workers) must be gone within a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import photos
from conftest import cli_command, free_port
from daemon_support import set_listen_address

from jobgallery import db
from jobgallery.ingest import ingest_path

PHOTOS = 24
GONE_WITHIN = 5.0


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def descendants(pid: int) -> set[int]:
    """Every process under ``pid`` right now, children of children included."""
    parents = {int(d.name): parent_of(int(d.name)) for d in Path("/proc").iterdir() if d.name.isdigit()}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def running(pid: int) -> bool:
    """Still there and not a zombie waiting for a reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def busy_site(make_config, tmp_path: Path):
    """A site with many unbuilt photos, so a full build keeps two workers busy for a while."""
    config = make_config(build__workers=2)
    card = tmp_path / "card"
    card.mkdir()
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Roof")
        for n in range(PHOTOS):
            path = card / f"p{n}.jpg"
            path.write_bytes(photos.jpeg_bytes(2400, 1800, seed=n))
            ingest_path(config, conn, job.id, path)
    return config


def kill_when_workers_run(process: subprocess.Popen, timeout: float = 60) -> set[int]:
    """Wait for the pool (tracker, fork server, two workers), SIGKILL the owner alone; return its descendants."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        family = descendants(process.pid)
        if len(family) >= 4:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            return family
        assert process.poll() is None, "the owner ended before its pool started"
        time.sleep(0.02)
    process.kill()
    raise AssertionError("no pool of workers appeared")


def assert_all_gone(family: set[int]) -> None:
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline and any(running(pid) for pid in family):
        time.sleep(0.05)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:80] for pid in family if running(pid)}
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running {GONE_WITHIN} s after the owner was killed: {left}"


def test_kill_9_of_build_full_takes_its_workers_along(make_config, tmp_path):
    config = busy_site(make_config, tmp_path)
    command = [*cli_command(), "--config", str(config.source), "build", "--full"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert_all_gone(kill_when_workers_run(process))


def test_kill_9_of_the_daemon_during_its_rebuild_takes_its_workers_along(make_config, tmp_path):
    config = busy_site(make_config, tmp_path)
    set_listen_address(config.source, free_port())
    command = [*cli_command(), "--config", str(config.source), "serve"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert_all_gone(kill_when_workers_run(process))


def test_kill_9_of_an_import_takes_its_workers_along(make_config, tmp_path):
    config = make_config(build__workers=2)
    card = tmp_path / "card"
    card.mkdir()
    for n in range(PHOTOS):
        (card / f"p{n}.jpg").write_bytes(photos.jpeg_bytes(2400, 1800, seed=n))
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Roof")
    command = [*cli_command(), "--config", str(config.source), "import", str(card), "--job", str(job.id)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert_all_gone(kill_when_workers_run(process))
