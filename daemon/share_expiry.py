"""Expired share links stop answering within a minute: the daemon looks every minute.

A share link's page is a static folder in ``output/`` (``s/<token>/``), so
something must remove it once its expiry passes for Nginx (the daemon's own
serving of ``output/`` asks the link's state per request, and the zip is
refused from the second it expires: ``daemon/static.py``,
``daemon/downloads.py``). Every build removes the folders of links that are no
longer active; this job runs one whenever a folder in ``output/s/`` belongs to
no active link. The look itself is one folder listing and one indexed query
(``bench/share_expiry.py``: about 2 ms with a hundred links, 2 s of CPU a day), so
it runs every minute (or every ``maintenance.interval_seconds`` when that is
shorter) and logs only when it builds.
"""

from __future__ import annotations

import functools
import logging

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from daemon.scheduler import Publishes, build_pages, run_logged
from jobgallery import db, shares
from jobgallery.config import Config

log = logging.getLogger("daemon.share_expiry")

MINUTE = 60.0
JOB_ID = "share-expiry"


def schedule(scheduler: BaseScheduler, config: Config, publishes: Publishes | None = None) -> None:
    """Add the check every minute to ``scheduler`` (called once, before it starts).

    ``publishes`` (the daemon's, with ``publish.bucket`` set) is asked for a
    publish after each build, so the bucket follows the same rules.
    """
    every = min(MINUTE, config.maintenance.interval_seconds or MINUTE)
    scheduler.add_job(
        sweep,
        IntervalTrigger(seconds=every),
        args=[config, publishes],
        id=JOB_ID,
        name=JOB_ID,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(every),
    )


def sweep(config: Config, publishes: Publishes | None = None) -> object | None:
    """A build of one affected job (which removes every inactive link's folder) when any is still there.

    Quiet when there is nothing to remove; never raises (a failure is logged).
    """
    try:
        found, job_id = stale_link(config)
    except Exception:
        log.exception("%s: the check failed", JOB_ID)
        return None
    if not found:
        return None
    result = run_logged(JOB_ID, functools.partial(build_pages, config, job_id))
    if result is not None and publishes is not None:
        publishes.request()
    return result


def stale_link(config: Config) -> tuple[bool, int | None]:
    """Whether a folder in ``output/s/`` belongs to no active link, and that link's job (None: unknown link)."""
    folder = config.paths.output / shares.SHARES_FOLDER
    present = {entry.name for entry in folder.iterdir() if entry.is_dir()} if folder.is_dir() else set()
    if not present:
        return False, None
    with db.open_db(config.db_path) as conn:
        stale = sorted(present - {row.token for row in shares.active(conn)})
        row = db.get_share(conn, stale[0]) if stale else None
    return bool(stale), row.job_id if row else None
