"""The shipped systemd units: valid for systemd, hardened, and running commands our CLI accepts.

``systemd-analyze verify`` checks that each ExecStart binary exists on the
checking machine, so the units are checked from a temp copy whose
``/opt/jobgallery/venv/bin/jobgallery`` points at the test environment's own
``jobgallery``; nothing else is changed.
"""

from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_binary

from jobgallery.cli import make_parser
from jobgallery.config import SETTINGS
from jobgallery.decode_budget import RESIDENT_MIB

REPO = Path(__file__).resolve().parent.parent
UNITS = sorted((REPO / "systemd").glob("jobgallery*"))
SHIPPED_BINARY = "/opt/jobgallery/venv/bin/jobgallery"
SERVICES = (
    "jobgallery.service",
    "jobgallery-build.service",
    "jobgallery-archive.service",
    "jobgallery-publish.service",
)


def read_unit(name: str) -> configparser.ConfigParser:
    """Unit files are ini-like; repeated keys (SystemCallFilter) are joined, which is enough here."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read(REPO / "systemd" / name)
    return parser


@pytest.fixture(scope="module")
def unit_copies(tmp_path_factory) -> list[Path]:
    binary = Path(sys.executable).with_name("jobgallery")
    assert binary.exists(), "the test environment has no jobgallery console script"
    folder = tmp_path_factory.mktemp("units")
    copies = []
    for unit in UNITS:
        text = unit.read_text()
        if unit.suffix == ".service":
            assert SHIPPED_BINARY in text, f"{unit.name} no longer runs {SHIPPED_BINARY}"
        copy = folder / unit.name
        copy.write_text(text.replace(SHIPPED_BINARY, str(binary)))
        copies.append(copy)
    return copies


def analyze(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_binary("systemd-analyze"), *args], capture_output=True, text=True, timeout=60)


def test_every_unit_is_shipped():
    assert [u.name for u in UNITS] == sorted([*SERVICES, "jobgallery-build.timer", "jobgallery-archive.timer"])


def test_systemd_analyze_verify_passes_quietly(unit_copies):
    result = analyze("verify", "--man=no", *map(str, unit_copies))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_exposure_is_at_most_2(unit_copies, name):
    unit = next(u for u in unit_copies if u.name == name)
    result = analyze("security", "--offline=true", "--threshold=20", str(unit))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "Overall exposure level" in result.stdout


@pytest.mark.parametrize("name", SERVICES)
def test_services_run_commands_the_cli_accepts(name):
    argv = shlex.split(read_unit(name)["Service"]["ExecStart"])
    assert argv[0] == SHIPPED_BINARY
    args = make_parser().parse_args(argv[1:])
    assert args.config == "/etc/jobgallery/config.yaml"
    commands = {"jobgallery.service": "serve", "jobgallery-build.service": "build"}
    assert args.command == {**commands, "jobgallery-publish.service": "publish"}.get(name, "archive")


def test_daemon_unit_hardening():
    service = read_unit("jobgallery.service")["Service"]
    assert service["User"] == "jobgallery" and service["Restart"] == "on-failure"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"].split() == ["/var/lib/jobgallery/data", "/var/lib/jobgallery/output"]
    assert service["NoNewPrivileges"] == "true" and service["PrivateTmp"] == "true"


def test_archive_unit_may_write_the_archive_and_archives_what_is_due():
    unit = read_unit("jobgallery-archive.service")
    paths = unit["Service"]["ReadWritePaths"].split()
    assert paths == ["/var/lib/jobgallery/data", "/var/lib/jobgallery/output", "/mnt/jobgallery-archive"]
    assert unit["Unit"]["RequiresMountsFor"] == "/mnt/jobgallery-archive", "no archive onto the SD card"
    assert unit["Service"]["ExecStart"].endswith(" archive --due")


@pytest.mark.parametrize("name", ["jobgallery-build.timer", "jobgallery-archive.timer"])
def test_timers_catch_up_and_spread(name):
    timer = read_unit(name)["Timer"]
    assert timer["Persistent"] == "true" and timer["RandomizedDelaySec"]
    assert timer["OnCalendar"]
    check = analyze("calendar", timer["OnCalendar"])
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("name", ["jobgallery.service", "jobgallery-build.service", "jobgallery-archive.service"])
def test_memory_max_leaves_room_for_the_default_decode_budget(name):
    """Units that decode (archive builds too) hold up to the box-wide budget plus their processes."""
    memory_max = read_unit(name)["Service"]["MemoryMax"]
    assert memory_max.endswith("M")
    default = next(setting.default for setting in SETTINGS if setting.key == "images.max_decode_mb")
    assert default + RESIDENT_MIB <= int(memory_max[:-1]) <= 2 * default + RESIDENT_MIB


def test_the_nightly_build_publishes_after_it_and_only_when_a_bucket_is_set():
    assert "jobgallery-publish.service" in read_unit("jobgallery-build.service")["Unit"]["Wants"].split()
    unit = read_unit("jobgallery-publish.service")
    assert "jobgallery-build.service" in unit["Unit"]["After"].split()
    args = make_parser().parse_args(shlex.split(unit["Service"]["ExecStart"])[1:])
    assert args.if_configured and not args.dry_run
    assert unit["Service"]["ReadWritePaths"].split() == ["/var/lib/jobgallery/data"], "publish never writes the site"
