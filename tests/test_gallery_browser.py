"""The built gallery in headless Chromium, served over HTTP on 127.0.0.1.

Lazy loading keeps a 300-photo page light, the photo viewer (PhotoSwipe)
works by mouse, keyboard, touch and link, user text stays inert, and without
JavaScript a thumbnail still opens its display image.
"""

from __future__ import annotations

import re

import photos
import pytest
import yaml
from generator_support import add_photo, serving

from generator.build import build_site
from jobgallery import db
from jobgallery.config import load_config

pytestmark = pytest.mark.browser

PHOTOS = 300
LONG = ("Water came in at the valley flashing and ran along the rafter. " * 40)[:2000]
ATTACK = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


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
        wordy = db.create_job(conn, "Long notes")
        for seed, size in ((2, (900, 1200)), (3, (1600, 900))):
            add_photo(config, conn, wordy.id, seed=seed, size=size, description=LONG, tags="roof,leak")
    assert build_site(config).ok
    return config, big, images, evil, bad, wordy


@pytest.fixture(scope="module")
def base_url(site):
    config = site[0]
    with serving(config.paths.output) as url:
        yield url


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


CURRENT = '.pswp__item[aria-hidden="false"] img.pswp__img:not(.pswp__img--placeholder)'


def lightbox_photo(page) -> str:
    """The image the open viewer shows on its current slide (its file name)."""
    page.wait_for_selector(CURRENT)
    return page.eval_on_selector(CURRENT, "img => img.getAttribute('src')").rsplit("/", 1)[1]


def wait_closed(page) -> None:
    page.wait_for_selector(".pswp", state="detached")


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
    assert page.locator(".pswp").count() == 0
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
    wait_closed(page)
    page.wait_for_function("location.hash === ''")


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
        page.wait_for_timeout(500)  # the opening animation
        cdp = context.new_cdp_session(page)

        def swipe(from_x: int, to_x: int) -> None:
            """A real finger on the screen: touch events as the browser gets them from the device."""
            for step in range(6):
                kind = "touchStart" if step == 0 else "touchMove"
                x = from_x + (to_x - from_x) * step / 5
                cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": 400}]})
                page.wait_for_timeout(16)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

        swipe(340, 30)
        page.wait_for_function(f"location.hash === '#photo-{images[1].id}'")
        assert lightbox_photo(page) == display_of(page, images[1].id)
        page.wait_for_timeout(500)
        swipe(30, 340)
        page.wait_for_function(f"location.hash === '#photo-{images[0].id}'")
        assert lightbox_photo(page) == display_of(page, images[0].id)
    finally:
        context.close()


def test_user_markup_stays_text_in_page_and_lightbox(page, base_url, site) -> None:
    *_, evil, bad, _ = site
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
    sources = page.eval_on_selector_all(".pswp img", "all => all.map(img => img.getAttribute('src'))")
    names = [src.rsplit("/", 1)[1] for src in sources]
    assert names and all(re.fullmatch(r"\d+-(display|thumb)-[0-9a-f]{20}\.jpg", name) for name in names)


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


CLOSE = "pswp__button pswp__button--close"


def focus(page) -> str:
    """Class of the focused element and whether it sits inside the open viewer."""
    return page.evaluate(
        "(() => { const a = document.activeElement; return a.className + (a.closest('.pswp') ? ' in-dialog' : ''); })()"
    )


def test_lightbox_is_a_modal_dialog_that_keeps_focus(page, base_url, site) -> None:
    _, big, images, *_ = site
    page.goto(job_url(base_url, big))
    page.focus(f"#photo-{images[0].id} a.photo-link")
    page.keyboard.press("Enter")
    lightbox_photo(page)
    assert focus(page) == f"{CLOSE} in-dialog"
    assert page.get_attribute(".pswp", "role") == "dialog"
    assert page.get_attribute(".pswp", "aria-modal") == "true"
    assert page.get_attribute(".pswp", "aria-label")
    assert page.evaluate("document.querySelector('main').inert")
    assert page.inner_text(".pswp__counter") == f"1 / {PHOTOS}"
    for _ in range(5):
        page.keyboard.press("Tab")
        assert focus(page).endswith(" in-dialog")
    page.keyboard.press("Shift+Tab")
    assert focus(page).endswith(" in-dialog")
    page.keyboard.press("ArrowRight")
    assert lightbox_photo(page) == display_of(page, images[1].id)
    assert page.inner_text(".pswp__counter") == f"2 / {PHOTOS}"
    assert focus(page).endswith(" in-dialog")
    page.keyboard.press("Escape")
    wait_closed(page)
    assert focus(page) == "photo-link"
    assert page.evaluate("document.activeElement.closest('li').id") == f"photo-{images[0].id}"
    assert not page.evaluate("document.querySelector('main').inert")


