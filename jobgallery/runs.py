"""What the health page and ``jobgallery status`` know of past runs: builds, backups, archives, cleanups.

Each run leaves one row in the ``run`` table: its task (``build``,
``backup``, ``archive``, ``cleanup``, ``restore``), when it started and
finished (UTC, ISO seconds), whether it succeeded and its one-line summary.
Whoever ran it (the daemon's rebuilds and timers, a command typed at the
shell, the systemd timers' commands) records it the same way.

A run that failed because the disk is full may not be recordable either: a
record that cannot be written is given up (the run's own error is the one
that matters, and the caller still sees it) and logged. A run refused before
it started (an unknown job, a bad argument) is not a run and leaves no row.
A quiet run (a build that found nothing to do) is recorded only when the
last run of its task failed: the daemon builds after every burst of uploads,
and a no-op build should not cost a database write.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobgallery import db
from jobgallery.errors import NotFound, UsageError

log = logging.getLogger("jobgallery.runs")

KEEP_PER_TASK = 200
MAX_SUMMARY = 1000
MAX_NAMED = 3


@dataclass(frozen=True)
class Run:
    id: int
    task: str
    started_at: str
    finished_at: str
    ok: int
    summary: str


class Recorder:
    """Collects a run's outcome for ``recorded``: ``done(report)`` takes any object with ``ok`` and ``summary()``."""

    def __init__(self) -> None:
        self.ok = True
        self.summary = ""
        self.quiet = False

    def done(self, report: object, quiet: bool = False) -> None:
        """Take the outcome of a build's or a maintenance report, with the first failures named."""
        self.quiet = quiet
        self.ok = bool(getattr(report, "ok", True))
        failures = failure_lines(report)
        named = f"; failed: {'; '.join(failures[:MAX_NAMED])}" if failures else ""
        more = f" and {len(failures) - MAX_NAMED} more" if len(failures) > MAX_NAMED else ""
        self.summary = f"{report.summary()}{named}{more}"


def failure_lines(report: object) -> list[str]:
    """A maintenance report's ``failures`` (lines), or a build report's ``failed`` (name, reason) pairs."""
    if isinstance(getattr(report, "failures", None), list):
        return report.failures
    failed = getattr(report, "failed", None)
    return [f"{name}: {why}" for name, why in failed] if isinstance(failed, list) else []


@contextlib.contextmanager
def recorded(db_path: Path, task: str) -> Iterator[Recorder]:
    """Record the run of the block: its outcome from ``done``, or the exception that ended it (re-raised)."""
    started = db.now_iso()
    recorder = Recorder()
    try:
        yield recorder
    except (UsageError, NotFound):
        raise
    except BaseException as exc:
        save(db_path, task, started, False, f"{task} stopped: {exc or type(exc).__name__}")
        raise
    if recorder.quiet and recorder.ok and not last_failed(db_path, task):
        return
    save(db_path, task, started, recorder.ok, recorder.summary or f"{task}: done")


def last_failed(db_path: Path, task: str) -> bool:
    try:
        with db.open_db(db_path) as conn:
            found = last(conn, task)
    except sqlite3.Error:
        return True
    return found is not None and not found.ok


def save(db_path: Path, task: str, started: str, ok: bool, summary: str) -> None:
    """Store one run and drop the oldest beyond ``KEEP_PER_TASK``; a record that cannot be written is logged."""
    try:
        with db.open_db(db_path) as conn, db.write(conn):
            conn.execute(
                "INSERT INTO run (task, started_at, finished_at, ok, summary) VALUES (?, ?, ?, ?, ?)",
                (task, started, db.now_iso(), int(ok), " ".join(summary.split())[:MAX_SUMMARY]),
            )
            conn.execute(
                "DELETE FROM run WHERE task = ? AND id NOT IN "
                "(SELECT id FROM run WHERE task = ? ORDER BY id DESC LIMIT ?)",
                (task, task, KEEP_PER_TASK),
            )
    except (sqlite3.Error, OSError) as exc:
        log.warning("could not record the %s run (%s): %s", task, "ok" if ok else "failed", exc)


def last(conn: sqlite3.Connection, task: str) -> Run | None:
    """The most recent run of ``task``."""
    row = conn.execute("SELECT * FROM run WHERE task = ? ORDER BY id DESC LIMIT 1", (task,)).fetchone()
    return db.record(Run, row)


def last_ok(conn: sqlite3.Connection, task: str) -> Run | None:
    row = conn.execute("SELECT * FROM run WHERE task = ? AND ok ORDER BY id DESC LIMIT 1", (task,)).fetchone()
    return db.record(Run, row)
