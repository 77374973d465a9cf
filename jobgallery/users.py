"""Accounts for HTTP Basic and the sign-in page: creating, checking, removing, their sessions, the first admin."""

from __future__ import annotations

import re
import sqlite3

from jobgallery import db
from jobgallery.errors import NotFound, UsageError
from jobgallery.passwords import generate_password, hash_password, verify_password

NAME_PATTERN = re.compile(r"[A-Za-z0-9._@-]{1,64}")
FIRST_ADMIN = "admin"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def check_name(name: str) -> str:
    """Basic auth cannot carry a ':' in a name; keep names to what a phone keyboard types easily."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise UsageError("a user name is 1 to 64 letters, digits or . _ @ - (no spaces)")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UsageError(f"a password may have at most {MAX_PASSWORD} characters")
    return password


def add_user(conn: sqlite3.Connection, name: str, password: str, admin: bool) -> bool:
    """Create or reset a user; True when the user is new."""
    return db.save_user(conn, check_name(name), hash_password(check_password(password)), admin)


def plausible(name: str, password: str) -> bool:
    """Whether a sign-in could be right at all: a valid name and a password no longer than any we store."""
    return NAME_PATTERN.fullmatch(name) is not None and len(password) <= MAX_PASSWORD


def remove_user(conn: sqlite3.Connection, name: str) -> None:
    """Remove a user; its sessions end in the same transaction. NotFound when there is no such user."""
    db.delete_user(conn, check_name(name))


def sessions_of(conn: sqlite3.Connection, name: str) -> list[db.SessionRow]:
    """A user's live sessions, most recently used first; NotFound when there is no such user."""
    require_user(conn, name)
    return db.list_sessions(conn, name, db.now_iso())


def revoke_sessions(conn: sqlite3.Connection, name: str) -> int:
    """End every session of a user at once; how many were live."""
    require_user(conn, name)
    return db.delete_sessions(conn, name)


def require_user(conn: sqlite3.Connection, name: str) -> db.User:
    user = db.get_user(conn, check_name(name))
    if user is None:
        raise NotFound(f"there is no user named {name!r}")
    return user


def authenticate(conn: sqlite3.Connection, name: str, password: str) -> db.User | None:
    """The user when name and password match; the work done is the same when the user is unknown."""
    user = db.get_user(conn, name)
    ok = verify_password(password, user.password_hash if user else None)
    return user if ok else None


def ensure_first_admin(conn: sqlite3.Connection) -> tuple[str, str] | None:
    """With no users at all, create an admin and return its name and password (shown once)."""
    if db.count_users(conn):
        return None
    password = generate_password()
    db.save_user(conn, FIRST_ADMIN, hash_password(password), True)
    return FIRST_ADMIN, password
