"""Share links: a job handed to a customer, an insurer or an inspector for a while.

A share link is a static page in ``output/`` under ``s/<token>/``: the job as
a viewer sees it, with nothing else of the site. The token is 128 random bits
(32 hex digits), so the path cannot be guessed, and it is the whole secret:
the page, its photos (hard links to the job's derivatives, never copies), its
report and its zip all live under it. A link is *active* until it is revoked
or its expiry passes; the build publishes the folders of active links and
removes every other one, and ``revoke`` removes the folder at once.

Times are UTC instants as stored in every ``*_at`` column. ``--until DATE``
means "through that day" on the box's clock: the link expires at the next
local midnight.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from jobgallery import db
from jobgallery.errors import UsageError
from jobgallery.storage import fsync_dir, within
from jobgallery.text import has_controls

SHARES_FOLDER = "s"
TOKEN_BYTES = 16  # 128 bits
TOKEN_PATTERN = re.compile(rf"[0-9a-f]{{{2 * TOKEN_BYTES}}}")
MAX_NOTE = 500
MAX_DAYS = 3650
ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"


@dataclass(frozen=True)
class Share:
    """A share link as the CLI and the admin page show it."""

    row: db.ShareRow
    state: str  # ACTIVE, EXPIRED or REVOKED

    @property
    def token(self) -> str:
        return self.row.token

    @property
    def path(self) -> str:
        return share_path(self.row.token)


def share_path(token: str) -> str:
    """The link's folder relative to ``output/`` (``s/<token>/``); ValueError for a token we never made."""
    if not valid_token(token):
        raise ValueError("not a share token")
    return f"{SHARES_FOLDER}/{token}/"


def valid_token(token: object) -> bool:
    return isinstance(token, str) and TOKEN_PATTERN.fullmatch(token) is not None


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def state_of(row: db.ShareRow, now: datetime) -> str:
    if row.revoked_at is not None:
        return REVOKED
    if row.expires_at is not None and datetime.fromisoformat(row.expires_at) <= now:
        return EXPIRED
    return ACTIVE


# ---------------------------------------------------------------- expiry from the command line or a form


def expiry_after_days(days: float, now: datetime) -> datetime | None:
    """``days`` from ``now`` (fractions allowed); 0 means the link never expires."""
    if not 0 <= days <= MAX_DAYS:
        raise UsageError(f"the number of days must be between 0 (never expires) and {MAX_DAYS}")
    return None if days == 0 else now + timedelta(days=days)


def expiry_until(text: str, now: datetime) -> datetime:
    """The end of the day ``YYYY-MM-DD`` on the box's clock; UsageError for a malformed, past or far date.

    The day is compared before any arithmetic on it: 9999-12-31 plus a day, or
    0001-01-01 moved to UTC, would overflow ``datetime``.
    """
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"give the last day as YYYY-MM-DD, not {text!r}") from None
    if day > now.date() + timedelta(days=MAX_DAYS):
        raise UsageError(f"a share link may last at most {MAX_DAYS} days")
    if day < now.date() - timedelta(days=1):
        raise UsageError(f"{day.isoformat()} is in the past: a share link must end later than now")
    end = datetime.combine(day + timedelta(days=1), time(0)).astimezone(UTC)
    if end <= now:
        raise UsageError(f"{day.isoformat()} is in the past: a share link must end later than now")
    if end > now + timedelta(days=MAX_DAYS):
        raise UsageError(f"a share link may last at most {MAX_DAYS} days")
    return end


def clean_note(note: object) -> str:
    """A note is one line of visible text, for the office's eyes only (never published)."""
    if note is None:
        return ""
    if not isinstance(note, str):
        raise UsageError("the note must be text")
    note = " ".join(note.split())
    if len(note) > MAX_NOTE:
        raise UsageError(f"a note may have at most {MAX_NOTE} characters")
    if has_controls(note):
        raise UsageError("a note may not contain control characters")
    return note


# ---------------------------------------------------------------- the rows


def create(
    conn: sqlite3.Connection, job_id: int, expires: datetime | None, note: object = "", by: str | None = None
) -> Share:
    """A new active link of a live job (NotFound when it is missing or archived)."""
    now = now_utc()
    if expires is not None and expires <= now:
        raise UsageError("a share link must end later than now")
    row = db.ShareRow(
        token=secrets.token_hex(TOKEN_BYTES),
        job_id=job_id,
        note=clean_note(note),
        created_at=now.isoformat(),
        created_by=by,
        expires_at=expires.isoformat(timespec="seconds") if expires else None,
        revoked_at=None,
    )
    db.add_share(conn, row)
    return Share(row, ACTIVE)


def listed(conn: sqlite3.Connection, job_id: int | None = None) -> list[Share]:
    now = now_utc()
    return [Share(row, state_of(row, now)) for row in db.list_shares(conn, job_id)]


def revoke(conn: sqlite3.Connection, token: str) -> Share:
    """Revoke a link by its token; UsageError for something that is not a token, NotFound for an unknown one."""
    token = token.strip().lower()
    if not valid_token(token):
        raise UsageError("a share token is 32 hexadecimal digits, as `jobgallery share list` shows")
    row = db.revoke_share(conn, token, now_utc().isoformat())
    return Share(row, REVOKED)


def active(conn: sqlite3.Connection) -> list[db.ShareRow]:
    """Links that answer now, for the build."""
    return db.active_shares(conn, now_utc().isoformat())


def find_active(conn: sqlite3.Connection, token: str) -> db.ShareRow | None:
    """The active link with this token, or None (unknown, revoked or expired): the zip asks per request."""
    if not valid_token(token):
        return None
    row = db.get_share(conn, token)
    return row if row is not None and state_of(row, now_utc()) == ACTIVE else None


def unpublish(output: Path, token: str) -> None:
    """Remove a link's folder from ``output/`` now (revocation does not wait for a build).

    The build only ever puts files (pages, hard links) in it; a symlink where
    the folder should be is removed as a link, never followed.
    """
    folder = within(output, output / share_path(token))
    if folder.is_symlink():
        folder.unlink()
        return
    if not folder.is_dir():
        return
    with os.scandir(folder) as entries:
        for entry in entries:
            os.unlink(entry.path)
    os.rmdir(folder)
    fsync_dir(folder.parent)
