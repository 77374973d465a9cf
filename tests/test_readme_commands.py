"""The README followed as printed: a fresh clone, its two commands, then every command of its
"First run" and "Command line" sections, each in a fresh login shell.

The clone is of this repository's HEAD (commit before running it), made in a
temporary folder. Nothing here sets PATH: each command runs in ``bash -l``
with an empty environment but for HOME, the locale and pip's and the proxy's
settings, which is the PATH a newly opened terminal on Debian has. What the
test changes, and why:

- the clone's ``config.yaml`` listens on a free port instead of 8080, so the
  test never collides with a daemon already running on the box;
- ``./scripts/test.sh`` is run as ``./scripts/test.sh --version``: its whole
  set-up runs as printed, and pytest only reports its version instead of
  running the suite inside the suite.

Along the way: the daemon's hint for adding crew accounts works when pasted
from another folder; the second start of the serve script installs nothing;
``job add`` and ``import`` publish by themselves (the job's page is served
with its photos before ``build`` runs); the serve script stops on Ctrl-C.
pip's own cache (in HOME) keeps the installs to a minute or two.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import IN_CI, free_port

REPO = Path(__file__).resolve().parent.parent
INSTALL_SECONDS = 900  # a fresh .venv from pip's cache; generous for a loaded 2-core box
COMMAND_SECONDS = 180
KEPT_ENVIRONMENT = ("HOME", "LANG", "LC_ALL", "TERM", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY")
KEPT_ENVIRONMENT += ("HTTPS_PROXY", "NO_PROXY")


def fresh_environment() -> dict[str, str]:
    """What a new terminal starts from; PATH comes from the login shell's /etc/profile."""
    kept = {key: value for key, value in os.environ.items() if key in KEPT_ENVIRONMENT or key.startswith("PIP_")}
    kept.setdefault("HOME", str(Path.home()))
    return kept


def login_shell(command: str) -> list[str]:
    return ["bash", "-l", "-c", command]


def shell(command: str, cwd: Path, stdin: str = "", timeout: float = COMMAND_SECONDS) -> subprocess.CompletedProcess:
    return subprocess.run(
        login_shell(command),
        cwd=cwd,
        env=fresh_environment(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---------------------------------------------------------------- the README's commands


def section(readme: str, heading: str | None) -> str:
    """The text under ``## heading`` up to the next ``## ``; None: the text before the first ``## ``."""
    parts = re.split(r"(?m)^## ", readme)
    if heading is None:
        return parts[0]
    return next(part for part in parts[1:] if part.startswith(heading + "\n"))


def shell_lines(text: str) -> list[str]:
    """Every command line of the ```sh blocks in ``text``."""
    blocks = re.findall(r"(?ms)^```sh\n(.*?)^```", text)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


# ---------------------------------------------------------------- the clone and the daemon


def clone(into: Path) -> Path:
    if not (REPO / ".git").exists():
        message = "not a git checkout: nothing to clone"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    folder = into / "jobgallery"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(folder)], check=True, timeout=120)
    config = folder / "config.yaml"
    text, changed = re.subn(r"(?m)^(  port:\s*)8080\b", rf"\g<1>{free_port()}", config.read_text())
    assert changed == 1, "config.yaml should set server.port 8080 exactly once"
    config.write_text(text)
    return folder


def read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


