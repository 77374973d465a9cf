"""Accounts for HTTP Basic and the sign-in page: creating, checking, removing, their sessions, the first admin."""

from __future__ import annotations

import re
import sqlite3

from jobgallery import audit, db
from jobgallery.errors import Conflict, NotFound, UsageError
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
    """The user when name and password match and it is not disabled; the same work when the user is unknown."""
    user = db.get_user(conn, name)
    ok = verify_password(password, user.password_hash if user else None)
    return user if ok and not user.disabled else None


def ensure_first_admin(conn: sqlite3.Connection) -> tuple[str, str] | None:
    """With no users at all, create an admin and return its name and password (shown once)."""
    if db.count_users(conn):
        return None
    password = generate_password()
    db.save_user(conn, FIRST_ADMIN, hash_password(password), True)
    return FIRST_ADMIN, password


# ---------------------------------------------------------------- the office's crew page and its commands


def list_users(conn: sqlite3.Connection) -> list[db.User]:
    return db.list_users(conn)


def add_generated(conn: sqlite3.Connection, name: str, admin: bool, who: str) -> str:
    """Create a user with a generated password, returned to be shown once; Conflict when the name is taken."""
    check_name(name)
    if db.get_user(conn, name) is not None:
        raise Conflict(f"there is already a user named {name!r}; reset its password instead")
    password = generate_password()
    db.save_user(conn, name, hash_password(password), admin)
    record(conn, who, "user-add", f"added {'admin' if admin else 'crew'} user {name}", name)
    return password


def reset_password(conn: sqlite3.Connection, name: str, who: str) -> str:
    """A new generated password (shown once); the user's phones are signed out."""
    user = require_user(conn, name)
    password = generate_password()
    db.save_user(conn, name, hash_password(password), user.is_admin)
    record(conn, who, "user-reset", f"reset the password of {name}", name)
    return password


def set_role(conn: sqlite3.Connection, name: str, admin: bool, who: str) -> None:
    """Make a user admin or crew; its sessions end so the new role holds at once. Never the last admin."""
    user = require_user(conn, name)
    if user.is_admin == admin:
        raise Conflict(f"{name} is already {'an admin' if admin else 'crew'}")
    if not admin:
        keep_an_admin(conn, user, who, "make crew")
    db.set_user_state(conn, name, user.disabled_at, admin)
    record(conn, who, "user-role", f"made {name} {'an admin' if admin else 'crew'}", name)


def disable_user(conn: sqlite3.Connection, name: str, who: str) -> int:
    """Refuse further sign-ins and end every session now; how many sessions ended. Uploads keep their uploader."""
    user = require_user(conn, name)
    if user.disabled:
        raise Conflict(f"{name} is already disabled")
    keep_an_admin(conn, user, who, "disable")
    ended = len(db.list_sessions(conn, name, db.now_iso()))
    db.set_user_state(conn, name, db.now_iso())
    record(conn, who, "user-disable", f"disabled {name} (ended {ended} session{'' if ended == 1 else 's'})", name)
    return ended


def enable_user(conn: sqlite3.Connection, name: str, who: str) -> None:
    user = require_user(conn, name)
    if not user.disabled:
        raise Conflict(f"{name} is not disabled")
    db.set_user_state(conn, name, None)
    record(conn, who, "user-enable", f"enabled {name} again", name)


def remove_by(conn: sqlite3.Connection, name: str, who: str) -> None:
    """``remove_user`` for the office and the CLI: never yourself or the last admin; recorded."""
    user = require_user(conn, name)
    keep_an_admin(conn, user, who, "remove")
    db.delete_user(conn, name)
    record(conn, who, "user-remove", f"removed {name}", name)


def keep_an_admin(conn: sqlite3.Connection, user: db.User, who: str, verb: str) -> None:
    """Refuse to lock the office out: an admin cannot do this to itself, nor to the last admin who can sign in."""
    if user.name == who:
        raise Conflict(f"you cannot {verb} your own account; ask another admin")
    if user.is_admin and not user.disabled and db.count_admins(conn) <= 1:
        raise Conflict(f"{user.name} is the last admin who can sign in; make another admin first")


def record(conn: sqlite3.Connection, who: str, action: str, detail: str, name: str) -> None:
    with db.write(conn):
        audit.note(conn, who, action, detail, subject=name)


def state(user: db.User) -> str:
    """``active`` or ``disabled``, as ``user list`` prints it."""
    return "disabled" if user.disabled else "active"
