"""The upload form in headless Chromium at a phone's size, with and without JavaScript.

A real ``jobgallery serve`` on 127.0.0.1; the browser signs in with HTTP
Basic, picks three photos and sends them. With JavaScript each photo gets a
progress bar that must reach done; without it, the plain multipart form
posts them all and a readable page lists three rows. The daemon sends the
same Content Security Policy as Nginx, so every test also fails on a
console message about it. (Playwright's ``wait_for_function`` evaluates a
string, which that policy forbids: the waits here use locators.)
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import photos
import pytest
import yaml
from daemon_support import http, running_daemon
from PIL import Image
from playwright.sync_api import expect
from session_support import sign_in_page

from jobgallery import db, users
from jobgallery.config import load_config

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
CREW = {"username": "crew", "password": "crew-password-1"}
BOSS = {"username": "boss", "password": "boss-password-1"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("upload-browser")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump({"server": {"rebuild_delay_seconds": 1}}), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, CREW["username"], CREW["password"], admin=False)
        users.add_user(conn, BOSS["username"], BOSS["password"], admin=True)
        db.create_job(conn, "Older job")
        with running_daemon(config_path) as daemon:
            yield daemon, conn


@pytest.fixture
def csp_violations(browser, site):
    """Console messages about the Content Security Policy, from every page of ``open_page``; none at the end."""
    found: list[str] = []
    contexts = []
    site_url = site[0].url

    def open_page(http_credentials=None, **options):
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
        if http_credentials:
            sign_in_page(page, site_url, http_credentials)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert found == []


def three_photos(folder: Path, first_seed: int) -> list[str]:
    paths = []
    for i in range(3):
        path = folder / f"IMG_{first_seed + i:04}.jpg"
        path.write_bytes(photos.jpeg_bytes(800, 600, seed=first_seed + i))
        paths.append(str(path))
    return paths


def test_with_javascript_three_photos_each_get_a_progress_bar_to_done(site, csp_violations, tmp_path: Path) -> None:
    daemon, conn = site
    job = db.create_job(conn, "Roof <b>12</b> Elm St")
    page = csp_violations(http_credentials=CREW, **PHONE)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(daemon.url + "/upload")
    assert page.locator("#job option").first.inner_text() == "Roof <b>12</b> Elm St"
    page.select_option("#job", str(job.id))
    page.set_input_files("#photos", three_photos(tmp_path, 100))
    page.fill("#description", "From the phone")
    page.click("button.go")
    expect(page.locator("#queue li[data-state=done]")).to_have_count(3, timeout=20_000)
    rows = page.locator("#queue li")
    assert rows.count() == 3
    assert [rows.nth(i).locator("progress").evaluate("bar => bar.value === bar.max") for i in range(3)] == [True] * 3
    assert sorted(rows.nth(i).locator(".name").inner_text() for i in range(3)) == [
        "IMG_0100.jpg",
        "IMG_0101.jpg",
        "IMG_0102.jpg",
    ]
    assert page.locator("#summary").inner_text().startswith("3 stored, 0 already there, 0 failed")
    assert errors == []
    stored = db.list_images(conn, job.id)
    assert len(stored) == 3 and {row.description for row in stored} == {"From the phone"}


def test_a_send_lost_to_the_network_is_retried_and_stored_once(site, csp_violations, tmp_path: Path) -> None:
    daemon, conn = site
    job = db.create_job(conn, "Bad signal")
    page = csp_violations(http_credentials=CREW, **PHONE)
    attempts: list[str] = []

    def flaky(route) -> None:
        attempts.append(route.request.url)
        if len(attempts) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(f"**/api/jobs/{job.id}/images", flaky)
    page.goto(daemon.url + "/upload")
    page.select_option("#job", str(job.id))
    page.set_input_files("#photos", three_photos(tmp_path, 300)[:1])
    page.click("button.go")
    expect(page.locator("#queue li[data-state=done]")).to_have_count(1, timeout=20_000)
    assert len(attempts) == 2
    assert page.locator("#queue li .state").inner_text() == "Stored"
    assert len(db.list_images(conn, job.id)) == 1


def test_a_429_is_retried_after_the_wait_the_server_asks_for(site, csp_violations, tmp_path: Path) -> None:
    """A crew behind the same carrier NAT as a password guesser waits out the block instead of losing photos."""
    daemon, conn = site
    job = db.create_job(conn, "Shared address")
    page = csp_violations(http_credentials=CREW, **PHONE)
    attempts: list[float] = []

    def throttled(route) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            body = '{"error": "too many failed sign-ins from your address; try again in 2 seconds"}'
            route.fulfill(status=429, headers={"Retry-After": "2"}, content_type="application/json", body=body)
        else:
            route.continue_()

    page.route(f"**/api/jobs/{job.id}/images", throttled)
    page.goto(daemon.url + "/upload")
    page.select_option("#job", str(job.id))
    page.set_input_files("#photos", three_photos(tmp_path, 400)[:1])
    page.click("button.go")
    expect(page.locator("#queue li .state")).to_contain_text("The server is busy; next try in 2 s")
    expect(page.locator("#queue li[data-state=done]")).to_have_count(1, timeout=20_000)
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 1.9
    assert len(db.list_images(conn, job.id)) == 1


def test_without_javascript_the_plain_form_stores_three_photos(site, csp_violations, tmp_path: Path) -> None:
    daemon, conn = site
    job = db.create_job(conn, "Gutter, 3 Oak Rd")
    page = csp_violations(http_credentials=CREW, java_script_enabled=False, **PHONE)
    page.goto(daemon.url + "/upload")
    page.select_option("#job", str(job.id))
    page.set_input_files("#photos", three_photos(tmp_path, 200))
    page.fill("#tags", "gutter, after")
    with page.expect_navigation():
        page.click("button.go")
    assert page.locator("h1").inner_text() == "Photos stored"
    assert page.locator("ul.results li").count() == 3
    assert "3 photos stored" in page.locator("p.text").inner_text()
    stored = db.list_images(conn, job.id)
    assert len(stored) == 3 and {row.tags for row in stored} == {"gutter,after"}


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_an_admin_creates_a_job_from_the_form_and_lands_on_it(site, csp_violations, javascript: bool) -> None:
    daemon, conn = site
    title = f"Fence, north side ({'js' if javascript else 'plain'})"
    page = csp_violations(http_credentials=BOSS, java_script_enabled=javascript, **PHONE)
    page.goto(daemon.url + "/upload")
    page.locator("details.admin summary").click()
    page.fill("#title", title)
    with page.expect_navigation():
        page.get_by_role("button", name="Create job").click()
    assert re.search(r"/upload\?job=\d+&created=1$", page.url)
    assert page.locator("#job option:checked").inner_text() == title
    assert page.locator("p.notice[role=status]").inner_text() == "The job was created. Choose its photos below."
    assert title in [job.title for job in db.list_jobs(conn)]


def test_the_form_has_labels_visible_focus_and_readable_contrast(site, csp_violations) -> None:
    daemon, _ = site
    page = csp_violations(http_credentials=CREW, **PHONE)
    page.goto(daemon.url + "/upload")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
              .filter(el => el.type !== 'hidden' && !document.querySelector(`label[for="${el.id}"]`))
              .map(el => el.name)"""
    )
    assert unlabelled == []
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    ratio = page.evaluate(CONTRAST, "button.go")
    assert ratio >= 4.5
    text_ratio = page.evaluate(CONTRAST, "label[for=job]")
    assert text_ratio >= 7
    assert re.search(r"width=device-width", page.locator("meta[name=viewport]").get_attribute("content"))


