"""The daemon's housekeeping: scheduled as configured, and in a real ``jobgallery serve`` it runs, logs, survives."""

from __future__ import annotations

import re
import time

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from daemon_support import http, running_daemon
from maintenance_support import job_with_photos, master

from daemon import housekeeping
from jobgallery import db, locks, storage


def scheduled(config) -> dict:
    scheduler = BackgroundScheduler()
    housekeeping.schedule(scheduler, config)
    return {job.id: job for job in scheduler.get_jobs()}


def test_daily_at_the_configured_times(make_config):
    jobs = scheduled(make_config(**{"maintenance.cleanup_time": "02:05", "maintenance.compress_time": "23:59"}))

    assert set(jobs) == {"housekeeping-cleanup", "housekeeping-compress"}
    for job_id, clock in (("housekeeping-cleanup", "hour='2', minute='5'"), ("housekeeping-compress", "hour='23'")):
        job = jobs[job_id]
        assert clock in repr(job.trigger)
        assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time >= 3600


def test_interval_setting_repeats_instead(make_config):
    jobs = scheduled(make_config(**{"maintenance.interval_seconds": 90}))
    for job in jobs.values():
        assert isinstance(job.trigger, IntervalTrigger) and job.trigger.interval.total_seconds() == 90


def wait_for_log(daemon, pattern: str, after: int = 0, timeout: float = 20) -> int:
    """Wait until the daemon's log (past offset ``after``) matches; return the offset just past the match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.compile(pattern).search(daemon.log(), after)
        if match:
            return match.end()
        time.sleep(0.1)
    raise AssertionError(f"no log line matching {pattern!r} within {timeout} s:\n{daemon.log()[after:]}")


def test_jobs_run_log_and_survive_an_exception_in_a_real_daemon(make_config):
    config = make_config(
        **{
            "maintenance.interval_seconds": 1,
            "maintenance.orphan_grace_minutes": 0,
            "maintenance.compress_after_days": 0,
        }
    )
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=1, quality=95)
        photo = db.list_images(conn, job.id)[0]
    orphan = storage.job_folder(config.paths.data, job.id) / "img_orphan.jpg"
    orphan.write_bytes(b"left by a crash")
    lock = locks.lock_path(config.paths.data)

    with running_daemon(config.source) as daemon:
        wait_for_log(daemon, r"housekeeping-cleanup: started")
        wait_for_log(daemon, r"daemon.housekeeping: cleanup: removed orphan file .*img_orphan\.jpg")
        wait_for_log(daemon, r"housekeeping-cleanup: done in [\d.]+ s: cleanup: 1 orphan file removed")
        wait_for_log(daemon, r"housekeeping-compress: done in [\d.]+ s: compress: 1 recompressed")
        assert not orphan.exists()
        with db.open_db(config.db_path) as conn:
            assert db.get_image(conn, photo.id).compressed_at is not None
        assert master(config, photo).exists()

        lock.unlink()
        lock.mkdir()  # the lock cannot be opened: every housekeeping run now raises
        failed = wait_for_log(daemon, r"ERROR daemon.scheduler: housekeeping-cleanup: failed")
        wait_for_log(daemon, r"IsADirectoryError", failed)
        assert http("GET", daemon.url + "/healthz").status == 200
        lock.rmdir()
        wait_for_log(daemon, r"housekeeping-cleanup: done in [\d.]+ s: cleanup: nothing to do", failed)
        assert daemon.process.poll() is None


def test_daily_cleanup_with_the_masters_unmounted_logs_a_failure_and_removes_nothing(make_config, tmp_path, caplog):
    config = make_config(**{"maintenance.orphan_grace_minutes": 0})
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=2, size=(64, 48))
    images = storage.masters_root(config.paths.data)
    images.rename(tmp_path / "unmounted")
    images.mkdir()

    with caplog.at_level("INFO", logger="daemon.housekeeping"):
        report = housekeeping.run_cleanup(config)

    assert not report.ok and not report.counts
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "check that the data folder is mounted" in warnings[0]
    with db.open_db(config.db_path) as conn:
        assert len(db.list_images(conn, job.id)) == 2