@contextlib.contextmanager
def serving(folder: Path, command: str, banner_seconds: float) -> Iterator[list[str]]:
    """Run the README's serve command until its banner; after the block, Ctrl-C it and expect exit 0."""
    process = subprocess.Popen(
        login_shell(command),
        cwd=folder,
        env=fresh_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    printed: list[str] = []
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        deadline = time.monotonic() + banner_seconds
        while not any(line.startswith("Gallery:") for line in printed):
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"{command} ended early:\n{''.join(printed)}"
            printed.append(line)
        yield printed
    finally:
        os.killpg(process.pid, signal.SIGINT)
        status = process.wait(timeout=60)
    assert status == 0, f"{command} exited with {status} on Ctrl-C:\n{''.join(printed)}"


def value(printed: list[str], label: str) -> str:
    line = next(line for line in printed if line.strip().startswith(label))
    return line.split(label, 1)[1].strip()


def thumbnails(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return len(re.findall(r"<img [^>]*loading=\"lazy\"", answer.read().decode("utf-8")))


# ---------------------------------------------------------------- the test


def test_the_readme_works_as_printed_from_a_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed to clone the repository") if IN_CI else pytest.skip("git is not installed")
    folder = clone(tmp_path)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    serve_command, test_command = shell_lines(section(readme, None))
    assert (serve_command, test_command) == ("./scripts/serve.sh", "./scripts/test.sh")

    # 1. The first start installs, creates the admin and prints a command for crew accounts that works anywhere.
    with serving(folder, serve_command, INSTALL_SECONDS) as printed:
        assert any(line.startswith("installing jobgallery and the Python packages it needs") for line in printed)
        assert any(line.startswith("  collecting ") for line in printed), "".join(printed)
        hint = value(printed, "Add crew accounts with:")
        added = shell(hint.replace("NAME", "foreman"), cwd=tmp_path, stdin="a-long-password\n")
        assert (added.returncode, added.stdout) == (0, "created user foreman\n"), added.stderr

    # 2. The test command's set-up, as printed.
    tested = shell(f"{test_command} --version", cwd=folder, timeout=INSTALL_SECONDS)
    assert tested.returncode == 0 and "pytest" in tested.stdout + tested.stderr, tested.stdout + tested.stderr
    assert "installing jobgallery and the Python packages it needs for the tests" in tested.stderr

    # 3. The second start installs nothing, even after the operator edited config.yaml and a site's photos
    #    arrived in the folder; the sections' commands then run as printed beside the daemon.
    with (folder / "config.yaml").open("a", encoding="utf-8") as config:
        config.write("# edited by the operator\n")
    (folder / "site-photos").mkdir()
    (folder / "site-photos" / "img_1.jpg").write_bytes(b"\xff\xd8 not installed")
    with serving(folder, serve_command, 60) as printed:
        assert not any(line.startswith(("installing", "creating .venv")) for line in printed), "".join(printed)
        gallery = value(printed, "Gallery:")
        page = f"{gallery}jobs/1-roof-12-elm-st/"
        for line in shell_lines(section(readme, "First run")) + shell_lines(section(readme, "Command line")):
            result = shell(line, cwd=folder)
            assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
            check_output(line, result.stdout)
            if " import " in line:  # published by the import itself, before the README's build
                assert thumbnails(page) == 5
    assert thumbnails((folder / "output" / "jobs" / "1-roof-12-elm-st" / "index.html").as_uri()) == 5

    # 4. A change to the package's files, even a new one, is installed before the tests run: never a stale copy.
    init = folder / "jobgallery" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', '__version__ = "9.9.9"', init.read_text()))
    (folder / "jobgallery" / "added_module.py").write_text('"""A module the last install did not have."""\n')
    again = shell(f"{test_command} --version", cwd=folder, timeout=INSTALL_SECONDS)
    assert again.returncode == 0 and "installing jobgallery from this folder" in again.stderr, again.stderr
    probe = "import jobgallery.added_module, jobgallery; print(jobgallery.__version__)"
    installed = shell(f"{folder}/.venv/bin/python -c '{probe}'", cwd=tmp_path)  # not the clone: the installed copy
    assert installed.stdout == "9.9.9\n", installed.stderr


def check_output(line: str, stdout: str) -> None:
    """What the README says a command prints: ``# prints X``, and the outputs its prose promises."""
    promised = re.search(r"# prints (\S+)$", line)
    if promised:
        assert stdout == promised.group(1) + "\n", line
    if line.endswith("--help"):
        assert "examples:" in stdout and "init" in stdout
    if " import " in line:
        assert "skipped README.md: a text file\n" in stdout
        assert "imported 5, duplicates 0, refused 0, skipped 1 (not photos)\n" in stdout
    if line.endswith("job list"):  # piped: the contract's tab-separated lines, no header
        assert all(len(row.split("\t")) == 5 for row in stdout.splitlines()), stdout
