"""The printable job sheet (``/upload/jobs/<id>/sheet``) and the ``/upload?job=ID`` address its QR code opens.

The QR code is read back the way a phone would: Chromium renders the sheet
(on screen and as printed), a screenshot is taken, and zxing-cpp, a QR
reader that shares nothing with the code's maker, decodes the pixels.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pytest
import yaml
import zxingcpp
from conftest import nest
from daemon_support import Daemon, basic, http, running_daemon
from PIL import Image
from session_support import sign_in_page

from jobgallery import db, users
from jobgallery.config import load_config

BOSS = {"username": "boss", "password": "boss-password-1"}
CREW = ("crew", "crew-password-1")
HTML = {"Accept": "text/html"}


@dataclass
class Site:
    daemon: Daemon
    conn: object

    @property
    def url(self) -> str:
        return self.daemon.url

    def sheet(self, job_id: int, headers: dict[str, str]):
        return http("GET", f"{self.url}/upload/jobs/{job_id}/sheet", headers=headers)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    folder = tmp_path_factory.mktemp("sheet")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(nest({"server.trusted_proxies": "127.0.0.1"})), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, BOSS["username"], BOSS["password"], admin=True)
        users.add_user(conn, *CREW, admin=False)
        with running_daemon(config_path) as daemon:
            yield Site(daemon, conn)


def admin() -> dict[str, str]:
    return basic(BOSS["username"], BOSS["password"])


def decoded(png: bytes) -> list[str]:
    """Every QR code zxing-cpp finds in a screenshot."""
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    return [code.text for code in found if code.format == zxingcpp.BarcodeFormat.QRCode]


def test_the_sheet_shows_the_title_the_address_and_an_inline_svg_code(site: Site) -> None:
    job = db.create_job(site.conn, "Roof <b>12</b> & Elm St")
    reply = site.sheet(job.id, admin())
    assert reply.status == 200 and reply.header("content-type").startswith("text/html")
    address = f"{site.url}/upload?job={job.id}"
    assert "<h1>Roof &lt;b&gt;12&lt;/b&gt; &amp; Elm St</h1>" in reply.text
    assert f"<strong>{address}</strong>" in reply.text
    assert re.search(r'<svg viewBox="0 0 \d+ \d+" class="qr-code">', reply.text)
    assert "<script" not in reply.text and "data:" not in reply.text


def test_the_address_follows_the_host_and_the_https_a_trusted_proxy_saw(site: Site) -> None:
    job = db.create_job(site.conn, "Behind a proxy")
    reply = site.sheet(job.id, {**admin(), "Host": "photos.example.org", "X-Forwarded-Proto": "https"})
    assert f"<strong>https://photos.example.org/upload?job={job.id}</strong>" in reply.text


@pytest.mark.parametrize("host", ["evil.example/x", "a b", 'x"><script>', "[::1", "host:99999999"])
def test_a_host_header_that_is_not_a_host_gets_400(site: Site, host: str) -> None:
    job = db.create_job(site.conn, "Bad host")
    reply = site.sheet(job.id, {**admin(), "Host": host})
    assert reply.status == 400 and "Host" in reply.json()["error"]


def test_only_admins_see_sheets_of_live_jobs(site: Site) -> None:
    job = db.create_job(site.conn, "Admins only")
    archived = db.create_job(site.conn, "Archived")
    db.set_archived(site.conn, archived.id, db.now_iso())
    assert site.sheet(job.id, basic(*CREW)).status == 403
    assert site.sheet(archived.id, admin()).status == 404
    assert site.sheet(999_999, admin()).status == 404
    signed_out = site.sheet(job.id, HTML)
    assert signed_out.status == 303
    assert signed_out.header("location") == f"/login?next=%2Fupload%2Fjobs%2F{job.id}%2Fsheet"


def test_the_address_on_the_sheet_opens_the_form_with_the_job_chosen(site: Site) -> None:
    older, newer = db.create_job(site.conn, "Older site"), db.create_job(site.conn, "Newer site")
    page = http("GET", f"{site.url}/upload?job={older.id}", headers=basic(*CREW)).text
    chosen = re.findall(r'<option value="(\d+)"[^>]* selected>', page)
    assert chosen == [str(older.id)] and newer.id > older.id


@pytest.mark.browser
@pytest.mark.parametrize("media", ["screen", "print"])
def test_the_qr_code_on_the_sheet_decodes_to_the_upload_address(site: Site, browser, media: str, tmp_path) -> None:
    job = db.create_job(site.conn, "Fence, 3 Oak Rd")
    context = browser.new_context(viewport={"width": 794, "height": 1123})  # A4 at 96 dpi
    try:
        page = context.new_page()
        sign_in_page(page, site.url, BOSS, next_path=f"/upload/jobs/{job.id}/sheet")
        assert page.url == f"{site.url}/upload/jobs/{job.id}/sheet"
        page.emulate_media(media=media)
        shot = page.screenshot(full_page=True)
        (tmp_path / f"sheet-{media}.png").write_bytes(shot)
        assert decoded(shot) == [f"{site.url}/upload?job={job.id}"]
        assert page.locator("h1").inner_text() == "Fence, 3 Oak Rd"
        assert page.locator(".screen-only").is_visible() == (media == "screen")
        box = page.locator("svg.qr-code").bounding_box()
        assert box["width"] >= 300 and box["y"] + box["height"] <= 1123  # big, and on the first page
        if media == "screen":
            page.locator(".screen-only a").click()
            assert page.url == f"{site.url}/upload?job={job.id}"
            assert page.locator("#job option:checked").inner_text() == "Fence, 3 Oak Rd"
    finally:
        context.close()
