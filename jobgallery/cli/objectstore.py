"""``publish``, ``restore-box`` and ``backup s3://...``: the box's site and data in object storage.

The work is done by ``jobgallery.objectstore`` (and ``generator.bucket``,
which knows the build's content-named files); this module prints what was
done and the one summary line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jobgallery import db, runs
from jobgallery.cli.commands import add_command, one_line
from jobgallery.cli.maintenance import finish
from jobgallery.config import Config


def register(commands) -> None:
    parser = add_command(
        commands, "publish", "Mirror output/ to the publish.* bucket.", "jobgallery publish --dry-run", run_publish
    )
    parser.add_argument("--dry-run", action="store_true", help="only list what would be uploaded and deleted")
    parser.add_argument(
        "--index", action="store_true", help="then write index.html at the bucket's root, linking every box's prefix"
    )
    parser.add_argument(
        "--if-configured", action="store_true", help="do nothing, quietly, when publish.bucket is not set (timers)"
    )
    parser = add_command(
        commands,
        "restore-box",
        "Bring a whole box back from an off-site backup.",
        "jobgallery restore-box s3://backups/depot-north /var/lib/jobgallery/data",
        run_restore_box,
    )
    parser.add_argument("source", help="s3://BUCKET/PREFIX that backup s3://... wrote")
    parser.add_argument("data_dir", help="an empty (or missing) folder to become the data folder")
    parser.add_argument("--day", metavar="YYYY-MM-DD", help="the snapshot of this day (default: the newest)")
    parser.add_argument(
        "--archive-dir", metavar="DIR", help="where the archived jobs' tar files go (default: paths.archive)"
    )


def run_publish(args: argparse.Namespace, config: Config) -> int:
    from generator.bucket import publish_site  # imported here: Jinja2 and Pillow slow down other commands

    if args.if_configured and not config.publish.bucket:
        print("publish: publish.bucket is not set; nothing to do")
        return 0
    report = publish_site(config, dry_run=args.dry_run, progress=True)
    for line in report.lines:
        print(one_line(line))
    print(report.summary())
    if args.index and not args.dry_run:
        from jobgallery.objectstore.client import publish_location
        from jobgallery.objectstore.prefixes import write_prefix_index

        print(write_prefix_index(config, publish_location(config)))
    return 0


def run_offsite_backup(args: argparse.Namespace, config: Config) -> int:
    """``backup s3://BUCKET/PREFIX [--verify]``, reached from the ``backup`` command."""
    from jobgallery.objectstore.client import parse_location  # boto3 (25 MiB): only for the commands that use it
    from jobgallery.objectstore.offsite import offsite_backup

    location = parse_location(args.dest_dir)
    with db.open_db(config.db_path) as conn, runs.recorded(config.db_path, "backup") as run:
        report = offsite_backup(config, conn, location, verify=args.verify, progress=True)
        run.done(report)
    return finish(report)


def run_restore_box(args: argparse.Namespace, config: Config) -> int:
    from jobgallery.objectstore.client import parse_location
    from jobgallery.objectstore.restorebox import restore_box

    archive_dir = Path(args.archive_dir) if args.archive_dir else None
    location = parse_location(args.source)
    report = restore_box(config, location, Path(args.data_dir), day=args.day, progress=True, archive_dir=archive_dir)
    return finish(report)
