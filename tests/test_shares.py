"""Share links from the command line: real config, database, photos and builds of output/."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

import pytest
import yaml
from apscheduler.schedulers.background import BackgroundScheduler
from generator_support import age_files, changed, snapshot
from maintenance_support import job_with_photos, run_cli

from daemon import share_expiry
from jobgallery import db, shares
from jobgallery.config import load_config

TOKEN_PATH = re.compile(r"s/([0-9a-f]{32})/")


@pytest.fixture
def site(make_config, conn):
    config = make_config()
    roof = job_with_photos(config, conn, count=2, title="Roof, 12 Elm St")
    other = job_with_photos(config, conn, count=1, title="Kitchen, 3 Oak Ave", seed=50)
    assert run_cli(config, "build").returncode == 0
    return config, roof, other


def share(config, *args: str) -> str:
    result = run_cli(config, "share", "add", *args)
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    assert TOKEN_PATH.fullmatch(path), path
    return path


def listing(config) -> list[list[str]]:
    result = run_cli(config, "share", "list")
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines()]


def test_a_share_shows_the_job_and_nothing_else_of_the_site(site):
    config, roof, _ = site
    path = share(config, str(roof.id), "--days", "7", "--note", "for the insurer")
    page = (config.paths.output / path / "index.html").read_text()
    assert "Roof, 12 Elm St" in page and "Kitchen" not in page
    assert '<meta name="robots" content="noindex">' in page
    assert 'class="back"' not in page and "/upload" not in page and 'href="../../"' not in page
    assert page.count("<img ") == 2
    for name in re.findall(r'src="([^"]+\.jpg)"', page):
        shared, original = config.paths.output / path / name, config.paths.output / roof.gallery_path() / name
        assert shared.stat().st_ino == original.stat().st_ino  # a hard link: nothing stored twice
    assert re.search(r'href="[^"]+\.zip"', page) and re.search(r'href="[^"]+\.pdf"', page)
    report = re.search(r'href="([^"]+\.pdf)"', page).group(1)
    assert (config.paths.output / path / report).read_bytes().startswith(b"%PDF")


def test_share_list_says_token_job_state_expiry_path(site):
    config, roof, _ = site
    path = share(config, str(roof.id), "--days", "7", "--note", "insurer")
    token = TOKEN_PATH.fullmatch(path).group(1)
    rows = listing(config)
    assert rows[0][:3] == [token, str(roof.id), "active"]
    assert rows[0][3].startswith((date.today() + timedelta(days=7)).isoformat()[:8])
    assert rows[0][4] == path and rows[0][6] == "insurer"


def test_tokens_are_long_and_differ(site):
    config, roof, _ = site
    tokens = {TOKEN_PATH.fullmatch(share(config, str(roof.id))).group(1) for _ in range(4)}
    assert len(tokens) == 4 and all(len(token) * 4 >= 128 for token in tokens)


def test_revoke_removes_the_page_when_it_returns(site):
    config, roof, _ = site
    path = share(config, str(roof.id))
    token = TOKEN_PATH.fullmatch(path).group(1)
    result = run_cli(config, "share", "revoke", token)
    assert result.returncode == 0 and token in result.stdout
    assert not (config.paths.output / path).exists()
    assert listing(config)[0][2] == "revoked"
    assert run_cli(config, "build", "--full").returncode == 0
    assert not (config.paths.output / path).exists()


def test_an_expired_link_is_gone_after_the_next_build(site):
    config, roof, _ = site
    path = share(config, str(roof.id), "--days", "0.00004")  # about 3.5 s
    assert (config.paths.output / path / "index.html").is_file()
    time.sleep(4)
    assert listing(config)[0][2] == "expired"
    assert run_cli(config, "build", "--job", str(roof.id)).returncode == 0
    assert not (config.paths.output / path).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--until", "2020-01-01"], "in the past"),
        (["--until", "tomorrow"], "YYYY-MM-DD"),
        (["--until", "2024-02-30"], "YYYY-MM-DD"),
        (["--days", "-1"], "between 0"),
        (["--days", "nan"], "between 0"),
        (["--days", "99999"], "between 0"),
        (["--days", "1e308"], "between 0"),
        (["--days", "inf"], "between 0"),
        (["--days=-inf"], "between 0"),
        (["--until", "9999-12-31"], "at most 3650 days"),
        (["--until", "10000-01-01"], "YYYY-MM-DD"),
        (["--until", "0001-01-01"], "in the past"),
        (["--until", "2026-02-30"], "YYYY-MM-DD"),
        (["--until", "\u00e9t\u00e9"], "YYYY-MM-DD"),
        (["--days", "1", "--until", "2099-01-01"], "not allowed with"),
        (["--note", "two\x07bells"], "control characters"),
        (["--note", "x" * 501], "at most 500"),
    ],
)
def test_bad_expiry_or_note_is_refused_and_nothing_is_stored(site, args, message):
    config, roof, _ = site
    result = run_cli(config, "share", "add", str(roof.id), *args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()[-1]) < 200
    assert listing(config) == [] and not (config.paths.output / "s").exists()


def test_unknown_or_archived_jobs_cannot_be_shared(site):
    config, _, other = site
    assert run_cli(config, "share", "add", "999").returncode == 1
    assert run_cli(config, "archive", "--job", str(other.id)).returncode == 0
    result = run_cli(config, "share", "add", str(other.id))
    assert result.returncode == 1 and "archived" in result.stderr
    assert listing(config) == []


@pytest.mark.parametrize("token", ["nonsense", "0" * 31, "g" * 32, "../../etc", "0" * 32])
def test_revoking_what_is_no_token_is_refused(site, token):
    config, _, _ = site
    result = run_cli(config, "share", "revoke", token)
    assert result.returncode in (1, 2) and ("token" in result.stderr or "share link" in result.stderr)


def test_links_survive_a_full_build_and_a_public_index_flip(site):
    config, roof, _ = site
    path = share(config, str(roof.id))
    assert run_cli(config, "build", "--full").returncode == 0
    assert (config.paths.output / path / "index.html").is_file()
    settings = yaml.safe_load(config.source.read_text()) or {}
    settings.setdefault("gallery", {})["public_index"] = False
    config.source.write_text(yaml.safe_dump(settings))
    private = load_config(str(config.source))
    assert run_cli(private, "build").returncode == 0
    page = (config.paths.output / path / "index.html").read_text()
    assert page.count("<img ") == 2 and roof.token not in page
    for name in re.findall(r'src="([^"]+\.jpg)"', page):
        assert (config.paths.output / path / name).is_file()


def test_an_archived_jobs_link_shows_the_archived_stub(site):
    config, roof, _ = site
    path = share(config, str(roof.id))
    assert run_cli(config, "archive", "--job", str(roof.id)).returncode == 0
    page = (config.paths.output / path / "index.html").read_text()
    assert "archived on" in page and "<img " not in page and 'class="back"' not in page
    assert sorted(p.name for p in (config.paths.output / path).iterdir()) == ["index.html"]


def test_the_build_removes_folders_of_links_it_does_not_know(site, conn):
    config, roof, _ = site
    stray = config.paths.output / "s" / ("ab" * 16)
    stray.mkdir(parents=True)
    (stray / "index.html").write_text("old")
    assert run_cli(config, "build", "--job", str(roof.id)).returncode == 0
    assert not stray.exists()
    assert shares.active(conn) == []
    assert db.list_shares(conn) == []


def test_a_build_with_nothing_new_leaves_share_folders_alone(site):
    config, roof, _ = site
    share(config, str(roof.id))
    age_files(config.paths.output)
    before = snapshot(config.paths.output)
    result = run_cli(config, "build")
    assert result.returncode == 0 and "0 pages written, 0 files removed" in result.stdout
    assert changed(before, snapshot(config.paths.output)) == set()


def test_the_daemon_looks_for_expired_links_every_minute_and_builds_only_for_one(site, conn):
    config, roof, _ = site
    scheduler = BackgroundScheduler()
    share_expiry.schedule(scheduler, config)
    assert scheduler.get_job("share-expiry").trigger.interval == timedelta(minutes=1)
    link = shares.create(conn, roof.id, shares.now_utc() + timedelta(days=1))
    assert run_cli(config, "build").returncode == 0
    assert share_expiry.sweep(config) is None  # every folder is an active link's: no build
    conn.execute("UPDATE share SET expires_at = ? WHERE token = ?", ("2000-01-01T00:00:00+00:00", link.token))
    assert (config.paths.output / link.path).is_dir()
    assert share_expiry.sweep(config) is not None
    assert not (config.paths.output / link.path).exists()
    assert share_expiry.stale_link(config) == (False, None)
