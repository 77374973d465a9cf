"""Configuration: lookup order, path resolution, validation messages, documented settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import cli_command

from jobgallery.config import SETTINGS, load_config
from jobgallery.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


BAD_CONFIGS = [
    ("nope:\n  a: 1\n", "unknown section 'nope'"),
    ("server:\n  prot: 8080\n", "unknown setting 'server.prot'"),
    ("server:\n  port: eighty\n", "'server.port' must be a whole number"),
    ("server:\n  port: true\n", "'server.port' must be a whole number"),
    ("server:\n  port: 70000\n", "'server.port' must be at most 65535"),
    ("server:\n  serve_output: 1\n", "'server.serve_output' must be true or false"),
    ("server:\n  rebuild_delay_seconds: soon\n", "'server.rebuild_delay_seconds' must be a number"),
    ("paths:\n  data: 5\n", "'paths.data' must be a path"),
    ("server:\n  log_level: loud\n", "'server.log_level' must be one of"),
    ("maintenance:\n  cleanup_time: '25:00'\n", "'maintenance.cleanup_time' must be a time"),
    ("images:\n  thumb_size: 2000\n  display_size: 1024\n", "'images.thumb_size' must not exceed"),
    ("server: [1, 2]\n", "'server' must be a mapping"),
    ("gallery:\n  templates: no-such-folder\n", "'gallery.templates' names"),
    ("- just\n- a list\n", "must be a mapping of sections"),
    ("server:\n  port: [\n", "is not valid YAML (line"),
    ("server:\n  port: 1\n  port: 2\n", "(line 3): 'port' is given twice"),
    ("server:\n  port: 1\nserver:\n  host: x\n", "'server' is given twice"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS)
def test_bad_config_is_refused_with_the_key_named(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "config.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert message in str(caught.value)


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS[:3])
def test_cli_stops_with_one_line_and_status_2(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "config.yaml", text)
    result = subprocess.run([*cli_command(), "--config", str(path), "job", "list"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("make_bad", [lambda p: p / "missing.yaml", lambda p: p, lambda p: write(p / "b.yaml", "\xff")])
def test_unreadable_file_is_named(tmp_path: Path, make_bad) -> None:
    bad = make_bad(tmp_path)
    if bad.suffix == ".yaml" and bad.exists():
        bad.write_bytes(b"\xff\xfe bad")
    result = subprocess.run([*cli_command(), "--config", str(bad), "job", "list"], capture_output=True, text=True)
    assert result.returncode == 2
    assert str(bad) in result.stderr and result.stderr.count("\n") == 1


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = write(folder / "config.yaml", "paths:\n  data: ../var/data\n  output: out\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(str(path))
    assert config.paths.data == (tmp_path / "var" / "data").resolve()
    assert config.paths.output == (folder / "out").resolve()
    assert config.db_path == config.paths.data / "jobgallery.db"


def test_lookup_order_flag_then_environment_then_working_folder(tmp_path: Path, monkeypatch) -> None:
    local = write(tmp_path / "config.yaml", "server:\n  port: 1001\n")
    env = write(tmp_path / "env.yaml", "server:\n  port: 1002\n")
    flag = write(tmp_path / "flag.yaml", "server:\n  port: 1003\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOBGALLERY_CONFIG", raising=False)
    assert load_config().server.port == 1001
    monkeypatch.setenv("JOBGALLERY_CONFIG", str(env))
    assert load_config().server.port == 1002
    assert load_config(str(flag)).server.port == 1003
    assert local.exists()


def test_defaults_from_an_empty_file(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path / "config.yaml", "")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOBGALLERY_CONFIG", raising=False)
    config = load_config()
    assert config.source == tmp_path.resolve() / "config.yaml"
    assert config.paths.output == tmp_path.resolve() / "output"
    assert config.server.max_upload_mb == 25
    assert config.maintenance.orphan_grace_minutes == 60


def test_shipped_config_documents_every_setting_with_its_default() -> None:
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    shipped = yaml.safe_load(text)
    lines = text.splitlines()
    for setting in SETTINGS:
        section, name = setting.key.split(".")
        assert name in shipped.get(section, {}), f"config.yaml lacks {setting.key}"
        assert shipped[section][name] == setting.default, f"config.yaml's {setting.key} differs from the default"
        line = next(line for line in lines if line.strip().startswith(f"{name}:"))
        assert "#" in line.split(":", 1)[1], f"config.yaml's {setting.key} has no comment"
        assert setting.help, f"{setting.key} has no help text"
    loaded = load_config(str(REPO / "config.yaml"))
    assert loaded.server.port == 8080