def test_fragment_link_puts_focus_in_the_dialog(page, base_url, site) -> None:
    _, big, images, *_ = site
    page.goto(f"{job_url(base_url, big)}#photo-{images[5].id}")
    lightbox_photo(page)
    page.wait_for_load_state("load")
    page.wait_for_function("document.activeElement.classList.contains('pswp__button--close')")
    page.wait_for_timeout(100)
    assert focus(page) == f"{CLOSE} in-dialog"
    assert page.inner_text(".pswp__counter") == f"6 / {PHOTOS}"
    page.keyboard.press("Tab")
    assert focus(page).endswith(" in-dialog")


@pytest.mark.parametrize("viewport", [(390, 844), (1280, 720)])
def test_long_caption_leaves_the_photo_whole_and_the_buttons_free(browser, base_url, site, viewport) -> None:
    *_, wordy = site
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(job_url(base_url, wordy))
        for index in range(2):
            page.locator("a.photo-link").nth(index).click()
            lightbox_photo(page)
            page.wait_for_timeout(500)  # the opening animation
            picture = page.locator(CURRENT).bounding_box()
            assert picture["width"] > width / 3 or picture["height"] > height / 3
            assert picture["x"] >= 0 and picture["y"] >= 0
            assert picture["x"] + picture["width"] <= width + 0.5
            assert picture["y"] + picture["height"] <= height + 0.5
            caption = page.locator(".lightbox-caption")
            box = caption.bounding_box()
            assert box["y"] >= picture["y"] + picture["height"] - 0.5 and box["y"] + box["height"] <= height
            assert caption.evaluate("c => c.scrollHeight > c.clientHeight && getComputedStyle(c).overflowY")
            assert caption.evaluate("c => (c.scrollTop = 1e6, c.scrollTop > 0)"), "the caption scrolls"
            for name in ("arrow--prev", "arrow--next", "close"):
                button = page.locator(f".pswp__button--{name}")
                if button.is_visible():
                    other = button.bounding_box()
                    apart = (
                        other["x"] >= box["x"] + box["width"]
                        or other["x"] + other["width"] <= box["x"]
                        or other["y"] >= box["y"] + box["height"]
                        or other["y"] + other["height"] <= box["y"]
                    )
                    assert apart, f"caption covers {name}"
            page.keyboard.press("Escape")
            wait_closed(page)
    finally:
        context.close()


def test_slow_photo_shows_its_thumbnail_and_says_loading_until_it_has_loaded(page, base_url, site) -> None:
    _, big, images, *_ = site
    page.goto(job_url(base_url, big))
    slow = display_of(page, images[1].id)
    held = []
    page.route(f"**/{slow}", lambda route: held.append(route))
    page.click(f"#photo-{images[0].id} a.photo-link")
    lightbox_photo(page)
    page.wait_for_timeout(500)  # the opening animation
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"location.hash === '#photo-{images[1].id}'")
    assert page.inner_text(".lightbox-caption").startswith("Photo number 1 ")
    assert page.is_visible(".lightbox-status") and page.inner_text(".lightbox-status") == "Loading…"
    page.wait_for_timeout(300)
    current = '.pswp__item[aria-hidden="false"]'
    placeholder = page.locator(f"{current} img.pswp__img--placeholder")
    assert placeholder.is_visible(), "the thumbnail stands in"
    thumbnail = page.eval_on_selector(f"#photo-{images[1].id} img", "i => i.currentSrc")
    assert placeholder.get_attribute("src") == thumbnail
    assert page.locator(f'{current} img.pswp__img[src$="{slow}"]').count() == 0 or not page.evaluate(
        f"document.querySelector('{current} img.pswp__img[src$=\"{slow}\"]').complete"
    )
    assert held, "the display image was requested"
    for route in held:
        route.continue_()
    page.wait_for_function("document.querySelector('.lightbox-status').textContent === ''")
    assert lightbox_photo(page) == slow
    assert not page.is_visible(".lightbox-status")


def test_back_button_closes_the_lightbox_and_stays_on_the_page(page, base_url, site) -> None:
    _, big, images, *_ = site
    url = job_url(base_url, big)
    page.goto(url)
    entries = page.evaluate("history.length")
    page.click(f"#photo-{images[0].id} a.photo-link")
    lightbox_photo(page)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("location.hash") == f"#photo-{images[2].id}"
    assert page.evaluate("history.length") == entries + 1, "opening pushes one entry, moving replaces it"
    page.go_back()
    wait_closed(page)
    assert page.url == url
    assert page.title().startswith("Warehouse roof")
    page.click(f"#photo-{images[3].id} a.photo-link")
    lightbox_photo(page)
    page.wait_for_timeout(500)  # the opening animation
    page.keyboard.press("Escape")
    wait_closed(page)
    page.wait_for_function("location.hash === ''")
    page.go_forward()
    assert lightbox_photo(page) == display_of(page, images[3].id), "Forward opens it again"


def test_back_from_a_fragment_link_closes_then_leaves(page, base_url, site) -> None:
    _, big, images, *_ = site
    url = job_url(base_url, big)
    page.goto(f"{url}#photo-{images[7].id}")
    lightbox_photo(page)
    page.go_back()
    wait_closed(page)
    assert page.url == url
    page.go_back()
    assert page.url == "about:blank"
