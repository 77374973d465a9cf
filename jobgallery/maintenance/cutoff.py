"""Turning "older than N days" into the time stamp the database compares with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobgallery.errors import UsageError


def older_than(days: int, now: datetime | None = None) -> str:
    """The stamp before which a row is more than ``days`` old, in the stored format.

    Stored stamps have whole seconds, and rows are picked with ``stamp <
    cutoff``; one second more makes ``0`` days take in everything up to and
    including the current second, which is what ``--older-than 0`` promises.
    """
    if days < 0:
        raise UsageError("--older-than takes a number of days, 0 or more")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days) + timedelta(seconds=1)
    return cutoff.isoformat(timespec="seconds")
