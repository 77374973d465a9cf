"""Maintenance jobs the daemon's scheduler runs daily (cleanup, recompression)."""

from __future__ import annotations


def schedule(scheduler, config) -> None:
    """Add the daily maintenance jobs to ``scheduler``; filled in by the operations work."""
