"""One-time sign-in links: the office hands a crew member's phone a link (or its QR code) instead of a password.

A link carries a random 256-bit token; the database keeps only its SHA-256
(``signin_link``), so a copy of the database signs nobody in. A link works
once, for ``LINK_HOURS``, and only while its user can sign in: a new link,
a password reset, disabling or removing the user (``db.save_user``,
``db.set_user_state``, the foreign key) end the old one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from datetime import UTC, datetime, timedelta

from jobgallery import audit, db, users
from jobgallery.errors import UsageError

LINK_HOURS = 24
TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def create(conn: sqlite3.Connection, name: str, who: str) -> str:
    """A new link token for ``name`` (any older one ends); UsageError for a disabled user."""
    user = users.require_user(conn, name)
    if user.disabled:
        raise UsageError(f"{name} is disabled; enable them first")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = datetime.now(UTC)
    with db.write(conn):
        conn.execute("DELETE FROM signin_link WHERE user_name = ? OR expires_at <= ?", (name, stamp(now)))
        conn.execute(
            """INSERT INTO signin_link (token_hash, user_name, created_at, expires_at, created_by)
               VALUES (?, ?, ?, ?, ?)""",
            (token_hash(token), name, stamp(now), stamp(now + timedelta(hours=LINK_HOURS)), who),
        )
        audit.note(conn, who, "user-link", f"made a one-time sign-in link for {name}", subject=name)
    return token


def holder(conn: sqlite3.Connection, token: str) -> str | None:
    """Whose link ``token`` is, while it can still be used; None otherwise."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    row = conn.execute(
        """SELECT signin_link.user_name FROM signin_link JOIN user ON user.name = signin_link.user_name
           WHERE token_hash = ? AND expires_at > ? AND user.disabled_at IS NULL""",
        (token_hash(token), stamp(datetime.now(UTC))),
    ).fetchone()
    return None if row is None else row[0]


def redeem(conn: sqlite3.Connection, token: str) -> db.User | None:
    """Use the link: its user, and the link is gone; None when it cannot be used (any more)."""
    with db.write(conn):
        name = holder(conn, token)
        if name is None:
            return None
        conn.execute("DELETE FROM signin_link WHERE token_hash = ?", (token_hash(token),))
        audit.note(conn, name, "user-link-used", f"{name} signed in with a one-time link", subject=name)
    return db.get_user(conn, name)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
