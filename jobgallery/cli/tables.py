"""Listings: tab-separated lines for scripts, aligned columns under a header row for people.

The tab-separated form is the contract's (one record a line, no header) and
is what a pipe or a file gets; a terminal gets the same values under a header
row, padded to line up. Widths count East Asian wide characters as two
columns and combining marks as none, so titles in any script line up.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Sequence
from typing import TextIO

GAP = "  "


def print_rows(header: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO | None = None) -> None:
    """Print ``rows`` tab-separated, or, when ``out`` is a terminal, aligned under ``header``."""
    out = out or sys.stdout
    cells = [[str(value) for value in row] for row in rows]
    if not out.isatty():
        for row in cells:
            out.write("\t".join(row) + "\n")
        return
    table = [list(header), *cells]
    widths = [max(width(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        padded = [cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row[:-1])]
        out.write(GAP.join([*padded, row[-1]]) + "\n")


def width(text: str) -> int:
    """Terminal columns ``text`` takes."""
    columns = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        columns += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return columns
