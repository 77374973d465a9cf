"""``jobgallery init``: a commented config.yaml for a new site, made from the settings table.

The file lists every setting of ``jobgallery.config.SETTINGS`` with its
default and help text, so it is complete for the version that wrote it and
loads to exactly the defaults. It is written next to nothing else: the
database and folders appear when a command first uses them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import yaml

from jobgallery.config import CONFIG_ENV, SETTINGS
from jobgallery.errors import Conflict, UsageError

HEADER = f"""\
# jobgallery configuration for one site. Every setting is listed with its default.
# Relative paths resolve against the folder of this file.
# Commands find this file when run in this folder, or with --config PATH (before the command),
# or with {CONFIG_ENV}=PATH in the environment.
"""
COMMENT_COLUMN = 30


def config_text() -> str:
    """The YAML text: one block per section, one ``key: default  # help`` line per setting."""
    lines = [HEADER]
    section = None
    for setting in SETTINGS:
        group, name = setting.key.split(".", 1)
        if group != section:
            lines.append(f"\n{group}:\n")
            section = group
        value = yaml.safe_dump({name: setting.default}, default_flow_style=True, width=1000)
        entry = "  " + value.strip()[1:-1]  # "{name: value}" without its braces: quoted as YAML needs
        lines.append(f"{entry.ljust(COMMENT_COLUMN - 1)} # {setting.help}\n")
    return "".join(lines)


def write_config(folder: Path) -> Path:
    """Write ``folder/config.yaml`` (the folder is created if missing); never replace an existing one.

    The text goes to a temp file that is linked into place, so the file is
    either whole or absent and a file made meanwhile by someone else is kept.
    Raises Conflict when a config.yaml is there, UsageError when ``folder`` is a file.
    """
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "config.yaml"
    if target.exists() or target.is_symlink():
        raise Conflict(f"{target.resolve()} already exists; it was left as it is")
    temp = folder / f".config.yaml.{os.getpid()}.tmp"
    try:
        with open(temp, "x", encoding="utf-8") as handle:
            handle.write(config_text())
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, target)
    except FileExistsError:
        raise Conflict(f"{target.resolve()} already exists; it was left as it is") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    return target.resolve()
