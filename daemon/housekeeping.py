"""The daemon's daily housekeeping: orphan cleanup and recompression of old masters.

Both run the very functions behind ``jobgallery cleanup`` and ``jobgallery
compress`` (one implementation), inside the scheduler's ``run_logged``
wrapper: the start, the summary and any failure are logged, and an exception
never reaches the daemon. ``coalesce`` and ``max_instances=1`` make a run
missed while the box was busy or off happen once, late, never twice; and
since both take the maintenance lock, they never overlap a build or a
maintenance command started by a systemd timer or by hand.

They run daily at ``maintenance.cleanup_time`` and
``maintenance.compress_time``; with ``maintenance.interval_seconds`` above
0 they run that often instead (a busy site that wants hourly cleanup, or a
test that wants to watch them run).
"""

from __future__ import annotations

import functools
import logging

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from daemon.scheduler import add_daily, add_recurring, build_pages
from jobgallery import db
from jobgallery.config import Config, parse_clock
from jobgallery.maintenance.cleanup import cleanup
from jobgallery.maintenance.compress import compress
from jobgallery.maintenance.reports import Report

log = logging.getLogger("daemon.housekeeping")


def schedule(scheduler: BaseScheduler, config: Config) -> None:
    """Add the housekeeping jobs to ``scheduler`` (called once, before it starts)."""
    jobs = (
        ("housekeeping-cleanup", run_cleanup, "cleanup_time"),
        ("housekeeping-compress", run_compress, "compress_time"),
    )
    every = config.maintenance.interval_seconds
    for name, func, clock_key in jobs:
        task = functools.partial(func, config)
        if every:
            add_recurring(scheduler, name, task, IntervalTrigger(seconds=every))
        else:
            hour, minute = parse_clock(getattr(config.maintenance, clock_key), f"maintenance.{clock_key}")
            add_daily(scheduler, name, task, hour, minute)


# ---------------------------------------------------------------- the jobs


def run_cleanup(config: Config) -> Report:
    """Cleanup, then a build when anything went, so derivatives of vanished photos leave ``output/`` too."""
    with db.open_db(config.db_path) as conn:
        report = cleanup(config, conn)
    if report.counts:
        report.include_build(build_pages(config, None))
    return logged(report)


def run_compress(config: Config) -> Report:
    with db.open_db(config.db_path) as conn:
        return logged(compress(config, conn))


def logged(report: Report) -> Report:
    """Each action at info, each failure as a warning; ``run_logged`` adds the summary."""
    for line in report.lines:
        log.info("%s: %s", report.name, line)
    for failure in report.failures:
        log.warning("%s failed: %s", report.name, failure)
    return report
