"""The exact command that runs this installation of jobgallery on one site, for hints printed to the operator.

A hint such as "Add crew accounts with: ..." must work when pasted into a
fresh shell in any folder: the console script is often not on PATH (a
checkout's ``.venv/bin``, ``/opt/jobgallery/venv/bin``), and away from the
site's folder no ``./config.yaml`` is found. So the hint names the program by
its full path (the bare name only when PATH finds this very program) and the
site by ``--config``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def program() -> list[str]:
    """The words that start this installation's ``jobgallery``."""
    script = Path(sys.executable).with_name("jobgallery")
    if not script.is_file():
        return [sys.executable, "-m", "jobgallery"]
    found = shutil.which("jobgallery")
    if found and os.path.samefile(found, script):
        return ["jobgallery"]
    return [str(script)]


def command(config_file: Path, *args: str) -> str:
    """``program() --config FILE ARGS...`` quoted for a POSIX shell; ``args`` may hold placeholders like NAME."""
    words = [shlex.quote(word) for word in [*program(), "--config", str(config_file)]]
    return " ".join([*words, *args])
