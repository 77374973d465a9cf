"""``jobgallery serve``: the upload daemon and its scheduler, in the foreground."""

from __future__ import annotations

import argparse

from jobgallery.cli.commands import add_command
from jobgallery.config import Config


def register(commands) -> None:
    add_command(commands, "serve", "Run the upload daemon and its scheduler until stopped.", "jobgallery serve", serve)


def serve(args: argparse.Namespace, config: Config) -> int:
    """Runs until SIGTERM or SIGINT, then stops cleanly (exit 0); the first start creates an admin."""
    from daemon.server import run

    return run(config)
