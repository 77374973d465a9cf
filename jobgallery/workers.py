"""The first thing every pool worker does, for the build's and the import's pools alike."""

from __future__ import annotations

import signal
from pathlib import Path

from jobgallery.decode_budget import DECODES
from jobgallery.lifeline import die_with_owner
from jobgallery.malloc import tune_malloc


def start_worker(budget_file: Path | None) -> None:
    """Pool initializer: leave Ctrl-C to the owner, die with it, and decode within its box-wide budget.

    The owner stops its workers itself on Ctrl-C; a killed owner takes them
    along (``lifeline``). Workers come from a fork server, a fresh
    interpreter, so they get the owner's allocator settings here, without
    which each would keep its biggest decode resident.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_malloc()
    die_with_owner()
    DECODES.share_through(budget_file)
