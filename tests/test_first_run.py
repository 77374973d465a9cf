"""First run: from the README's first command to a published photo, in a browser, within two minutes.

``./scripts/serve.sh`` installs the package and runs ``jobgallery --config
config.yaml serve`` on the shipped config.yaml. Here the same steps run on a
fresh instance folder with the installed package: a copy of the shipped
config.yaml, ``jobgallery --config <copy> serve`` as a subprocess, and then
only what its output says: the admin's generated password and the two
addresses. Everything else happens in headless Chromium, signed in as that
admin: the gallery says how to add photos, the upload form creates the first
job and sends a photo, and the photo's thumbnail shows up on the job's page
that the daemon serves. No other command is typed.

Also here: every command's ``--help`` says in one line what it does and shows
an example that the command line accepts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import photos
import pytest
from conftest import cli_command, free_port

from jobgallery.cli import make_parser

REPO = Path(__file__).resolve().parent.parent
FIRST_RUN_SECONDS = 120
BANNER_SECONDS = 30
# ---------------------------------------------------------------- the first start, as the README runs it


def fresh_instance(folder: Path) -> Path:
    """A copy of the shipped config.yaml in an empty folder.

    Only ``server.port`` changes (to a free port), so the test neither needs
    8080 nor collides with a daemon a developer is running; every other
    setting, ``rebuild_delay_seconds`` included, is what a newcomer gets.
    """
    text, changed = re.subn(r"(?m)^(  port:\s*)\d+", rf"\g<1>{free_port()}", (REPO / "config.yaml").read_text())
    assert changed == 1, "config.yaml should set server.port exactly once"
    folder.mkdir()
    (folder / "config.yaml").write_text(text, encoding="utf-8")
    return folder / "config.yaml"


@dataclass
class FirstStart:
    """What ``jobgallery serve`` printed on its first start, and the process to stop afterwards."""

    process: subprocess.Popen
    printed: list[str] = field(default_factory=list)

    def value(self, label: str) -> str:
        """``"password"`` -> the text after ``password:`` on the line that starts with it."""
        for line in self.printed:
            if line.strip().startswith(f"{label}:"):
                return line.split(":", 1)[1].strip()
        raise AssertionError(f"jobgallery serve printed no {label!r} line:\n{''.join(self.printed)}")


def read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


@contextlib.contextmanager
def first_start(config_path: Path) -> Iterator[FirstStart]:
    """Start the daemon, wait for its banner (bounded), stop it with SIGTERM after the block (exit 0)."""
    log = config_path.with_name("serve.log")
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [*cli_command(), "--config", str(config_path), "serve"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=config_path.parent,
            text=True,
        )
    started = FirstStart(process)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        deadline = time.monotonic() + BANNER_SECONDS
        while not any(line.startswith("Gallery:") for line in started.printed):
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"jobgallery serve exited early:\n{log.read_text()}"
            started.printed.append(line)
        yield started
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=30)
    assert status == 0, f"jobgallery serve exited with {status}:\n{log.read_text()}"


# ---------------------------------------------------------------- the browser


def reload_until(page, locator, deadline: float) -> None:
    """Reload until ``locator`` is on the page: the site is rebuilt a few seconds after a change."""
    while locator.count() == 0:
        assert time.monotonic() < deadline, f"{locator} never appeared on {page.url}:\n{page.content()}"
        page.wait_for_timeout(250)
        page.reload()


def upload_one_photo(page, path: Path, javascript: bool) -> None:
    """Choose the photo and send it; with JavaScript the form reports on the same page, without it on the next."""
    page.get_by_label("Choose photos").set_input_files(str(path))
    button = page.get_by_role("button", name="Upload photos")
    if javascript:
        button.click()
        page.get_by_text("1 stored", exact=False).wait_for(timeout=30_000)
    else:
        with page.expect_navigation():
            button.click()
        assert page.get_by_role("heading", name="Photos stored").is_visible()


# ---------------------------------------------------------------- the first run


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_first_run_reaches_a_published_photo_within_two_minutes(browser, tmp_path: Path, javascript: bool) -> None:
    began = time.monotonic()
    deadline = began + FIRST_RUN_SECONDS
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(photos.jpeg_bytes(1600, 1200, seed=7))
    with first_start(fresh_instance(tmp_path / "instance")) as first:
        admin = {"username": first.value("user"), "password": first.value("password")}
        gallery, upload = first.value("Gallery"), first.value("Upload form")
        context = browser.new_context(java_script_enabled=javascript)
        page = context.new_page()

        # The gallery is empty and says where photos come from; its link leads through sign-in to the upload form.
        page.goto(gallery)
        to_the_form = page.get_by_role("link", name="upload form", exact=True)
        reload_until(page, to_the_form, deadline)
        to_the_form.click()
        assert page.get_by_role("heading", name="Sign in").is_visible()
        page.get_by_label("User name").fill(admin["username"])
        page.get_by_label("Password").fill(admin["password"])
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        assert page.url == upload

        # With no jobs yet, the admin creates the first one right on the form.
        page.get_by_label("Job title").fill("Roof, 12 Elm St")
        with page.expect_navigation():
            page.get_by_role("button", name="Create job").click()
        assert page.get_by_label("Job", exact=True).locator("option:checked").inner_text() == "Roof, 12 Elm St"
        upload_one_photo(page, photo, javascript)

        # The gallery the daemon serves lists the job; its page shows the photo's thumbnail.
        page.goto(gallery)
        job_link = page.get_by_role("link", name="Roof, 12 Elm St")
        reload_until(page, job_link, deadline)
        job_link.click()
        thumbnail = page.locator("main a.photo-link img")
        reload_until(page, thumbnail, deadline)
        assert thumbnail.count() == 1
        assert thumbnail.evaluate("img => img.complete && img.naturalWidth") == 300
        display = page.request.get(thumbnail.locator("xpath=ancestor::a").evaluate("link => link.href"))
        assert display.ok and display.headers["content-type"] == "image/jpeg"
        context.close()
    elapsed = time.monotonic() - began
    print(f"first run ({'with' if javascript else 'without'} JavaScript): {elapsed:.1f} s")
    assert elapsed < FIRST_RUN_SECONDS


# ---------------------------------------------------------------- help for every command


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every sub-command, groups and their actions too: ("serve",), ("job",), ("job", "add"), ..."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found += command_paths(sub, (*prefix, name))
    return found


def help_of(*path: str) -> str:
    result = subprocess.run(
        [*cli_command(), *path, "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"}
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def examples(help_text: str) -> list[str]:
    """The command lines under ``example:`` (or ``examples:``), without their trailing comments."""
    lines = help_text.splitlines()
    starts = [i for i, line in enumerate(lines) if re.fullmatch(r"examples?:", line)]
    assert starts, f"no 'example:' line in:\n{help_text}"
    found = []
    for line in lines[starts[0] + 1 :]:
        if not line.startswith("  "):
            break
        found.append(re.split(r"\s{2,}", line.strip())[0])
    return found


def assert_accepted(example: str, path: tuple[str, ...]) -> None:
    """The example runs the command it documents, with arguments the parser accepts."""
    words = shlex.split(example.split("|")[-1])
    assert words[: len(path) + 1] == ["jobgallery", *path], example
    try:
        make_parser().parse_args(words[1:])
    except SystemExit as exc:
        raise AssertionError(f"the example {example!r} is refused by the parser") from exc


@pytest.mark.parametrize("path", [(), *command_paths(make_parser())], ids=lambda path: " ".join(path) or "jobgallery")
def test_help_says_what_the_command_does_in_one_line_and_shows_an_example(path: tuple[str, ...]) -> None:
    text = help_of(*path)
    description = text.split("\n\n")[1]
    assert "\n" not in description and description.endswith("."), f"not a one-line description:\n{text}"
    found = examples(text)
    assert found, f"an empty example section in:\n{text}"
    for example in found:
        assert_accepted(example, path)
