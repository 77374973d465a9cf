"""One lock file for every process that writes ``output/`` or moves masters.

A systemd timer's ``jobgallery build`` and the daemon's scheduled rebuild, or
archive and cleanup, must never run at once. ``flock`` is released by the
kernel when a process dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from jobgallery.errors import LockBusy
from jobgallery.storage import ensure_dir

LOCK_NAME = ".maintenance.lock"


def lock_path(data_dir: Path) -> Path:
    return data_dir / LOCK_NAME


@contextlib.contextmanager
def maintenance_lock(data_dir: Path, wait: bool = True, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock for the block; wait for it (up to ``timeout`` seconds) or raise LockBusy."""
    path = lock_path(ensure_dir(data_dir, private=True))
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        acquire(fd, wait, timeout)
        yield
    finally:
        os.close(fd)


def acquire(fd: int, wait: bool, timeout: float | None) -> None:
    if wait and timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + (timeout or 0)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not wait or time.monotonic() >= deadline:
                raise LockBusy("another jobgallery process is building or doing maintenance") from None
            time.sleep(0.1)
