"""``job list`` for people and for scripts: a header row on a terminal, the contract's tab-separated lines in a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from conftest import cli_command

from jobgallery import db
from jobgallery.cli.tables import width

HEADER = ["id", "title", "photos", "state", "gallery path"]


def on_a_terminal(config, *args: str) -> tuple[int, str]:
    """Run the command with its stdout on a pseudo-terminal, as in an operator's shell; return status and text."""
    controller, terminal = pty.openpty()
    command = [*cli_command(), "--config", str(config.source), *args]
    with subprocess.Popen(command, stdout=terminal, stderr=subprocess.PIPE) as process:
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the command closed the terminal's last handle
                break
            if not chunk:
                break
            chunks.append(chunk)
        status = process.wait(timeout=60)
    os.close(controller)
    return status, b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def add_jobs(config) -> None:
    with db.open_db(config.db_path) as conn:
        db.create_job(conn, "Roof, 12 Elm St")
        old = db.create_job(conn, "屋根の修理 and\ttabs")
        db.set_archived(conn, old.id, db.now_iso())


def test_job_list_on_a_terminal_has_a_header_row_and_lines_up(config) -> None:
    add_jobs(config)
    status, text = on_a_terminal(config, "job", "list")
    lines = text.splitlines()
    assert status == 0 and len(lines) == 3 and "\t" not in text
    assert lines[0].split() == [*HEADER[:4], "gallery", "path"]
    assert lines[1].split("  ")[0].strip() == "2" and "屋根の修理 and tabs" in lines[1] and "archived" in lines[1]
    assert "Roof, 12 Elm St" in lines[2] and "jobs/1-roof-12-elm-st/" in lines[2]
    for column in ("title", "photos", "state", "gallery path"):
        starts = {width(line[: line.index(value)]) for line, value in zip(lines, row_values(column), strict=True)}
        assert len(starts) == 1, f"column {column!r} does not line up:\n{text}"


def row_values(column: str) -> list[str]:
    return {
        "title": ["title", "屋根の修理 and tabs", "Roof, 12 Elm St"],
        "photos": ["photos", "0", "0"],
        "state": ["state", "archived", "live"],
        "gallery path": ["gallery path", "jobs/2-", "jobs/1-roof-12-elm-st/"],
    }[column]


def test_job_list_in_a_pipe_is_exactly_the_contract_lines(config, tmp_path: Path) -> None:
    add_jobs(config)
    result = subprocess.run(
        [*cli_command(), "--config", str(config.source), "job", "list"], capture_output=True, text=True, timeout=60
    )
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert result.returncode == 0 and [row[:4] for row in rows] == [
        ["2", "屋根の修理 and tabs", "0", "archived"],
        ["1", "Roof, 12 Elm St", "0", "live"],
    ]
    assert all(len(row) == 5 for row in rows)


def test_an_empty_job_list_on_a_terminal_still_names_its_columns(config) -> None:
    status, text = on_a_terminal(config, "job", "list")
    assert status == 0 and text.split() == [*HEADER[:4], "gallery", "path"]
