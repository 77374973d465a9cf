"""Atomic writes and the lock: nothing half-written, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jobgallery import locks, storage
from jobgallery.errors import LockBusy


def test_atomic_write_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "page.html"
    storage.atomic_write(target, b"old")
    storage.atomic_write(target, [b"n", b"ew"])
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["page.html"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    storage.atomic_write(target, b"old")

    def chunks():
        yield b"half"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        storage.atomic_write(target, chunks())
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_temp_files_are_recognisable(tmp_path: Path) -> None:
    temp = storage.temp_path(tmp_path, ".jpg")
    assert storage.is_temp(temp.name) and temp.parent == tmp_path
    assert not storage.is_temp("img_20260101_000000_abcdef012345.jpg")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "..\\x", "x\0y"])
def test_master_paths_refuse_anything_but_a_plain_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        storage.master_path(tmp_path, 1, name)


def test_master_layout(tmp_path: Path) -> None:
    assert storage.master_path(tmp_path, 7, "a.jpg") == tmp_path / "images" / "job_7" / "a.jpg"


def test_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with locks.maintenance_lock(tmp_path):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    with pytest.raises(LockBusy), locks.maintenance_lock(tmp_path, wait=False):
        pass
    started = time.monotonic()
    threading.Timer(0.3, release.set).start()
    with locks.maintenance_lock(tmp_path, timeout=5):
        assert time.monotonic() - started >= 0.25
    thread.join()


def test_a_restart_removes_only_temps_whose_writer_is_dead(tmp_path: Path) -> None:
    folder = storage.ensure_dir(storage.job_folder(tmp_path, 1))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    mine = storage.temp_path(folder, ".jpg")
    mine.write_bytes(b"in flight")
    theirs = folder / mine.name.replace(f"{os.getpid()}-", f"{dead.stdout.strip()}-")
    theirs.write_bytes(b"cut off")
    kept = folder / "img_20260101_000000_abcdef012345.jpg"
    kept.write_bytes(b"photo")
    assert storage.temp_owner(mine.name) == os.getpid()
    assert storage.remove_dead_temps(tmp_path) == [theirs]
    assert sorted(p.name for p in folder.iterdir()) == sorted([mine.name, kept.name])


def test_a_living_pid_that_started_after_the_temp_was_written_is_not_its_writer(tmp_path: Path) -> None:
    folder = storage.ensure_dir(storage.job_folder(tmp_path, 1))
    reused = storage.temp_path(folder, ".jpg")
    reused.write_bytes(b"left by a writer that died before a power cut")
    long_ago = time.time() - 10 * 24 * 3600
    os.utime(reused, (long_ago, long_ago))
    fresh = storage.temp_path(folder, ".jpg")
    fresh.write_bytes(b"being written now")
    assert storage.temp_is_dead(reused) and not storage.temp_is_dead(fresh)
    assert storage.remove_dead_temps(tmp_path) == [reused]
