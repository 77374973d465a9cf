"""``jobgallery user add NAME [--admin]``."""

from __future__ import annotations

import argparse
import getpass
import sys

from jobgallery import db
from jobgallery.cli.commands import add_command, add_group
from jobgallery.config import Config
from jobgallery.errors import UsageError
from jobgallery.users import add_user


def register(commands) -> None:
    user = add_group(commands, "user", "Manage upload accounts.", "jobgallery user add crew --admin")
    sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = add_command(
        sub,
        "add",
        "Create a user or reset its password (read from stdin when piped).",
        "printf '%s\\n' 's3cret-pass' | jobgallery user add crew",
        user_add,
    )
    add.add_argument("name", help="login name for HTTP Basic")
    add.add_argument("--admin", action="store_true", help="may create jobs and delete photos")


def read_password() -> str:
    """One line from a pipe, or typed twice at a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise UsageError("the two passwords differ")
    return first


def user_add(args: argparse.Namespace, config: Config) -> int:
    password = read_password()
    with db.open_db(config.db_path) as conn:
        created = add_user(conn, args.name, password, args.admin)
    role = "admin" if args.admin else "user"
    print(f"{'created' if created else 'reset'} {role} {args.name}")
    return 0
