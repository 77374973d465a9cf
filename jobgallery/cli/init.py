"""``jobgallery init [FOLDER]``: a commented config.yaml for a new site."""

from __future__ import annotations

import argparse
from pathlib import Path

from jobgallery import invocation, new_site
from jobgallery.cli.commands import add_command


def register(commands) -> None:
    parser = add_command(
        commands,
        "init",
        "Write a commented config.yaml for a new site (never replaces one).",
        "jobgallery init /srv/photos",
        run_init,
    )
    parser.add_argument("folder", nargs="?", default=".", help="the site's folder (default: the current folder)")
    parser.set_defaults(needs_config=False)


def run_init(args: argparse.Namespace, _config: None) -> int:
    written = new_site.write_config(Path(args.folder))
    print(f"wrote {written}; start the site with: {invocation.command(written, 'serve')}")
    return 0
