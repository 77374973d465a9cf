"""A customer opens a share link in Chromium; an admin makes and revokes one with the browser's session."""

from __future__ import annotations

import zipfile

import pytest
import yaml
from daemon_support import http, running_daemon
from maintenance_support import job_with_photos, run_cli
from session_support import sign_in_page

from jobgallery import db, users
from jobgallery.config import load_config

ADMIN = {"username": "boss", "password": "boss-password-1"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("handover-browser")
    (folder / "config.yaml").write_text(yaml.safe_dump({"server": {"rebuild_delay_seconds": 0.2}}))
    config = load_config(str(folder / "config.yaml"))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, ADMIN["username"], ADMIN["password"], admin=True)
        job = job_with_photos(config, conn, count=3)
        job_with_photos(config, conn, count=1, title="Kitchen, 3 Oak Ave", seed=30)
    assert run_cli(config, "build").returncode == 0
    path = run_cli(config, "share", "add", str(job.id), "--days", "3").stdout.strip()
    with running_daemon(folder / "config.yaml") as daemon:
        yield daemon, config, job, path


def test_a_shared_page_works_and_leads_nowhere_else(browser, site, tmp_path):
    daemon, _, _, path = site
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{daemon.url}/{path}", wait_until="networkidle")
    assert page.title().startswith("Roof, 12 Elm St")
    assert page.locator("img").count() == 3
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert hrefs and not [href for href in hrefs if href.startswith(("/", "..", "http"))]
    assert page.locator("text=Kitchen").count() == 0
    with page.expect_download() as download_info:
        page.click("a.download-zip")
    download = download_info.value
    assert download.suggested_filename == "roof-12-elm-st-photos.zip"
    saved = tmp_path / "all.zip"
    download.save_as(saved)
    assert len(zipfile.ZipFile(saved).namelist()) == 3
    report = page.get_attribute("a.download-report", "href")
    reply = http("GET", f"{daemon.url}/{path}{report}")
    assert reply.status == 200 and reply.body.startswith(b"%PDF")
    assert problems == []
    context.close()


def test_an_admin_makes_and_revokes_a_link_in_the_browser(browser, site):
    daemon, _, job, _ = site
    context = browser.new_context()
    page = context.new_page()
    sign_in_page(page, daemon.url, ADMIN, f"/admin/jobs/{job.id}/shares")
    assert page.url.endswith(f"/admin/jobs/{job.id}/shares")
    page.fill("input[name=days]", "2")
    page.fill("input[name=note]", "for the insurer")
    with page.expect_navigation():
        page.click("text=Make a share link")
    row = page.locator("tr.share.created")
    address = row.locator("a").get_attribute("href")
    assert "for the insurer" in row.inner_text()
    viewer = context.new_page()
    for _ in range(100):
        if viewer.goto(address).status == 200:
            break
        viewer.wait_for_timeout(100)
    assert viewer.locator("img").count() == 3
    with page.expect_navigation():
        row.locator("button.revoke").click()
    assert "revoked" in page.locator("tr.share", has_text="for the insurer").inner_text()
    assert http("GET", address).status == 404
    context.close()
