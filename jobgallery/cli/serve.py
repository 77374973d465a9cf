"""``jobgallery serve``."""

from __future__ import annotations

import argparse

from jobgallery.cli.commands import add_command
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError


def register(commands) -> None:
    add_command(commands, "serve", "Run the upload daemon and its scheduler until stopped.", "jobgallery serve", serve)


def serve(args: argparse.Namespace, config: Config) -> int:
    raise JobGalleryError("serve is not implemented yet")