def test_upload_with_nothing_chosen_says_so_at_the_button(site, csp_violations) -> None:
    daemon, _ = site
    page = csp_violations(http_credentials=CREW, **PHONE)
    page.goto(daemon.url + "/upload")
    page.click("button.go")
    message = page.locator("#form-message")
    expect(message).to_have_text("Choose one or more photos first.")
    expect(message).to_be_in_viewport()
    button, below = page.locator("button.go").bounding_box(), message.bounding_box()
    assert 0 <= below["y"] - (button["y"] + button["height"]) < 40


def test_a_refused_photo_looks_failed_and_can_be_retried_or_discarded(site, csp_violations, tmp_path: Path) -> None:
    daemon, conn = site
    job = db.create_job(conn, "Refusals")
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a photo at all", encoding="utf-8")
    page = csp_violations(http_credentials=CREW, **PHONE)
    page.goto(f"{daemon.url}/upload?job={job.id}")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.url.endswith("/images") else None)
    page.set_input_files("#photos", [str(fake)])
    page.click("button.go")
    failed = page.locator("#queue li[data-state=failed]")
    expect(failed).to_have_count(1, timeout=20_000)
    refusal = "Not stored: notes.jpg: not a supported image: JPEG, PNG, WebP or HEIC expected."
    expect(failed.locator(".state")).to_have_text(refusal)
    assert failed.locator("progress").count() == 0
    expect(failed).to_have_css("border-left-color", "rgb(164, 22, 26)")
    expect(page.locator("#badge")).to_have_text("0 waiting, 1 failed")
    failed.get_by_role("button", name="Retry").click()
    expect(page.locator("#summary")).to_contain_text("0 stored, 0 already there, 2 failed.", timeout=20_000)
    assert len(sent) == 2
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#queue li[data-state=failed]").get_by_role("button", name="Discard").click()
    expect(page.locator("#queue li")).to_have_count(0)
    expect(page.locator("#badge")).to_be_hidden()
    page.reload()
    expect(page.locator("#badge")).to_be_hidden()
    assert db.list_images(conn, job.id) == []


