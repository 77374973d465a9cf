"""One memory budget for big decodes, shared by every process on the box.

A big decode (a PNG, WebP or HEIC, a progressive JPEG) holds its cost in
bytes while it runs. ``images.max_decode_mb`` bounds the sum of what all
decodes hold at once: the daemon's threads, the build's worker processes, a
``jobgallery build`` or ``import`` run by a timer beside the daemon.

Two layers:

- Inside a process, decodes queue first come, first served and run together
  while their costs add up to at most the budget (to the byte).
- Across processes, the budget is a file under ``data/`` (``.decode-budget``)
  whose bytes 1..N stand for N MiB. A decode locks one byte per MiB it needs
  with an open file description lock (``F_OFD_SETLK``), on a file descriptor
  of its own that it closes when done. Byte 0 is a gate: only its holder
  takes slots, so two processes never each hold half of what both need. The
  kernel drops the locks of a process that dies, even by SIGKILL, so a
  killed holder never leaks its share.

One decode over the whole budget never gets here (``images.decoding``
refuses it first); a decode alone always runs, so a smaller budget in
another caller cannot stall it.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import math
import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from jobgallery.storage import ensure_dir

log = logging.getLogger("jobgallery.decode_budget")

MIB = 1 << 20
BUDGET_FILE = ".decode-budget"
# What a unit's MemoryMax must leave room for besides the budget (bench/memory_budget.py, 2 workers):
# the daemon (about 48 MiB), fork server (12), resource tracker (31) and two idle workers (40 each).
RESIDENT_MIB = 192
GATE = 0
# struct flock: l_type, l_whence, l_start, l_len, l_pid, padded to its alignment ("0q"); off_t is 64-bit.
FLOCK = "hhqqi0q"


class DecodeBudget:
    """Lets big decodes run together only while their costs add up to at most the budget.

    Without a file (``share_through`` not called) the budget is this
    process's alone; with one, it is the box's.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._changed = threading.Condition()
        self._held = 0
        self._queue: collections.deque[object] = collections.deque()

    def share_through(self, path: Path | None) -> None:
        """Share the budget with every process that uses the same file (``data/.decode-budget``)."""
        self.path = path

    @contextlib.contextmanager
    def hold(self, cost: int, budget: int) -> Iterator[None]:
        """Wait for ``cost`` bytes of ``budget`` here and box-wide, hold them for the block, then give them back."""
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            self._changed.wait_for(lambda: self._queue[0] is ticket and self.fits(cost, budget))
        try:
            share = self.take_share(cost, budget)
        finally:
            with self._changed:
                self._queue.popleft()
                self._held += cost
                self._changed.notify_all()
        try:
            yield
        finally:
            if share is not None:
                os.close(share)
            with self._changed:
                self._held -= cost
                self._changed.notify_all()

    def take_share(self, cost: int, budget: int) -> int | None:
        """The box-wide part: a descriptor holding the slots, or None when the budget is this process's alone.

        A budget file that cannot be opened (a read-only ``data/``) leaves the
        process on its own budget, with one warning in the log.
        """
        if self.path is None:
            return None
        try:
            return take_slots(self.path, math.ceil(cost / MIB), budget // MIB)
        except OSError as exc:
            log.warning("decode budget shared through %s is unusable (%s); this process keeps its own", self.path, exc)
            self.path = None
            return None

    def fits(self, cost: int, budget: int) -> bool:
        return self._held == 0 or self._held + cost <= budget

    @property
    def held(self) -> int:
        """Bytes held by this process's decodes running now."""
        return self._held


DECODES = DecodeBudget()


def share_box_wide(data_dir: Path) -> None:
    """Make this process's decodes share the budget with every process using ``data_dir``."""
    DECODES.share_through(data_dir / BUDGET_FILE)


# ---------------------------------------------------------------- the shared file


def take_slots(path: Path, units: int, capacity: int) -> int:
    """Lock ``units`` of the file's ``capacity`` one-MiB slots; return the descriptor that holds them.

    Closing the descriptor gives them back. ``units`` is cut to ``capacity``
    (a cost within the budget never needs more). Raises OSError when the file
    cannot be opened or locked.
    """
    units = min(units, max(capacity, 1))
    fd = open_budget_file(path)
    try:
        lock(fd, fcntl.F_OFD_SETLKW, fcntl.F_WRLCK, GATE)
        taken = take_free(fd, range(1, max(capacity, 1) + 1), units)
        lock(fd, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, GATE)
    except BaseException:
        os.close(fd)
        raise
    log.debug("took %d of %d MiB slots in %s: %s", len(taken), capacity, path, taken[:3])
    return fd


def take_free(fd: int, slots: range, units: int) -> list[int]:
    """Take free slots first; while short, wait for a busy one, then look again (only the gate holder takes)."""
    taken: list[int] = []
    busy = list(slots)
    while True:
        waiting = []
        for slot in busy:
            if len(taken) < units and try_lock(fd, slot):
                taken.append(slot)
            else:
                waiting.append(slot)
        if len(taken) == units:
            return taken
        lock(fd, fcntl.F_OFD_SETLKW, fcntl.F_WRLCK, waiting[0])
        taken.append(waiting[0])
        busy = waiting[1:]


def try_lock(fd: int, slot: int) -> bool:
    try:
        lock(fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, slot)
    except (BlockingIOError, PermissionError):
        return False
    return True


def lock(fd: int, command: int, kind: int, slot: int) -> None:
    """One byte-range lock owned by the open file description (not the process): threads do not share it."""
    fcntl.fcntl(fd, command, struct.pack(FLOCK, kind, os.SEEK_SET, slot, 1, 0))


def open_budget_file(path: Path) -> int:
    """The budget file, made private on first use; its bytes are never written, only locked."""
    ensure_dir(path.parent, private=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
