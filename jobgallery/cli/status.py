"""``jobgallery status [--integrity]``: the health page on the command line, exit 1 when something needs attention."""

from __future__ import annotations

import argparse

from jobgallery import db, health
from jobgallery.cli.commands import add_command, one_line
from jobgallery.config import Config


def register(commands) -> None:
    parser = add_command(
        commands,
        "status",
        "Disk, last build, backup and archive results, version; exit 1 when something needs attention.",
        "jobgallery status --integrity",
        status,
    )
    parser.add_argument("--integrity", action="store_true", help="also check the database (reads all of it)")


def status(args: argparse.Namespace, config: Config) -> int:
    with db.open_db(config.db_path) as conn:
        found = health.gather(config, conn, integrity=args.integrity)
    for line in lines(found):
        print(line)
    return 0 if found.ok else 1


def lines(found: health.Health) -> list[str]:
    """What status prints: one fact a line, then the verdict and each problem."""
    out = [f"version: {found.version}"]
    for disk in found.disks:
        label = "+".join(disk.names)
        if disk.problem:
            out.append(f"disk {label}: {disk.problem}")
            continue
        out.append(
            f"disk {label}: {health.human(disk.free)} free of {health.human(disk.total)} "
            f"({disk.free_percent:.0f}%), {health.days_text(disk.days_left)}"
        )
    out.append(f"uploads: {health.human(found.uploaded_30_days)} in the last 30 days")
    for task, run in found.runs.items():
        result = "never run" if run is None else f"{'ok' if run.ok else 'FAILED'} {run.finished_at}: {run.summary}"
        out.append(f"last {task}: {one_line(result)}")
    if found.integrity is not None:
        out.append(f"database integrity: {found.integrity}")
    out.append("status: ok" if found.ok else "status: needs attention")
    out += [f"  - {problem}" for problem in found.problems]
    return out
