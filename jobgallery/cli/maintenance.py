"""``cleanup``, ``compress``, ``archive``, ``restore`` and ``backup``."""

from __future__ import annotations

import argparse

from jobgallery.cli.commands import add_command
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError


def register(commands) -> None:
    cleanup = add_command(
        commands, "cleanup", "Remove orphaned files and rows.", "jobgallery cleanup --dry-run", pending
    )
    cleanup.add_argument("--dry-run", action="store_true")
    compress = add_command(
        commands, "compress", "Recompress old masters once.", "jobgallery compress --older-than 180", pending
    )
    compress.add_argument("--older-than", type=int, metavar="DAYS")
    archive = add_command(
        commands, "archive", "Move whole jobs to paths.archive.", "jobgallery archive --job 3", pending
    )
    which = archive.add_mutually_exclusive_group(required=True)
    which.add_argument("--job", type=int, metavar="ID")
    which.add_argument("--older-than", type=int, metavar="DAYS")
    restore = add_command(
        commands, "restore", "Bring an archived job back.", "jobgallery restore archive/job_3.tar", pending
    )
    restore.add_argument("archive_file")
    backup = add_command(
        commands, "backup", "Copy the database and masters.", "jobgallery backup /mnt/usb/backup", pending
    )
    backup.add_argument("dest_dir")


def pending(args: argparse.Namespace, config: Config) -> int:
    raise JobGalleryError(f"{args.command} is not implemented yet")
