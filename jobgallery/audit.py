"""The audit trail: who changed what, and when, in the office pages and the commands that share their code.

One row per change (``audit`` table): ``at`` (UTC, ISO seconds), ``user_name``
(who; a command run on the box records ``"(command line)"``, never a user name), ``action`` (a short verb:
``rename``, ``edit``, ``move``, ``trash``, ``untrash``, ``purge``, ``archive``,
``restore``, ``user-add``...), ``detail`` (one readable line) and what it
touched: a job, a photo, or a user (``subject``). A photo's or a job's row is
written inside the same transaction as the change it records, so the trail
cannot miss one or claim one that was rolled back; a user's follows its
change at once (``jobgallery/users.py``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from jobgallery import db

MAX_DETAIL = 500
COMMAND_LINE = "(command line)"
# Changes no person asked for at that moment: the trash emptied by cleanup after its days.
SYSTEM = "cleanup"


@dataclass(frozen=True)
class Entry:
    id: int
    at: str
    user_name: str
    action: str
    detail: str
    job_id: int | None
    image_id: int | None
    subject: str | None


def note(
    conn: sqlite3.Connection,
    who: str,
    action: str,
    detail: str,
    job_id: int | None = None,
    image_id: int | None = None,
    subject: str | None = None,
) -> None:
    """Record one change inside the caller's write transaction."""
    conn.execute(
        "INSERT INTO audit (at, user_name, action, detail, job_id, image_id, subject) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (db.now_iso(), who, action, detail[:MAX_DETAIL], job_id, image_id, subject),
    )


def of_photo(conn: sqlite3.Connection, image_id: int) -> list[Entry]:
    """A photo's changes, newest first."""
    rows = conn.execute("SELECT * FROM audit WHERE image_id = ? ORDER BY id DESC", (image_id,))
    return [db.record(Entry, row) for row in rows]


def of_job(conn: sqlite3.Connection, job_id: int, limit: int = 50) -> list[Entry]:
    """A job's changes (its own and its photos'), newest first."""
    rows = conn.execute("SELECT * FROM audit WHERE job_id = ? ORDER BY id DESC LIMIT ?", (job_id, limit))
    return [db.record(Entry, row) for row in rows]


def recent(conn: sqlite3.Connection, limit: int = 50) -> list[Entry]:
    rows = conn.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
    return [db.record(Entry, row) for row in rows]


def count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
