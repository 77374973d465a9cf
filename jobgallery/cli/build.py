"""``jobgallery build [--job ID] [--full]``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from jobgallery.cli.commands import add_command, one_line
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError

if TYPE_CHECKING:
    from generator.build import BuildReport


def register(commands) -> None:
    parser = add_command(commands, "build", "Bring output/ up to date (incremental).", "jobgallery build --full", build)
    parser.add_argument("--job", type=int, metavar="ID", help="only this job's photos and page (and the index)")
    parser.add_argument("--full", action="store_true", help="remake every derivative and page, ignoring what is known")


def build(args: argparse.Namespace, config: Config) -> int:
    from generator.build import build_site  # imported here: Pillow and Jinja2 slow down other commands

    report = build_site(config, job_id=args.job, full=args.full, progress=True)
    for filename, reason in report.failed:
        print(f"jobgallery: {one_line(filename)}: {reason}", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


def publish(config: Config, job_id: int, quiet: bool = False) -> BuildReport:
    """After a command changed a job: bring its page and the index up to date, as the daemon does after an upload.

    Unless ``quiet`` (for commands whose stdout is spoken for, like ``job
    add``'s id), prints each photo that failed on stderr and the build's
    summary, with a progress bar on a terminal. The build also catches up on
    other jobs not yet published, so its failures may not be this job's.
    With ``publish.bucket`` set, the bucket is mirrored afterwards too.
    """
    from generator.build import build_site  # imported here: Pillow and Jinja2 slow down other commands

    report = build_site(config, job_id=job_id, progress=not quiet)
    if not quiet:
        for filename, reason in report.failed:
            print(f"jobgallery: {one_line(filename)}: {reason}", file=sys.stderr)
        print(report.summary())
    if config.publish.bucket:
        mirror_to_bucket(config, quiet)
    return report


def mirror_to_bucket(config: Config, quiet: bool) -> None:
    """Then the ``publish.*`` bucket, as the daemon does after a rebuild; a failure is said, the next run catches up."""
    from generator.bucket import publish_site

    try:
        mirrored = publish_site(config)
    except JobGalleryError as exc:
        print(f"jobgallery: the bucket was not brought up to date: {exc}", file=sys.stderr)
        return
    if not quiet:
        print(mirrored.summary())
