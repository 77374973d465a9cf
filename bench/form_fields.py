"""Memory and time to refuse an oversized text field of an upload form.

A form with a 24 MB ``description`` and a photo is read by the daemon's
``read_form`` (fields bounded while they are parsed; 413 at 8,000 bytes)
and, as the naive baseline, by Bottle's own multipart parser followed by
reading the field's value whole before its length is checked (what the
daemon did before). Both read the same bytes from memory in this process;
the figures are tracemalloc's peak of Python allocations and the wall time,
medians over rounds.

Run:  .venv/bin/python bench/form_fields.py [--rounds 5] [--mb 24]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import bottle

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemon_support import FilePart, multipart

from daemon.upload import read_form
from jobgallery.errors import TooLarge

MIB = 1024 * 1024
LIMIT = 25 * MIB


def environ(headers: dict[str, str], body: bytes) -> dict:
    return {"CONTENT_TYPE": headers["Content-Type"], "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}


def bounded(headers: dict[str, str], body: bytes) -> str:
    try:
        with read_form(environ(headers, body), LIMIT) as form:
            return f"read {len(form.text('description'))} characters"
    except TooLarge as exc:
        return f"refused: {exc}"


def naive(headers: dict[str, str], body: bytes) -> str:
    """Bottle's parser, then the whole value read and measured (the check came after the read)."""
    boundary = headers["Content-Type"].split("boundary=", 1)[1]
    parser = bottle._MultipartParser(io.BytesIO(body), boundary, len(body), mem_limit=4 * MIB, charset="utf8")
    for part in parser.parse():
        if part.name == "description" and len(part.value) > 2000:
            return "refused after reading the whole field"
    return "accepted"


def measure(reader: Callable[[dict, bytes], str], headers: dict[str, str], body: bytes) -> tuple[float, float, str]:
    """(peak MiB allocated, seconds, outcome) of one read."""
    tracemalloc.start()
    started = time.perf_counter()
    outcome = reader(headers, body)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / MIB
    tracemalloc.stop()
    return peak, seconds, outcome


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options.add_argument("--rounds", type=int, default=5)
    options.add_argument("--mb", type=int, default=24)
    args = options.parse_args()
    photo = FilePart("IMG_0001.jpg", b"\xff\xd8\xff" + bytes(64 * 1024))
    headers, body = multipart([("description", "x" * (args.mb * 1000 * 1000))], [photo])
    print(f"one form of {len(body) / MIB:.1f} MiB with a {args.mb} MB description, {args.rounds} round(s), medians")
    results = {}
    for name, reader in (("read_form (bounded)", bounded), ("baseline: bottle, then the whole value", naive)):
        runs = [measure(reader, headers, body) for _ in range(args.rounds)]
        peak, seconds = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        results[name] = (peak, seconds)
        print(f"  {name}: peak {peak:.2f} MiB allocated, {seconds * 1000:.1f} ms; {runs[0][2]}")
    (new_peak, new_time), (old_peak, old_time) = results.values()
    print(f"baseline / bounded: memory {old_peak / new_peak:.0f}x, time {old_time / new_time:.0f}x")


if __name__ == "__main__":
    main()
