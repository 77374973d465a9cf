"""``jobgallery status`` healthy and needing attention; ``user list|disable|enable|remove`` beside a live daemon."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import IN_CI, nest
from daemon_support import http, running_daemon
from maintenance_support import job_with_photos, master, run_cli
from session_support import cookie, session_token, sign_in

from jobgallery import db, health, runs, users
from jobgallery.config import load_config

HTML = {"Accept": "text/html"}


@contextlib.contextmanager
def small_disk(path: Path, size: str = "4m"):
    """A tmpfs of ``size`` at ``path``: a disk whose fullness the test decides (mounting needs root)."""
    path.mkdir(parents=True)
    mounted = (
        os.geteuid() == 0
        and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]).returncode == 0
    )
    if not mounted:
        if IN_CI:
            pytest.fail("mounting a small tmpfs needs root")
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture
def disk_site(make_config, tmp_path):
    """A site whose data, output and archive all live on one 8 MiB tmpfs."""
    with small_disk(tmp_path / "disk", "8m") as disk:
        config = make_config(
            **{
                "paths.data": str(disk / "data"),
                "paths.output": str(disk / "output"),
                "paths.archive": str(disk / "archive"),
            }
        )
        for folder in (config.paths.data, config.paths.output, config.paths.archive):
            folder.mkdir(exist_ok=True)
        yield config


def status(config, *args: str) -> subprocess.CompletedProcess:
    return run_cli(config, "status", *args)


def test_status_of_a_healthy_box_exits_0_and_says_what_it_knows(disk_site):
    config = disk_site
    with db.open_db(config.db_path) as conn:
        job_with_photos(config, conn, 2)
    assert run_cli(config, "build").returncode == 0
    result = status(config, "--integrity")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("version: ")
    disk = next(line for line in lines if line.startswith("disk "))
    assert disk.startswith("disk data+output+archive: ") and "free of 8.0 MiB" in disk
    assert "at the last 30 days' rate" in disk
    assert any(line.startswith("last build: ok ") for line in lines)
    assert "last backup: never run" in lines and "database integrity: ok" in lines
    assert lines[-1] == "status: ok"


def test_status_needs_attention_when_a_disk_is_nearly_full(disk_site):
    config = disk_site
    filler = config.paths.archive / "filler.bin"
    with contextlib.suppress(OSError), open(filler, "wb") as out:
        out.write(b"\0" * (8 * 1024 * 1024 - 300 * 1024))
    result = status(config)
    assert result.returncode == 1, result.stdout
    assert "status: needs attention" in result.stdout
    assert "the data and output and archive disk is 9" in result.stdout and "% full" in result.stdout
    filler.unlink()
    assert status(config).returncode == 0


def test_status_needs_attention_after_a_failed_build_until_one_succeeds(config, conn):
    job = job_with_photos(config, conn, 2)
    broken = db.list_images(conn, job.id)[0]
    good = master(config, broken).read_bytes()
    master(config, broken).write_bytes(good[: len(good) // 3])  # cut short on the disk
    assert run_cli(config, "build").returncode == 1
    result = status(config)
    assert result.returncode == 1
    assert "last build: FAILED" in result.stdout and "the last build failed" in result.stdout
    assert f"failed: {broken.filename}: " in result.stdout  # the failure is named
    master(config, broken).write_bytes(good)
    assert run_cli(config, "build").returncode == 0
    assert status(config).returncode == 0


def test_status_needs_attention_when_a_folder_is_on_no_disk_that_exists(make_config, tmp_path):
    gone = tmp_path / "unplugged-drive" / "jobs" / "archive"
    config = make_config(**{"paths.archive": str(gone)})
    result = status(config)
    assert result.returncode == 1, result.stdout
    assert f"the archive folder {gone} is missing" in result.stdout
    gone.parent.mkdir(parents=True)  # the drive is back: the first archive run makes the folder itself
    assert status(config).returncode == 0


def test_status_needs_attention_when_the_disk_fills_within_the_warning_days(make_config):
    config = make_config(**{"maintenance.warn_days_left": 10**9, "maintenance.warn_free_percent": 0})
    with db.open_db(config.db_path) as conn:
        job_with_photos(config, conn, 1)
        found = health.gather(config, conn)
    assert not found.ok and "fills in about" in found.problems[0]


def test_a_run_that_raises_is_recorded_as_failed(config, conn):
    with pytest.raises(OSError), runs.recorded(config.db_path, "backup"):
        raise OSError(28, "No space left on device")
    last = runs.last(conn, "backup")
    assert not last.ok and "No space left on device" in last.summary


# ---------------------------------------------------------------- user list, disable, remove


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crew")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(nest({"server.rebuild_delay_seconds": 0.2})), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, "boss", "boss-password-1", admin=True)
        with running_daemon(config_path) as daemon:
            yield daemon, config, conn


def signed_in(url: str, name: str, password: str) -> dict[str, str]:
    reply = sign_in(url, name, password)
    assert reply.status == 303, reply.text
    return cookie(session_token(reply))


def test_user_list_is_tab_separated_name_role_state(live):
    _, config, conn = live
    users.add_user(conn, "zed", "zed-password-1", admin=False)
    users.add_user(conn, "amy", "amy-password-1", admin=False)
    run_cli(config, "user", "disable", "zed")
    result = run_cli(config, "user", "list")
    assert result.returncode == 0
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert (
        ["amy", "crew", "active"] in rows
        and ["boss", "admin", "active"] in rows
        and ["zed", "crew", "disabled"] in rows
    )
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)


@pytest.mark.parametrize("command", ["disable", "remove"])
def test_disabling_or_removing_a_user_ends_its_session_at_once(live, command):
    daemon, config, conn = live
    name = f"leaver-{command}"
    users.add_user(conn, name, "leaver-password", admin=False)
    session = signed_in(daemon.url, name, "leaver-password")
    assert http("GET", daemon.url + "/upload", headers={**session, **HTML}).status == 200
    result = run_cli(config, "user", command, name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{'disabled' if command == 'disable' else 'removed'} user {name}")
    after = http("GET", daemon.url + "/upload", headers={**session, **HTML})
    assert after.status == 303 and "/login" in after.header("location")
    assert sign_in(daemon.url, name, "leaver-password").status == 401
    if command == "disable":
        assert run_cli(config, "user", "enable", name).returncode == 0
        assert sign_in(daemon.url, name, "leaver-password").status == 303


def test_user_commands_refuse_in_one_line(live):
    _, config, _ = live
    for args, words, code in (
        (("user", "disable", "nobody"), "no user named", 1),
        (("user", "remove", "no such!"), "user name is", 2),
        (("user", "remove", "boss"), "last admin", 1),  # a refusal the state explains, not a usage error
        (("user", "disable", "boss"), "last admin", 1),
    ):
        result = run_cli(config, *args)
        assert result.returncode == code, args
        assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_no_op_build_or_a_refused_one_leaves_no_run_row(config, conn):
    job_with_photos(config, conn, 1)
    count = lambda: conn.execute("SELECT COUNT(*) FROM run WHERE task = 'build'").fetchone()[0]  # noqa: E731
    assert run_cli(config, "build").returncode == 0 and count() == 1
    assert run_cli(config, "build").returncode == 0 and count() == 1  # nothing to do: no write
    assert run_cli(config, "build", "--job", "999").returncode == 1 and count() == 1
    assert runs.last(conn, "build").ok
