"""Accounts for HTTP Basic: creating, checking and the first admin."""

from __future__ import annotations

import re
import sqlite3

from jobgallery import db
from jobgallery.errors import UsageError
from jobgallery.passwords import generate_password, hash_password, verify_password

NAME_PATTERN = re.compile(r"[A-Za-z0-9._@-]{1,64}")
FIRST_ADMIN = "admin"


def check_name(name: str) -> str:
    """Basic auth cannot carry a ':' in a name; keep names to what a phone keyboard types easily."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise UsageError("a user name is 1 to 64 letters, digits or . _ @ - (no spaces)")
    return name


def check_password(password: str) -> str:
    if len(password) < 8:
        raise UsageError("a password needs at least 8 characters")
    if len(password) > 1024:
        raise UsageError("a password may have at most 1024 characters")
    return password


def add_user(conn: sqlite3.Connection, name: str, password: str, admin: bool) -> bool:
    """Create or reset a user; True when the user is new."""
    return db.save_user(conn, check_name(name), hash_password(check_password(password)), admin)


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
