"""Browser sessions: a phone signs in once on ``/login`` and stays signed in for weeks.

A session is a random 256-bit token in the cookie ``jobgallery_session``;
the database keeps only its SHA-256 (``session`` table), so a copy of the
database or a backup signs nobody in. Each request looks its session up
with its user as stored at that moment: a password reset, a demotion or a
removed user (all of which delete the user's sessions in the same
transaction) end it at once, with no cache to run out first.

Expiry slides: a session used within ``server.session_days`` stays alive.
The row (and the cookie's ``Max-Age``) is moved forward at most once per
``SLIDE_SECONDS``, so twenty uploads in a row cost one write, not twenty.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (other
sites' posts do not carry it), ``Path=/`` and ``Secure`` when the request
came over HTTPS (directly, or through a trusted proxy's
``X-Forwarded-Proto``; see ``daemon/forwarded.py``).

CSRF: the token pages carry (``csrf_token``) is an HMAC of the session
token, so it needs no storage, changes with every sign-in and cannot be
turned back into the session token. Every unsafe request authenticated by
the cookie must send it in ``X-CSRF-Token`` or in the form field
``csrf_token``; ``SameSite`` and the Origin check in ``daemon/app.py`` are
the other two layers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jobgallery import db

COOKIE = "jobgallery_session"
CSRF_HEADER = "HTTP_X_CSRF_TOKEN"
CSRF_FIELD = "csrf_token"
# Where the guard leaves the signed-in session's CSRF token for the pages it renders.
CSRF_KEY = "jobgallery.csrf_token"
TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
SLIDE_SECONDS = 3600
MAX_USER_AGENT = 200
CSRF_CONTEXT = b"jobgallery csrf token"


@dataclass(frozen=True)
class Session:
    """A live session found from a request's cookie; ``renewed`` when its expiry just moved forward."""

    token: str
    user: db.User
    expires_at: datetime
    renewed: bool = False

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def csrf_token(token: str) -> str:
    """The CSRF token of a session: 64 hex digits, derived from the session token by HMAC-SHA256."""
    return hmac.new(token.encode("ascii"), CSRF_CONTEXT, hashlib.sha256).hexdigest()


def csrf_matches(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf_token.encode(), sent.encode("utf-8", "replace"))


def cookie_token(environ: Mapping) -> str | None:
    """The session token from the ``Cookie`` header; None when absent or not shaped like one of ours."""
    for pair in environ.get("HTTP_COOKIE", "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name == COOKIE and TOKEN_PATTERN.fullmatch(value):
            return value
    return None


def has_cookie(environ: Mapping) -> bool:
    """Whether the request carries our cookie at all (even an expired or revoked session's)."""
    return any(pair.strip().startswith(COOKIE + "=") for pair in environ.get("HTTP_COOKIE", "").split(";"))


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class SessionStore:
    """Starts, finds (sliding their expiry) and ends sessions in the database; ``clock`` gives aware UTC times."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], days: int, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.connect = connect
        self.lifetime = timedelta(days=days)
        self.clock = clock or (lambda: datetime.now(UTC))

    @property
    def max_age(self) -> int:
        """The cookie's ``Max-Age`` in seconds."""
        return int(self.lifetime.total_seconds())

    def start(self, user: db.User, address: str, user_agent: str) -> Session:
        """A new session for ``user``; only its token's hash is stored."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        row = db.SessionRow(
            token_hash(token),
            user.name,
            iso(now),
            iso(now),
            iso(now + self.lifetime),
            address,
            printable(user_agent)[:MAX_USER_AGENT],
        )
        db.add_session(self.connect(), row)
        return Session(token, user, now + self.lifetime, renewed=True)

    def find(self, token: str | None) -> Session | None:
        """The live session of ``token`` with its user as stored now; its expiry slides when due."""
        if token is None:
            return None
        now = self.clock()
        conn = self.connect()
        found = db.find_session(conn, token_hash(token), iso(now))
        if found is None:
            return None
        row, user = found
        if now - datetime.fromisoformat(row.last_seen_at) < timedelta(seconds=SLIDE_SECONDS):
            return Session(token, user, datetime.fromisoformat(row.expires_at))
        db.extend_session(conn, row.token_hash, iso(now), iso(now + self.lifetime))
        return Session(token, user, now + self.lifetime, renewed=True)

    def end(self, session: Session) -> None:
        db.delete_session(self.connect(), token_hash(session.token))


def set_cookie(token: str, max_age: int, secure: bool) -> str:
    """A ``Set-Cookie`` value for the session cookie."""
    flags = f"Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"
    return f"{COOKIE}={token}; {flags}{'; Secure' if secure else ''}"


def clear_cookie(secure: bool) -> str:
    """A ``Set-Cookie`` value that removes the session cookie from the browser."""
    return set_cookie("", 0, secure)


def is_https(environ: Mapping) -> bool:
    """Whether the request came over HTTPS (``daemon/forwarded.py`` sets the scheme a trusted proxy saw)."""
    return environ.get("wsgi.url_scheme") == "https"


def printable(text: str) -> str:
    """A client's text for a tab-separated listing: no control characters, tabs or newlines."""
    return "".join(ch if ch.isprintable() else " " for ch in text)
