"""The ``jobgallery`` command: the only place that prints errors and chooses exit codes.

Each sub-command lives in its own module with a ``register`` function that
adds its parser; ``main`` loads the configuration once and dispatches.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence

from jobgallery import __version__
from jobgallery.cli import build, handover, imports, init, jobs, maintenance, objectstore, serve, status, users
from jobgallery.config import load_config
from jobgallery.decode_budget import share_box_wide
from jobgallery.errors import JobGalleryError

COMMAND_MODULES = (serve, jobs, users, imports, build, maintenance, objectstore, handover, status, init)

EPILOG = """examples:
  jobgallery serve                      run the upload daemon
  jobgallery job add "Roof, 12 Elm St"  create a job, print its id
  jobgallery import /media/sd --job 3   bring in a camera's photos
  jobgallery build                      bring output/ up to date

configuration: --config PATH, else $JOBGALLERY_CONFIG, else ./config.yaml
(none of them: the command stops; jobgallery init FOLDER writes one for a new site)"""


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobgallery",
        description="Job-site photo uploads and static galleries.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jobgallery {__version__}")
    parser.add_argument("--config", metavar="PATH", help="configuration file (YAML)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        if not getattr(args, "needs_config", True):
            return args.func(args, None) or 0
        config = load_config(args.config)
        share_box_wide(config.paths.data)
        return args.func(args, config) or 0
    except JobGalleryError as exc:
        print(f"jobgallery: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 1
    except OSError as exc:
        print(f"jobgallery: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        print(f"jobgallery: the database failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jobgallery: interrupted", file=sys.stderr)
        return 130


def describe_os_error(exc: OSError) -> str:
    """A disk full, a read-only folder or a missing drive, said in one line without a traceback."""
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
