"""``jobgallery user add|list|disable|enable|remove|sessions``: the accounts of the sign-in page and HTTP Basic."""

from __future__ import annotations

import argparse
import getpass
import sys

from jobgallery import audit, db, users
from jobgallery.cli.commands import add_command, add_group, one_line
from jobgallery.config import Config
from jobgallery.errors import UsageError

SESSION_ID_LENGTH = 12


def register(commands) -> None:
    user = add_group(commands, "user", "Manage upload accounts.", "jobgallery user add crew --admin")
    sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = add_command(
        sub,
        "add",
        "Create a user or reset its password (read from stdin when piped); a reset signs its phones out.",
        "printf '%s\\n' 's3cret-pass' | jobgallery user add crew",
        user_add,
    )
    add.add_argument("name", help="login name for the sign-in page and HTTP Basic")
    add.add_argument("--admin", action="store_true", help="may create jobs and delete photos")
    remove = add_command(
        sub, "remove", "Remove a user; its sessions end at once.", "jobgallery user remove crew", user_remove
    )
    remove.add_argument("name", help="the user to remove")
    add_command(sub, "list", "List users, tab-separated: name, role, state.", "jobgallery user list", user_list)
    disable = add_command(
        sub,
        "disable",
        "Refuse a user's sign-ins and end its sessions at once (its uploads keep its name).",
        "jobgallery user disable crew",
        user_disable,
    )
    disable.add_argument("name", help="the user to disable")
    enable = add_command(
        sub, "enable", "Let a disabled user sign in again.", "jobgallery user enable crew", user_enable
    )
    enable.add_argument("name", help="the user to enable")
    sessions = add_command(
        sub,
        "sessions",
        "List a user's browser sessions, tab-separated: id, created, last used, expires, address, browser.",
        "jobgallery user sessions crew --revoke",
        user_sessions,
    )
    sessions.add_argument("name", help="whose sessions")
    sessions.add_argument("--revoke", action="store_true", help="end all of them now (sign the user out everywhere)")


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
        created = users.add_user(conn, args.name, password, args.admin)
        what = f"{'added' if created else 'reset the password of'} {'admin' if args.admin else 'crew'} user {args.name}"
        users.record(conn, audit.COMMAND_LINE, "user-add" if created else "user-reset", what, args.name)
    role = "admin" if args.admin else "user"
    print(f"{'created' if created else 'reset'} {role} {args.name}")
    return 0


def user_remove(args: argparse.Namespace, config: Config) -> int:
    with db.open_db(config.db_path) as conn:
        users.remove_by(conn, args.name, audit.COMMAND_LINE)
    print(f"removed user {args.name}")
    return 0


def user_list(args: argparse.Namespace, config: Config) -> int:
    """One user a line: name, role (``admin`` or ``crew``), state (``active`` or ``disabled``)."""
    with db.open_db(config.db_path) as conn:
        for user in users.list_users(conn):
            print(f"{user.name}\t{user.role}\t{users.state(user)}")
    return 0


def user_disable(args: argparse.Namespace, config: Config) -> int:
    with db.open_db(config.db_path) as conn:
        ended = users.disable_user(conn, args.name, audit.COMMAND_LINE)
    print(f"disabled user {args.name}; ended {ended} session{'' if ended == 1 else 's'}")
    return 0


def user_enable(args: argparse.Namespace, config: Config) -> int:
    with db.open_db(config.db_path) as conn:
        users.enable_user(conn, args.name, audit.COMMAND_LINE)
    print(f"enabled user {args.name}")
    return 0


def user_sessions(args: argparse.Namespace, config: Config) -> int:
    """Print the live sessions (id: the first hex digits of the token's hash); with --revoke, end them."""
    with db.open_db(config.db_path) as conn:
        live = users.sessions_of(conn, args.name)
        for row in live:
            fields = (row.token_hash[:SESSION_ID_LENGTH], row.created_at, row.last_seen_at, row.expires_at)
            print("\t".join((*fields, one_line(row.address), one_line(row.user_agent))))
        if args.revoke:
            ended = users.revoke_sessions(conn, args.name)
            print(f"ended {ended} session{'' if ended == 1 else 's'} of {args.name}", file=sys.stderr)
    return 0
