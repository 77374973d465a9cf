"""Expired share links stop answering within the hour: the scheduler looks every hour.

A share link's page is a static folder in ``output/`` (``s/<token>/``), so
something must remove it once its expiry passes. Every build removes the
folders of links that are no longer active; this job runs one whenever a
folder in ``output/s/`` belongs to no active link, checked every hour (or
every ``maintenance.interval_seconds`` when that is shorter). The zip of an
expired link is refused from the second it expires (``daemon/downloads.py``).
"""

from __future__ import annotations

import functools

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from daemon.scheduler import add_recurring, build_pages
from jobgallery import db, shares
from jobgallery.config import Config

HOUR = 3600.0


def schedule(scheduler: BaseScheduler, config: Config) -> None:
    """Add the hourly check to ``scheduler`` (called once, before it starts)."""
    every = min(HOUR, config.maintenance.interval_seconds or HOUR)
    add_recurring(scheduler, "share-expiry", functools.partial(sweep, config), IntervalTrigger(seconds=every))


def sweep(config: Config) -> object | None:
    """A build of one affected job (which removes every inactive link's folder) when any is still there."""
    folder = config.paths.output / shares.SHARES_FOLDER
    present = {entry.name for entry in folder.iterdir() if entry.is_dir()} if folder.is_dir() else set()
    with db.open_db(config.db_path) as conn:
        stale = sorted(present - {row.token for row in shares.active(conn)})
        row = db.get_share(conn, stale[0]) if stale else None
    if not stale:
        return None
    return build_pages(config, row.job_id if row else None)
