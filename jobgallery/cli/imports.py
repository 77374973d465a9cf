"""``jobgallery import FOLDER --job ID``."""

from __future__ import annotations

import argparse

from jobgallery.cli.commands import add_command
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError


def register(commands) -> None:
    parser = add_command(
        commands,
        "import",
        "Ingest every photo under a folder into a job.",
        "jobgallery import /media/sd --job 3",
        run_import,
    )
    parser.add_argument("folder")
    parser.add_argument("--job", type=int, required=True, metavar="ID")
    parser.add_argument("--description", default="")
    parser.add_argument("--tags", default="")


def run_import(args: argparse.Namespace, config: Config) -> int:
    raise JobGalleryError("import is not implemented yet")
