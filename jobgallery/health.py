"""What an admin needs to trust the box, for the health page and ``jobgallery status``.

Figures and where they come from:

- disk: ``os.statvfs`` of ``paths.data``, ``paths.output`` and ``paths.archive``
  (folders that share a file system are shown once, named together; a folder not made
  yet, like the archive before the first archive run, is measured where it will be);
- upload rate: the bytes of masters uploaded in the last 30 days (``job_image.byte_size``
  by ``timestamp``, trash included: it filled the disk all the same) over 30 days;
  days left = free bytes / that rate, for the data disk (masters) and the output disk
  (derivatives are about a tenth of a master: ``OUTPUT_SHARE``);
- last build, backup, archive and cleanup: the ``run`` table (``jobgallery/runs.py``);
- ``PRAGMA integrity_check``: only when asked (it reads the whole database);
- version: the package's.

Something "needs attention" when a disk has less than ``maintenance.warn_free_percent``
free or fills within ``maintenance.warn_days_left`` days, a folder is missing, or the
last run of a task failed.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobgallery import __version__, runs
from jobgallery.config import Config

RATE_DAYS = 30
OUTPUT_SHARE = 0.1
TASKS = ("build", "backup", "archive", "cleanup")
LONG_DAYS = 3652


@dataclass(frozen=True)
class Disk:
    """One file system holding one or more of the configured folders."""

    names: tuple[str, ...]  # "data", "output", "archive"
    path: Path
    total: int
    free: int
    bytes_per_day: float
    days_left: float | None  # None: nothing uploaded lately, so no end in sight
    problem: str = ""

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free / self.total if self.total else 0.0


@dataclass
class Health:
    disks: list[Disk]
    uploaded_30_days: int
    runs: dict[str, runs.Run | None]
    version: str
    integrity: str | None = None  # "ok" or SQLite's findings; None when not checked
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def gather(config: Config, conn: sqlite3.Connection, integrity: bool = False, now: datetime | None = None) -> Health:
    """Every figure of the health page; ``integrity`` also runs ``PRAGMA integrity_check``."""
    uploaded = uploaded_since(conn, (now or datetime.now(UTC)) - timedelta(days=RATE_DAYS))
    per_day = uploaded / RATE_DAYS
    health = Health(disks(config, per_day), uploaded, {task: runs.last(conn, task) for task in TASKS}, __version__)
    if integrity:
        health.integrity = integrity_check(conn)
    health.problems = problems(config, health)
    return health


def uploaded_since(conn: sqlite3.Connection, since: datetime) -> int:
    stamp = since.isoformat(timespec="seconds")
    query = "SELECT COALESCE(SUM(byte_size), 0) FROM job_image WHERE timestamp >= ?"
    return conn.execute(query, (stamp,)).fetchone()[0]


def disks(config: Config, per_day: float) -> list[Disk]:
    """The configured folders grouped by file system (``st_dev``), in the order data, output, archive."""
    folders = {"data": config.paths.data, "output": config.paths.output, "archive": config.paths.archive}
    groups: dict[object, list[tuple[str, Path]]] = {}
    for name, path in folders.items():
        path = existing(path)
        try:
            key: object = os.stat(path).st_dev
        except OSError:
            key = name
        groups.setdefault(key, []).append((name, path))
    return [measure(group, per_day) for group in groups.values()]


def existing(path: Path) -> Path:
    """``path``, or its nearest folder that exists (an archive folder is made by the first archive run)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def measure(group: list[tuple[str, Path]], per_day: float) -> Disk:
    names = tuple(name for name, _ in group)
    path = group[0][1]
    try:
        stats = os.statvfs(path)
    except OSError as exc:
        return Disk(names, path, 0, 0, 0.0, None, f"{path} cannot be read: {exc.strerror or exc}")
    free = stats.f_bavail * stats.f_frsize
    rate = per_day * (("data" in names) + OUTPUT_SHARE * ("output" in names))
    days = free / rate if rate > 0 else None
    return Disk(names, path, stats.f_blocks * stats.f_frsize, free, rate, days)


def missing_folders(config: Config) -> list[str]:
    """Configured folders that are not there and could not be made: not even their parent exists.

    A folder whose parent exists is made by its first use (the archive by the first archive run);
    one whose parent is gone is a drive that is not mounted or a path with a typo, and the disk
    figures would otherwise describe whatever disk the nearest existing folder is on.
    """
    folders = {"data": config.paths.data, "output": config.paths.output, "archive": config.paths.archive}
    return [
        f"the {name} folder {path} is missing, and so is the folder it would be made in"
        for name, path in folders.items()
        if not path.is_dir() and not path.parent.is_dir()
    ]


def integrity_check(conn: sqlite3.Connection) -> str:
    """``ok``, or SQLite's first findings joined into one line."""
    rows = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
    return "ok" if rows == ["ok"] else "; ".join(rows)


def problems(config: Config, health: Health) -> list[str]:
    """One sentence per thing that needs attention."""
    found = missing_folders(config)
    for disk in health.disks:
        label = " and ".join(disk.names)
        if disk.problem:
            found.append(disk.problem)
        elif disk.free_percent < config.maintenance.warn_free_percent:
            found.append(f"the {label} disk is {100 - disk.free_percent:.0f}% full ({human(disk.free)} free)")
        elif disk.days_left is not None and disk.days_left < config.maintenance.warn_days_left:
            found.append(f"the {label} disk fills in about {disk.days_left:.0f} days at the last 30 days' rate")
    for task, run in health.runs.items():
        if run is not None and not run.ok:
            found.append(f"the last {task} failed ({run.finished_at}): {run.summary}")
    if health.integrity not in (None, "ok"):
        found.append(f"the database is damaged: {health.integrity}")
    return found


def human(size: float) -> str:
    """Bytes for people: 512 B, 3.2 MiB, 41.0 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def days_text(days: float | None) -> str:
    """How long a disk lasts, for people: days, or "more than 10 years" past ``LONG_DAYS``."""
    if days is None:
        return "no uploads in the last 30 days"
    if days > LONG_DAYS:
        return "more than 10 years at the last 30 days' rate"
    return f"{days:,.0f} days at the last 30 days' rate"
