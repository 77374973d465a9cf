"""The decode budget: first come, first served inside a process, and one budget for every process on the box.

Cross-process tests use real processes holding real byte-range locks on the
budget file, and a real ``jobgallery build`` whose worker processes decode
real PNGs.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import cli_command
from generator_support import add_photo
from ingest_support import zero_png

from jobgallery import db
from jobgallery.decode_budget import BUDGET_FILE, MIB, DecodeBudget

HOLDER = r"""
import sys, time
from pathlib import Path
from jobgallery.decode_budget import DecodeBudget, MIB
with DecodeBudget(Path(sys.argv[1])).hold(int(sys.argv[2]) * MIB, int(sys.argv[3]) * MIB):
    print("held", flush=True)
    time.sleep(60)
"""


def test_the_decode_budget_is_shared_first_come_first_served() -> None:
    budget = DecodeBudget()
    order: list[str] = []
    inside = {name: threading.Event() for name in ("small", "big", "tiny")}
    leave = threading.Event()

    def decode(name: str, cost: int) -> None:
        with budget.hold(cost, 100):
            order.append(name)
            inside[name].set()
            leave.wait(timeout=20)

    def start(name: str, cost: int) -> threading.Thread:
        thread = threading.Thread(target=decode, args=(name, cost))
        thread.start()
        return thread

    with budget.hold(60, 100):
        started = [start("small", 30)]
        assert inside["small"].wait(timeout=10), "30 fits beside 60"
        started.append(start("big", 60))
        time.sleep(0.1)
        started.append(start("tiny", 10))
        assert not inside["tiny"].wait(timeout=0.3), "10 would fit, but waits behind the 60 that came first"
        assert not inside["big"].is_set()
    assert inside["big"].wait(timeout=10) and inside["tiny"].wait(timeout=10)
    assert order == ["small", "big", "tiny"] and budget.held == 100
    leave.set()
    for thread in started:
        thread.join(timeout=10)
    assert budget.held == 0


def holder(path: Path, mib: int, budget_mib: int) -> subprocess.Popen:
    """Another process holding ``mib`` of a ``budget_mib`` budget shared through ``path``, until killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(mib), str(budget_mib)], stdout=subprocess.PIPE
    )
    assert process.stdout.readline() == b"held\n"
    return process


def waits_for_budget(budget: DecodeBudget, mib: int, budget_mib: int) -> tuple[threading.Event, threading.Event]:
    """Start a thread asking for ``mib``; return (got it, let go)."""
    got, release = threading.Event(), threading.Event()

    def run() -> None:
        with budget.hold(mib * MIB, budget_mib * MIB):
            got.set()
            release.wait(timeout=30)

    threading.Thread(target=run, daemon=True).start()
    return got, release


@pytest.mark.parametrize("end", [signal.SIGTERM, signal.SIGKILL])
def test_another_process_share_counts_and_comes_back_when_it_dies(tmp_path: Path, end: int) -> None:
    path = tmp_path / "data" / BUDGET_FILE
    other = holder(path, 300, 384)
    mine = DecodeBudget(path)
    got, release = waits_for_budget(mine, 200, 384)
    try:
        assert not got.wait(timeout=1.0), "300 + 200 MiB is over a 384 MiB budget shared by two processes"
        small, small_release = waits_for_budget(DecodeBudget(path), 80, 384)
        assert not small.wait(timeout=0.3), "the gate is first come, first served across processes too"
        other.send_signal(end)
        other.wait(timeout=10)
        assert got.wait(timeout=5), "a holder that died gave its share back"
        assert small.wait(timeout=5), "200 + 80 fits in 384"
        small_release.set()
    finally:
        release.set()
        other.kill()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_what_fits_runs_at_once_across_processes(tmp_path: Path) -> None:
    path = tmp_path / BUDGET_FILE
    other = holder(path, 100, 384)
    try:
        got, release = waits_for_budget(DecodeBudget(path), 284, 384)
        assert got.wait(timeout=5), "100 + 284 MiB is exactly the budget"
        release.set()
    finally:
        other.kill()
        other.wait(timeout=10)


def test_a_build_and_its_workers_wait_for_the_box_wide_budget(make_config, tmp_path: Path) -> None:
    """A real ``jobgallery build`` (two worker processes, four PNG masters) decodes only within what is left."""
    config = make_config(build__workers=2, images__max_decode_mb=20)
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Roof")
        for n in range(4):  # 2000 px wide, 11.4 MiB to decode each: over the free 8 MiB
            add_photo(config, conn, job.id, zero_png(2000 + n, 2000), filename=f"img_{n}.png", size=(2000 + n, 2000))
    shared = DecodeBudget(config.paths.data / BUDGET_FILE)
    command = [*cli_command(), "--config", str(config.source), "build"]
    with shared.hold(20 * MIB, 20 * MIB):
        build = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert build.poll() is None, "the build decoded while the whole budget was held elsewhere"
        assert not list(config.paths.output.rglob("*-display-*.jpg"))
    out, err = build.communicate(timeout=120)
    assert build.returncode == 0, err
    assert "4 photos processed" in out
    assert os.path.exists(config.paths.data / BUDGET_FILE)
