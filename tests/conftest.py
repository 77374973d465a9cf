"""Fixtures shared by every test: a real config file, a real database, real images."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from jobgallery import db
from jobgallery.config import Config, load_config

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_binary(name: str) -> str:
    """Path to a binary the test needs; skipped on a dev box without it, a failure under CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (the README's test command installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def nest(overrides: dict) -> dict:
    """``{"server.port": 1}`` -> ``{"server": {"port": 1}}``."""
    tree: dict = {}
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        tree.setdefault(section, {})[name] = value
    return tree


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    """A fresh instance folder (config, data, output, archive live inside)."""
    folder = tmp_path / "instance"
    folder.mkdir()
    return folder


@pytest.fixture
def make_config(instance: Path):
    """Write ``instance/config.yaml`` with only the settings a test changes; return the loaded Config."""

    def make(**overrides) -> Config:
        settings = {key.replace("__", "."): value for key, value in overrides.items()}
        path = instance / "config.yaml"
        path.write_text(yaml.safe_dump(nest(settings)), encoding="utf-8")
        return load_config(str(path))

    return make


@pytest.fixture
def config(make_config) -> Config:
    return make_config()


@pytest.fixture
def conn(config: Config):
    with db.open_db(config.db_path) as connection:
        yield connection


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_command() -> list[str]:
    """The installed ``jobgallery`` console script of the Python running the tests."""
    script = Path(sys.executable).with_name("jobgallery")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jobgallery"]


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download), launched once for the run."""
    executable = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto in server mode) on 127.0.0.1 for the whole run."""
    from s3_support import S3Server

    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The test server, with the AWS SDK's standard credential variables set for this test and its commands."""
    from s3_support import CREDENTIALS

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    return s3_server