@pytest.mark.parametrize("keep", [False, True], ids=["cleared", "kept"])
def test_description_and_tags_are_cleared_after_a_batch_unless_kept(
    site, csp_violations, tmp_path: Path, keep: bool
) -> None:
    daemon, conn = site
    job = db.create_job(conn, f"Batches ({keep})")
    page = csp_violations(http_credentials=CREW, **PHONE)
    page.goto(f"{daemon.url}/upload?job={job.id}")
    page.set_input_files("#photos", three_photos(tmp_path, 500 + 10 * keep)[:1])
    page.fill("#description", "North wall")
    page.fill("#tags", "wall, before")
    if keep:
        page.check("#keep-fields")
    page.click("button.go")
    expect(page.locator("#summary")).to_contain_text("1 stored", timeout=20_000)
    expected = ("North wall", "wall, before") if keep else ("", "")
    assert (page.input_value("#description"), page.input_value("#tags")) == expected
    [row] = db.list_images(conn, job.id)
    assert (row.description, row.tags) == ("North wall", "wall,before")


def test_the_form_is_an_installable_app_with_a_favicon(site, csp_violations) -> None:
    daemon, _ = site
    page = csp_violations(http_credentials=CREW, **PHONE)
    page.goto(daemon.url + "/upload?job=1")
    scope = page.evaluate("() => navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == daemon.url + "/upload"
    worker = http("GET", daemon.url + "/upload/sw.js")
    assert worker.status == 200 and worker.header("service-worker-allowed") == "/upload"
    assert worker.header("content-type").startswith("text/javascript")
    manifest_href = page.locator("link[rel=manifest]").get_attribute("href")
    manifest = http("GET", daemon.url + manifest_href).json()
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == ("/upload", "/upload", "standalone")
    sizes = {}
    for icon in manifest["icons"]:
        reply = http("GET", daemon.url + icon["src"])
        assert reply.status == 200 and reply.header("content-type").startswith(icon["type"])
        if icon["type"] == "image/png":
            sizes[icon["purpose"], Image.open(io.BytesIO(reply.body)).size] = True
    assert set(sizes) == {("any", (192, 192)), ("any", (512, 512)), ("maskable", (512, 512))}
    favicon = http("GET", daemon.url + page.locator("link[rel=icon]").first.get_attribute("href"))
    assert favicon.status == 200 and Image.open(io.BytesIO(favicon.body)).format == "ICO"


# WCAG contrast of an element's text colour against its (first opaque ancestor's) background.
CONTRAST = """selector => {
  const rgb = text => text.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const alpha = text => { const parts = text.match(/[\\d.]+/g); return parts.length > 3 ? Number(parts[3]) : 1; };
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const el = document.querySelector(selector);
  let back = el;
  while (back && alpha(getComputedStyle(back).backgroundColor) === 0) back = back.parentElement;
  const bg = back ? rgb(getComputedStyle(back).backgroundColor) : [255, 255, 255];
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""
