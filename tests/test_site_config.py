"""Finding the site: no config means no command runs (and no site is made); ``init`` writes one.

A command run away from the site's folder used to fall back to defaults and
create an empty database under ``./data``: the operator saw no jobs and
thought them gone. Every command now stops with one line (exit 2) naming
where it looked and how to point it at the site, and writes nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import photos
import pytest
import yaml
from conftest import cli_command

from jobgallery.config import CONFIG_ENV, SETTINGS, load_config
from jobgallery.new_site import config_text

# Every command that reads or writes a site, each with arguments it would otherwise accept.
SITE_COMMANDS = [
    ("job", "list"),
    ("job", "add", "Roof"),
    ("user", "add", "crew"),
    ("user", "sessions", "crew"),
    ("import", "card", "--job", "1"),
    ("build",),
    ("cleanup", "--dry-run"),
    ("compress",),
    ("archive", "--job", "1"),
    ("restore", "job_1.tar"),
    ("backup", "copy"),
    ("serve",),
]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != CONFIG_ENV}
    environment.update(env or {})
    return subprocess.run(
        [*cli_command(), *args], cwd=cwd, env=environment, input=stdin, capture_output=True, text=True, timeout=60
    )


def listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("command", SITE_COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_a_command_without_any_config_stops_in_one_line_and_creates_nothing(tmp_path: Path, command) -> None:
    (tmp_path / "card").mkdir()
    (tmp_path / "card" / "a.jpg").write_bytes(photos.jpeg_bytes(seed=1))
    before = listing(tmp_path)
    result = run(*command, cwd=tmp_path, stdin="a-long-password\n")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"no config.yaml in {tmp_path}" in result.stderr
    assert "--config PATH" in result.stderr and f"{CONFIG_ENV}=PATH" in result.stderr
    assert listing(tmp_path) == before


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_named_config_that_is_missing_stops_too(tmp_path: Path, how: str) -> None:
    missing = tmp_path / "site" / "config.yaml"
    args, env = (["--config", str(missing)], None) if how == "flag" else ([], {CONFIG_ENV: str(missing)})
    result = run(*args, "job", "list", cwd=tmp_path, env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and str(missing) in result.stderr
    assert listing(tmp_path) == []


def test_init_writes_a_commented_config_that_loads_to_every_default(tmp_path: Path) -> None:
    result = run("init", "site", cwd=tmp_path)
    written = tmp_path / "site" / "config.yaml"
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"wrote {written}; start the site with: ") and result.stdout.count("\n") == 1
    assert result.stdout.rstrip().endswith(f"--config {written} serve")
    assert listing(tmp_path) == ["site", "site/config.yaml"]
    text = written.read_text(encoding="utf-8")
    assert text == config_text()
    loaded = yaml.safe_load(text)
    config = load_config(str(written))
    for setting in SETTINGS:
        section, name = setting.key.split(".", 1)
        assert f"# {setting.help}" in setting_lines(text)[setting.key]
        expected = setting.default
        if setting.kind == "path":  # resolved against the file's folder; empty means none
            expected = (written.parent / setting.default).resolve() if setting.default else None
        assert config.get(setting.key) == expected, setting.key
        assert loaded[section][name] == setting.default


def setting_lines(text: str) -> dict[str, str]:
    """``{"server.port": "  port: 8080  # ..."}``: each setting's line, found under its section's heading."""
    lines, section = {}, None
    for line in text.splitlines():
        if re.match(r"^[a-z_]+:$", line):
            section = line[:-1]
        elif line.startswith("  ") and ":" in line:
            lines[f"{section}.{line.split(':', 1)[0].strip()}"] = line
    return lines


def test_the_initialised_site_answers_commands_in_its_folder(tmp_path: Path) -> None:
    assert run("init", cwd=tmp_path).returncode == 0
    added = run("job", "add", "Roof", cwd=tmp_path)
    assert (added.returncode, added.stdout) == (0, "1\n")
    assert run("job", "list", cwd=tmp_path).stdout.startswith("1\tRoof\t0\tlive\t")
    assert (tmp_path / "data" / "jobgallery.db").is_file() and (tmp_path / "output" / "index.html").is_file()


@pytest.mark.parametrize("existing", ["file", "empty file", "dangling link", "folder"])
def test_init_never_replaces_what_is_there(tmp_path: Path, existing: str) -> None:
    target = tmp_path / "config.yaml"
    if existing == "file":
        target.write_text("server:\n  port: 9000\n", encoding="utf-8")
    elif existing == "empty file":
        target.touch()
    elif existing == "dangling link":
        target.symlink_to(tmp_path / "elsewhere.yaml")
    else:
        target.mkdir()
    before = {path: path.read_bytes() if path.is_file() else None for path in tmp_path.iterdir()}
    result = run("init", str(tmp_path), cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.count("\n") == 1 and "already exists" in result.stderr
    assert {path: path.read_bytes() if path.is_file() else None for path in tmp_path.iterdir()} == before


def test_init_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    result = run("init", "notes.txt", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "is not a folder" in result.stderr
    assert listing(tmp_path) == ["notes.txt"]
