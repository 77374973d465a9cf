"""The contract's job and user commands, run as a user would run them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import cli_command

from jobgallery import __version__, db
from jobgallery.passwords import hash_password, verify_password
from jobgallery.users import authenticate


def run(config_path: Path, *args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    command = [*cli_command(), "--config", str(config_path), *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=cwd)


def test_version() -> None:
    result = subprocess.run([*cli_command(), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"jobgallery {__version__}"


def test_job_add_prints_the_id_alone_and_list_shows_it(config, tmp_path: Path) -> None:
    first = run(config.source, "job", "add", "Roof", cwd=tmp_path)
    second = run(config.source, "job", "add", "Kitchen\tremodel, <b>phase 2</b>", cwd=tmp_path)
    assert (first.returncode, first.stdout) == (0, "1\n")
    assert second.stdout == "2\n"
    listing = run(config.source, "job", "list", cwd=tmp_path)
    assert listing.returncode == 0
    rows = [line.split("\t") for line in listing.stdout.splitlines()]
    assert rows == [
        ["2", "Kitchen remodel, <b>phase 2</b>", "0", "live", "jobs/2-kitchen-remodel-b-phase-2-b/"],
        ["1", "Roof", "0", "live", "jobs/1-roof/"],
    ]


def test_job_add_refuses_an_empty_title(config) -> None:
    result = run(config.source, "job", "add", "   ")
    assert result.returncode == 2 and "title" in result.stderr and result.stdout == ""


def test_job_list_shows_archived_state(config) -> None:
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Old shed")
        db.set_archived(conn, job.id, db.now_iso())
    assert run(config.source, "job", "list").stdout.split("\t")[3] == "archived"


def test_user_add_reads_the_password_from_stdin_and_resets(config) -> None:
    created = run(config.source, "user", "add", "crew", stdin="first-password\n")
    assert created.returncode == 0 and created.stdout == "created user crew\n"
    reset = run(config.source, "user", "add", "crew", "--admin", stdin="second password \n")
    assert reset.stdout == "reset admin crew\n"
    with db.open_db(config.db_path) as conn:
        assert authenticate(conn, "crew", "second password ") is not None
        assert authenticate(conn, "crew", "first-password") is None
        assert db.get_user(conn, "crew").is_admin


def test_user_add_refuses_bad_names_and_short_passwords(config) -> None:
    assert run(config.source, "user", "add", "a:b", stdin="long-enough\n").returncode == 2
    short = run(config.source, "user", "add", "crew", stdin="short\n")
    assert short.returncode == 2 and "8 characters" in short.stderr


def test_password_hashes_are_salted_and_verify() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and "correct horse" not in first
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("correct hors", first)
    assert not verify_password("anything", None)
    assert not verify_password("anything", "not-a-hash")


def test_runs_from_another_folder_with_the_installed_package(config, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run(config.source, "job", "add", "Porch", cwd=elsewhere)
    assert result.stdout.strip().isdigit()
    assert not (elsewhere / "data").exists()
    assert (config.paths.data / "jobgallery.db").exists()


def test_every_contract_command_is_in_help() -> None:
    result = subprocess.run([*cli_command(), "--help"], capture_output=True, text=True)
    for command in ("serve", "job", "user", "import", "build", "cleanup", "compress", "archive", "restore", "backup"):
        assert command in result.stdout


def test_a_folder_that_cannot_be_made_is_one_line_not_a_traceback(make_config, instance: Path) -> None:
    (instance / "blocker").write_text("a file where a folder should be")
    config = make_config(paths__data="blocker/data")
    result = run(config.source, "job", "list")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Not a directory" in result.stderr and "blocker" in result.stderr


def test_job_titles_refuse_spoofing_controls(config) -> None:
    result = run(config.source, "job", "add", "invoice \u202egpj.exe")
    assert result.returncode == 2 and "control characters" in result.stderr


def test_a_title_that_is_not_utf8_is_refused_in_one_line(config) -> None:
    command = [*cli_command(), "--config", str(config.source), "job", "add", b"caf\xe9"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "valid Unicode" in result.stderr and "Traceback" not in result.stderr
