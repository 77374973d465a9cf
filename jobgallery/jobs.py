"""Jobs as users see them: validated titles, one place that creates a job."""

from __future__ import annotations

import sqlite3

from jobgallery import db
from jobgallery.errors import UsageError

MAX_TITLE = 200
# Right-to-left overrides and isolates make "x \u202egpj.exe" display as "x exe.jpg".
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_title(title: object) -> str:
    """A title is one line of visible text; refuse what would break lists and pages."""
    if not isinstance(title, str) or not title.strip():
        raise UsageError("a job needs a title")
    title = " ".join(title.split())
    if len(title) > MAX_TITLE:
        raise UsageError(f"a job title may have at most {MAX_TITLE} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 or ch in BIDI_CONTROLS for ch in title):
        raise UsageError("a job title may not contain control characters")
    if not is_utf8(title):
        raise UsageError("a job title must be valid Unicode text")
    return title


def is_utf8(text: str) -> bool:
    """False for strings holding lone surrogates (JSON can carry them; SQLite cannot store them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def create_job(conn: sqlite3.Connection, title: object) -> db.Job:
    return db.create_job(conn, clean_title(title))
