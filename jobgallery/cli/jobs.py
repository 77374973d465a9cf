"""``jobgallery job add`` and ``jobgallery job list``."""

from __future__ import annotations

import argparse
import sys

from jobgallery import db
from jobgallery.cli.build import publish
from jobgallery.cli.commands import add_command, add_group, one_line
from jobgallery.cli.tables import print_rows
from jobgallery.config import Config
from jobgallery.jobs import create_job

LIST_HEADER = ("id", "title", "photos", "state", "gallery path")


def register(commands) -> None:
    job = add_group(commands, "job", "Create and list jobs.", 'jobgallery job add "Roof, 12 Elm St"')
    sub = job.add_subparsers(dest="job_command", metavar="ACTION", required=True)
    add = add_command(sub, "add", "Create a job and print its id.", 'jobgallery job add "Roof, 12 Elm St"', job_add)
    add.add_argument("title", help="the job's title as shown on its gallery")
    add_command(sub, "list", "List jobs: id, title, images, state, gallery path.", "jobgallery job list", job_list)


def job_add(args: argparse.Namespace, config: Config) -> int:
    """Print the new id alone on stdout, then publish the job's page and the index as an upload would."""
    with db.open_db(config.db_path) as conn:
        job = create_job(conn, args.title)
    print(job.id, flush=True)
    report = publish(config, job.id, quiet=True)
    if not report.ok:  # the job and its page are there; photos of other jobs failed to render
        failed = len(report.failed)
        print(f"jobgallery: {failed} photo(s) of other jobs failed to render; 'build' lists them", file=sys.stderr)
    return 0


def job_list(args: argparse.Namespace, config: Config) -> int:
    with db.open_db(config.db_path) as conn:
        jobs = db.list_jobs(conn)
    rows = [
        (
            job.id,
            one_line(job.title),
            job.image_count,
            "archived" if job.archived else "live",
            job.gallery_path(config.gallery.public_index),
        )
        for job in jobs
    ]
    print_rows(LIST_HEADER, rows)
    return 0
