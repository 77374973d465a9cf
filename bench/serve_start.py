"""The serve script's second start: seconds from ``./scripts/serve.sh`` to the banner when nothing changed.

    python bench/serve_start.py             # 5 interleaved rounds each (about a minute after the first install)
    python bench/serve_start.py --rounds 3

A fresh clone of this repository's HEAD in a temporary folder runs
``./scripts/serve.sh`` once (it creates .venv and installs; not timed), then
the rounds alternate between:

- the script as shipped: it finds the install current and only starts the daemon;
- the naive baseline, what the script did before: ``pip install .`` on every
  start, then the same daemon.

Each start is timed to the banner's "Gallery:" line and stopped with Ctrl-C
(SIGINT). Prints the medians and the ratio; exits 1 when the shipped script's
median is 3 s or more.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 3.0
NAIVE = (
    ".venv/bin/pip install --quiet --disable-pip-version-check . "
    "&& exec .venv/bin/jobgallery --config config.yaml serve"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clone(into: Path) -> Path:
    """A clone of HEAD whose config.yaml listens on a free port (8080 may be taken)."""
    folder = into / "jobgallery"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(folder)], check=True)
    config = folder / "config.yaml"
    config.write_text(re.sub(r"(?m)^(  port:\s*)\d+", rf"\g<1>{free_port()}", config.read_text()))
    return folder


def start_to_banner(folder: Path, command: list[str]) -> float:
    """Seconds until the daemon prints where the galleries are; then stop it as Ctrl-C would."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        for line in process.stdout:
            if line.startswith("Gallery:"):
                return time.monotonic() - started
        raise SystemExit(f"{command} ended without its banner (exit {process.wait()})")
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = clone(Path(tmp))
        shipped, naive = ["./scripts/serve.sh"], ["bash", "-c", NAIVE]
        print(f"first start (creates .venv, installs): {start_to_banner(folder, shipped):.1f} s", flush=True)
        times: dict[str, list[float]] = {"shipped": [], "naive": []}
        for _ in range(args.rounds):
            times["shipped"].append(start_to_banner(folder, shipped))
            times["naive"].append(start_to_banner(folder, naive))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:8} median {medians[name]:.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"ratio naive / shipped: {medians['naive'] / medians['shipped']:.1f}x")
    return 0 if medians["shipped"] < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
