"""``jobgallery share add|list|revoke`` and ``jobgallery report``: handing a job over.

``share add`` and ``share revoke`` publish at once, as ``archive`` does: the
link's page is there (or gone) when the command returns. ``report`` writes a
private PDF wherever asked; only it can add locations (``--with-location``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobgallery import db, shares
from jobgallery.cli.commands import add_command, add_group, one_line
from jobgallery.config import Config
from jobgallery.errors import UsageError


def positive_days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 0 <= value <= shares.MAX_DAYS:
        raise argparse.ArgumentTypeError(f"the number of days must be between 0 (no end) and {shares.MAX_DAYS}")
    return value


def per_page(text: str) -> int:
    if text not in ("1", "2", "4", "6"):
        raise argparse.ArgumentTypeError("a report shows 1, 2, 4 or 6 photos a page")
    return int(text)


def register(commands) -> None:
    share = add_group(commands, "share", "Hand a job out by a link that ends.", "jobgallery share add 3 --days 14")
    sub = share.add_subparsers(dest="share_command", metavar="ACTION", required=True)
    add = add_command(
        sub,
        "add",
        "Make a share link of a job; prints its path under output/.",
        "jobgallery share add 3 --days 14",
        share_add,
    )
    add.add_argument("job", type=int, metavar="JOB_ID", help="the job to share")
    until = add.add_mutually_exclusive_group()
    until.add_argument(
        "--days", type=positive_days, metavar="N", help="ends N days from now (0: never; default: gallery.share_days)"
    )
    until.add_argument("--until", metavar="YYYY-MM-DD", help="works through this day (the box's clock)")
    add.add_argument("--note", default="", metavar="TEXT", help="who it is for (shown only in lists)")
    listing = add_command(
        sub,
        "list",
        "List share links, tab-separated: token, job, state, expires, path, created, note.",
        "jobgallery share list --job 3",
        share_list,
    )
    listing.add_argument("--job", type=int, metavar="ID", help="only this job's links")
    revoke = add_command(sub, "revoke", "End a share link now.", "jobgallery share revoke 3f1c…", share_revoke)
    revoke.add_argument("token", help="the link's token, as `share list` shows it")
    report = add_command(
        commands,
        "report",
        "Write a job's photo report (PDF).",
        "jobgallery report 3 -o roof.pdf --per-page 4",
        run_report,
    )
    report.add_argument("job", type=int, metavar="JOB_ID", help="the job")
    report.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: <slug>.pdf here)")
    report.add_argument("--per-page", type=per_page, metavar="N", help="photos per page: 1, 2, 4 or 6")
    report.add_argument(
        "--with-location", action="store_true", help="add where each photo was taken (private: never published)"
    )


# ---------------------------------------------------------------- share


def share_add(args: argparse.Namespace, config: Config) -> int:
    now = shares.now_utc()
    if args.until is not None:
        expires = shares.expiry_until(args.until, now)
    else:
        days = config.gallery.share_days if args.days is None else args.days
        expires = shares.expiry_after_days(days, now)
    with db.open_db(config.db_path) as conn:
        share = shares.create(conn, args.job, expires, args.note)
    publish(config, args.job)
    print(share.path)
    return 0


def share_list(args: argparse.Namespace, config: Config) -> int:
    with db.open_db(config.db_path) as conn:
        listed = shares.listed(conn, args.job)
    for share in listed:
        row = share.row
        fields = (row.token, str(row.job_id), share.state, row.expires_at or "", share.path, row.created_at)
        print("\t".join((*fields, one_line(row.note))))
    return 0


def share_revoke(args: argparse.Namespace, config: Config) -> int:
    with db.open_db(config.db_path) as conn:
        share = shares.revoke(conn, args.token)
    shares.unpublish(config.paths.output, share.token)  # at once, without waiting for a build in progress
    publish(config, share.row.job_id)  # and after it, in case that build wrote the page again
    print(f"revoked {share.token} (job {share.row.job_id}); {share.path} answers 404 now")
    return 0


def publish(config: Config, job_id: int) -> None:
    """Build the job's pages (and every share folder's fate) now, and mirror them when a bucket is set."""
    from generator.build import build_site  # imported here: Pillow and Jinja2 slow down other commands

    result = build_site(config, job_id=job_id)
    for filename, reason in result.failed:
        print(f"jobgallery: {one_line(filename)}: {reason}", file=sys.stderr)
    if config.publish.bucket:
        from generator.bucket import publish_site

        publish_site(config)


# ---------------------------------------------------------------- report


def run_report(args: argparse.Namespace, config: Config) -> int:
    from generator.handover import private_report

    with db.open_db(config.db_path) as conn:
        job = db.get_job(conn, args.job, live=True)
    target = Path(args.output) if args.output else Path(f"{job.slug}.pdf")
    if target.is_dir():
        raise UsageError(f"{target} is a folder: give a file name with -o")
    count = private_report(config, job.id, target, args.per_page or 0, args.with_location)
    extra = ", with locations (keep it private)" if args.with_location else ""
    print(f"wrote {target}: {count} photo{'' if count == 1 else 's'}{extra}")
    return 0
