"""Jobs as users see them: validated titles, one place that creates a job."""

from __future__ import annotations

import sqlite3

from jobgallery import db
from jobgallery.errors import UsageError
from jobgallery.text import has_controls, is_utf8

MAX_TITLE = 200


def clean_title(title: object) -> str:
    """A title is one line of visible text; refuse what would break lists and pages."""
    if not isinstance(title, str) or not title.strip():
        raise UsageError("a job needs a title")
    title = " ".join(title.split())
    if len(title) > MAX_TITLE:
        raise UsageError(f"a job title may have at most {MAX_TITLE} characters")
    if has_controls(title):
        raise UsageError("a job title may not contain control characters")
    if not is_utf8(title):
        raise UsageError("a job title must be valid Unicode text")
    return title


def create_job(conn: sqlite3.Connection, title: object) -> db.Job:
    return db.create_job(conn, clean_title(title))
