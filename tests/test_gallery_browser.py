"""The built gallery in headless Chromium, served over HTTP on 127.0.0.1.

Lazy loading keeps a 300-photo page light, the lightbox works by mouse,
keyboard, touch and link, user text stays inert, and without JavaScript a
thumbnail still opens its display image.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading

import photos
import pytest
import yaml
from generator_support import add_photo

from generator.build import build_site
from jobgallery import db
from jobgallery.config import load_config

pytestmark = pytest.mark.browser

PHOTOS = 300
ATTACK = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A site with one 300-photo job (small masters keep it quick) and one job full of markup."""
    folder = tmp_path_factory.mktemp("browser-site")
    (folder / "config.yaml").write_text(yaml.safe_dump({"build": {"workers": 2}}))
    config = load_config(str(folder / "config.yaml"))
    with db.open_db(config.db_path) as conn:
        big = db.create_job(conn, "Warehouse roof")
        images = [
            add_photo(config, conn, big.id, photos.jpeg_bytes(200, 150, seed=i), description=f"Photo number {i}")
            for i in range(PHOTOS)
        ]
        evil = db.create_job(conn, f"Evil {ATTACK}")
        bad = add_photo(config, conn, evil.id, seed=1, description=f"desc {ATTACK}", tags=f"tag{ATTACK},ok")
    assert build_site(config).ok
    return config, big, images, evil, bad


@pytest.fixture(scope="module")
def base_url(site):
    config = site[0]
    handler = functools.partial(QuietHandler, directory=str(config.paths.output))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def job_url(base_url: str, job) -> str:
    return base_url + job.gallery_path()


def thumbnail_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.resource_type == "image" and "-thumb" in r.url else None)
    return seen


def lightbox_photo(page) -> str:
    """The display image the open lightbox shows (its file name)."""
    page.wait_for_selector(".lightbox:not([hidden]) .lightbox-image")
    return page.eval_on_selector(".lightbox-image", "img => img.getAttribute('src')").rsplit("/", 1)[1]


def display_of(page, image_id: int) -> str:
    return page.get_attribute(f"#photo-{image_id} a.photo-link", "href")


def test_lazy_loading_requests_few_thumbnails_until_scrolled(page, base_url, site) -> None:
    _, big, *_ = site
    requested = thumbnail_requests(page)
    page.goto(job_url(base_url, big), wait_until="load")
    page.wait_for_load_state("networkidle")
    first = len(set(requested))
    assert 0 < first <= 40, f"{first} thumbnails requested on first load"
    height = page.evaluate("document.documentElement.scrollHeight")
    for y in range(0, height + 720, 500):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(30)
    page.wait_for_load_state("networkidle")
    assert len(set(requested)) == PHOTOS
    assert page.locator("img").count() == PHOTOS


def test_lightbox_opens_moves_and_closes(page, base_url, site) -> None:
    _, big, images, *_ = site
    page.goto(job_url(base_url, big))
    assert page.locator(".lightbox").count() == 0
    page.click(f"#photo-{images[0].id} a.photo-link")
    assert lightbox_photo(page) == display_of(page, images[0].id)
    assert page.inner_text(".lightbox-caption").startswith("Photo number 0 · uploaded")
    assert page.evaluate("location.hash") == f"#photo-{images[0].id}"
    page.keyboard.press("ArrowRight")
    assert lightbox_photo(page) == display_of(page, images[1].id)
    assert page.evaluate("location.hash") == f"#photo-{images[1].id}"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    assert lightbox_photo(page) == display_of(page, images[1].id)
    page.keyboard.press("Escape")
    page.wait_for_selector(".lightbox", state="hidden")
    assert page.evaluate("location.hash") == ""


def test_fragment_link_opens_that_photo(page, base_url, site) -> None:
    _, big, images, *_ = site
    target = images[150]
    page.goto(f"{job_url(base_url, big)}#photo-{target.id}")
    assert lightbox_photo(page) == display_of(page, target.id)
    assert page.inner_text(".lightbox-caption").startswith("Photo number 150")


def test_neighbours_are_preloaded(page, base_url, site) -> None:
    _, big, images, *_ = site
    displays: list[str] = []
    page.on("request", lambda r: displays.append(r.url.rsplit("/", 1)[1]) if "-display-" in r.url else None)
    page.goto(f"{job_url(base_url, big)}#photo-{images[10].id}")
    lightbox_photo(page)
    page.wait_for_load_state("networkidle")
    wanted = {display_of(page, images[i].id) for i in (9, 10, 11)}
    assert wanted <= set(displays)


def test_swipe_moves_on_a_phone(browser, base_url, site) -> None:
    _, big, images, *_ = site
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(job_url(base_url, big))
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        first, second = (page.locator(f"#photo-{images[i].id}").bounding_box() for i in (0, 1))
        assert first["y"] == second["y"] and second["x"] > first["x"], "two columns on a phone"
        page.tap(f"#photo-{images[0].id} a.photo-link")
        lightbox_photo(page)
        swipe = """([fromX, toX]) => {
            const box = document.querySelector('.lightbox');
            const touch = x => new Touch({identifier: 1, target: box, clientX: x, clientY: 400});
            box.dispatchEvent(new TouchEvent('touchstart', {changedTouches: [touch(fromX)], bubbles: true}));
            box.dispatchEvent(new TouchEvent('touchend', {changedTouches: [touch(toX)], bubbles: true}));
        }"""
        page.evaluate(swipe, [300, 80])
        assert lightbox_photo(page) == display_of(page, images[1].id)
        page.evaluate(swipe, [80, 300])
        assert lightbox_photo(page) == display_of(page, images[0].id)
    finally:
        context.close()


def test_user_markup_stays_text_in_page_and_lightbox(page, base_url, site) -> None:
    *_, evil, bad = site
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for url in (base_url, job_url(base_url, evil)):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None
    assert "<script>" in page.inner_text("h1")
    assert page.locator("img").count() == 1
    page.click(f"#photo-{bad.id} a.photo-link")
    lightbox_photo(page)
    caption = page.inner_text(".lightbox-caption")
    assert '<img src=x onerror="window.__xss=1">' in caption
    assert page.locator(".lightbox-caption *").count() == 0
    page.wait_for_timeout(200)
    assert page.evaluate("window.__xss") is None and dialogs == []
    assert page.locator(".lightbox img").count() == 1


def test_without_javascript_a_thumbnail_opens_the_display_image(browser, base_url, site) -> None:
    _, big, images, *_ = site
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        page.goto(job_url(base_url, big))
        href = display_of(page, images[3].id)
        with page.expect_navigation() as navigation:
            page.click(f"#photo-{images[3].id} img")
        response = navigation.value
        assert response.ok and response.headers["content-type"] == "image/jpeg"
        assert page.url == job_url(base_url, big) + href
        assert re.fullmatch(r"\d+-display-[0-9a-f]{20}\.jpg", href)
    finally:
        context.close()
