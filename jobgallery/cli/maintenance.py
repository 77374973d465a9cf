"""``cleanup``, ``compress``, ``archive``, ``restore`` and ``backup``.

The work is done by ``jobgallery.maintenance`` (the same functions the
daemon's scheduler runs); this module picks what to work on, prints each
action and the failures, then one summary line, and brings ``output/`` up to
date where the work changed what the site shows. Exit status 1 when any item
failed.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from jobgallery import db
from jobgallery.cli.commands import add_command, one_line
from jobgallery.config import Config
from jobgallery.errors import NotFound
from jobgallery.maintenance.reports import Report


def days(text: str) -> int:
    """A whole number of days, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if value < 0:
        raise argparse.ArgumentTypeError("the number of days must be 0 or more")
    return value


def register(commands) -> None:
    parser = add_command(
        commands, "cleanup", "Remove orphaned files and rows.", "jobgallery cleanup --dry-run", run_cleanup
    )
    parser.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    parser = add_command(
        commands, "compress", "Recompress old masters once.", "jobgallery compress --older-than 180", run_compress
    )
    parser.add_argument(
        "--older-than", type=days, metavar="DAYS", help="uploaded more than DAYS ago (default: compress_after_days)"
    )
    parser = add_command(
        commands, "archive", "Move whole jobs to paths.archive.", "jobgallery archive --job 3", run_archive
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--job", type=int, metavar="ID", help="this job")
    which.add_argument("--older-than", type=days, metavar="DAYS", help="every job without uploads for DAYS days")
    which.add_argument(
        "--due", action="store_true", help="every job idle for maintenance.archive_after_days (the weekly timer)"
    )
    parser = add_command(
        commands, "restore", "Bring an archived job back.", "jobgallery restore archive/job_3.tar", run_restore
    )
    parser.add_argument("archive_file", help="a job_<id>.tar written by archive")
    parser = add_command(
        commands, "backup", "Copy the database and masters.", "jobgallery backup /mnt/usb/backup", run_backup
    )
    parser.add_argument(
        "dest_dir", help="folder for the copy (created if missing; later runs copy only changes), or s3://BUCKET/PREFIX"
    )
    parser.add_argument("--verify", action="store_true", help="then re-read the copy and check every checksum")


# ---------------------------------------------------------------- commands


def run_cleanup(args: argparse.Namespace, config: Config) -> int:
    # Each command imports its own work: the decoders (numpy, simplejpeg) cost the others 0.2 s and 20 MiB.
    from jobgallery.maintenance.cleanup import cleanup

    with db.open_db(config.db_path) as conn:
        report = cleanup(config, conn, dry_run=args.dry_run)
    if not args.dry_run and (report.ok or report.counts):  # a stopped cleanup leaves output/ alone too
        rebuild(config, None, report)
    return finish(report)


def run_compress(args: argparse.Namespace, config: Config) -> int:
    from jobgallery.maintenance.compress import compress

    with db.open_db(config.db_path) as conn:
        report = compress(config, conn, args.older_than, progress=True)
    return finish(report)


def run_archive(args: argparse.Namespace, config: Config) -> int:
    from jobgallery.maintenance.archive import archive_jobs, idle_jobs

    with db.open_db(config.db_path) as conn:
        if args.job is not None:
            job_ids = [args.job]
        else:
            age = config.maintenance.archive_after_days if args.due else args.older_than
            job_ids = [job.id for job in idle_jobs(conn, age)]
        report = archive_jobs(config, conn, job_ids, progress=True)
        archived = [job_id for job_id in job_ids if is_archived(conn, job_id)]
    if archived:
        rebuild(config, archived[0] if len(archived) == 1 else None, report)
    return finish(report)


def run_restore(args: argparse.Namespace, config: Config) -> int:
    from jobgallery.maintenance.restore import restore

    with db.open_db(config.db_path) as conn:
        report, job = restore(config, conn, Path(args.archive_file))
    rebuild(config, job.id, report)
    return finish(report)


def run_backup(args: argparse.Namespace, config: Config) -> int:
    if args.dest_dir.startswith("s3:"):
        from jobgallery.cli.objectstore import run_offsite_backup

        return run_offsite_backup(args, config)
    from jobgallery.maintenance.backup import backup

    with db.open_db(config.db_path) as conn:
        report = backup(config, conn, Path(args.dest_dir), verify=args.verify, progress=True)
    return finish(report)


# ---------------------------------------------------------------- shared


def is_archived(conn: sqlite3.Connection, job_id: int) -> bool:
    try:
        return db.get_job(conn, job_id).archived
    except NotFound:
        return False


def rebuild(config: Config, job_id: int | None, report: Report) -> None:
    """Bring the site in line at once: archived pages become stubs, restored ones come back, orphans go."""
    from generator.build import build_site  # imported here: Pillow and Jinja2 slow down other commands

    report.include_build(build_site(config, job_id=job_id))


def finish(report: Report) -> int:
    """What was done, then every failure, then the summary; exit 1 when anything failed."""
    for line in report.lines:
        print(one_line(line))
    for failure in report.failures:
        print(f"jobgallery: {one_line(failure)}", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1
