"""Helpers for the maintenance tests: jobs full of real photos, file ages, hashes, running the CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import photos
from conftest import cli_command

from jobgallery import db, storage
from jobgallery.config import Config
from jobgallery.ingest import ingest_path

HOUR = 3600


def add_photos(
    config: Config, conn, job_id: int, count: int, size: tuple[int, int] = (640, 480), quality: int = 90, seed: int = 0
) -> list[db.Image]:
    """Ingest ``count`` distinct real JPEGs into a job, the way uploads arrive."""
    incoming = config.paths.data.parent / "incoming"
    incoming.mkdir(exist_ok=True)
    stored = []
    for n in range(count):
        path = incoming / f"photo-{seed + n}.jpg"
        path.write_bytes(photos.jpeg_bytes(*size, seed=seed + n, quality=quality, orientation=6, gps=(52.5, 13.4)))
        stored.append(ingest_path(config, conn, job_id, path).image)
    return stored


def job_with_photos(config: Config, conn, count: int = 3, title: str = "Roof, 12 Elm St", **kwargs) -> db.Job:
    job = db.create_job(conn, title)
    add_photos(config, conn, job.id, count, **kwargs)
    return db.get_job(conn, job.id)


def master(config: Config, image: db.Image) -> Path:
    return storage.master_path(config.paths.data, image.job_id, image.filename)


def age(path: Path, seconds: float) -> Path:
    """Make a file look ``seconds`` old (its mtime is what cleanup's grace period reads)."""
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def master_hashes(config: Config, conn, job_id: int) -> dict[str, str]:
    return {image.filename: sha256(master(config, image)) for image in db.list_images(conn, job_id)}


def old_stamp(hours: float) -> str:
    """A row time stamp ``hours`` ago, in the stored format."""
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="seconds")


def run_cli(config: Config, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``jobgallery --config <instance config> ARGS`` in a subprocess, as an admin types it."""
    command = [*cli_command(), "--config", str(config.source), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
