"""``jobgallery build [--job ID] [--full]``."""

from __future__ import annotations

import argparse

from jobgallery.cli.commands import add_command
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError


def register(commands) -> None:
    parser = add_command(commands, "build", "Bring output/ up to date (incremental).", "jobgallery build --full", build)
    parser.add_argument("--job", type=int, metavar="ID")
    parser.add_argument("--full", action="store_true")


def build(args: argparse.Namespace, config: Config) -> int:
    raise JobGalleryError("build is not implemented yet")
