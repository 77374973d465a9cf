"""Jobs as users see them: validated titles, one place that creates a job."""

from __future__ import annotations

import sqlite3

from jobgallery import audit, db
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


def create_job(conn: sqlite3.Connection, title: object, who: str = audit.COMMAND_LINE) -> db.Job:
    """A new job, with an audit row naming who made it (a command records ``(command line)``)."""
    job = db.create_job(conn, clean_title(title))
    with db.write(conn):
        audit.note(conn, who, "create", f"created “{job.title}”", job_id=job.id)
    return job


def rename_job(conn: sqlite3.Connection, job_id: int, title: object, who: str) -> tuple[db.Job, db.Job]:
    """New title (and gallery path, on a public site); the old path keeps answering with a link.

    Returns the job before and after; UsageError when the title is unchanged,
    NotFound when there is no such job. Recorded in the audit trail.
    """
    title = clean_title(title)
    with db.write(conn):
        before = db.get_job(conn, job_id)
        if before.title == title:
            raise UsageError(f"the job is already called “{title}”")
        db.rename_job(conn, job_id, title)
        audit.note(conn, who, "rename", f"renamed from “{before.title}” to “{title}”", job_id=job_id)
    return before, db.get_job(conn, job_id)
