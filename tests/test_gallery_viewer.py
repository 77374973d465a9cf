"""Inspecting and finding photos on a job page, in headless Chromium over HTTP on 127.0.0.1.

Zooming loads the zoom image (and nothing loads it before); every shape is
shown whole; photos are grouped by the day they were taken; the tag filter
and the order live in the address; without JavaScript every photo is there.
"""

from __future__ import annotations

import photos
import pytest
import yaml
from generator_support import add_photo, serving

from generator.build import build_site
from jobgallery import db
from jobgallery.config import load_config

pytestmark = pytest.mark.browser

ODD_TAG = "a&b=c <i>x</i>"
# name -> (master size, capture time, tags)
SHOTS = {
    "wide": ((4000, 3000), "2024-05-02T09:15:00", f"roof,flashing,{ODD_TAG}"),
    "panorama": ((12000, 3000), "2024-05-01T16:40:00", "roof"),
    "tall": ((1000, 3000), "2024-05-01T08:00:00", "chimney"),
    "undated": ((3000, 2000), None, ""),
    "late": ((2000, 1500), "2024-05-03T23:59:00", "Flashing"),
}
DAYS = [("2024-05-01", "Wed 1 May 2024", ["tall", "panorama"]), ("2024-05-02", "Thu 2 May 2024", ["wide"])]
DAYS += [("2024-05-03", "Fri 3 May 2024", ["late"]), ("", "Date unknown", ["undated"])]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One job with a photo of each shape over three days and one without a date; served on a loopback port."""
    folder = tmp_path_factory.mktemp("viewer-site")
    (folder / "config.yaml").write_text(yaml.safe_dump({"build": {"workers": 2}}))
    config = load_config(str(folder / "config.yaml"))
    ids = {}
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Inspection")
        for seed, (name, (size, taken, tags)) in enumerate(SHOTS.items()):
            data = photos.jpeg_bytes(*size, seed=seed)
            image = add_photo(config, conn, job.id, data, size=size, taken_at=taken, tags=tags, description=name)
            ids[name] = image.id
    assert build_site(config).ok
    with serving(config.paths.output) as url:
        yield f"{url}{job.gallery_path()}", ids


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def shown_names(page) -> list[str]:
    """Descriptions of the photos the page shows, in the order shown."""
    script = "all => all.filter(li => li.offsetParent !== null).map(li => li.querySelector('.description').textContent)"
    return page.eval_on_selector_all("li.photo", script)


CURRENT = '.pswp__item[aria-hidden="false"] img.pswp__img:not(.pswp__img--placeholder)'


# ---------------------------------------------------------------- zoom


def test_zooming_loads_the_zoom_image_with_more_pixels_than_the_display_one(page, site) -> None:
    url, ids = site
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url.rsplit("/", 1)[1]))
    page.goto(url)
    page.click(f"#photo-{ids['wide']} a.photo-link")
    page.wait_for_selector(CURRENT)
    page.wait_for_function(f"document.querySelector('{CURRENT}').complete")
    page.wait_for_timeout(600)  # opening animation and neighbours preloaded
    display = page.evaluate(f"document.querySelector('{CURRENT}').naturalWidth")
    assert display == 1024
    assert not [name for name in requested if "-zoom-" in name], "nothing loads a zoom image before zooming"
    page.mouse.move(640, 400)
    for _ in range(6):
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(80)
    page.wait_for_function(f"document.querySelector('{CURRENT}').currentSrc.includes('-zoom-')")
    page.wait_for_function(f"document.querySelector('{CURRENT}').complete")
    zoomed = page.eval_on_selector(CURRENT, "i => [i.naturalWidth, i.naturalHeight]")
    assert zoomed == [2500, 1875]  # the 5/8 decode of the 4000 x 3000 JPEG
    zoom = page.get_attribute(f"#photo-{ids['wide']} a", "data-zoom")
    assert [name for name in requested if "-zoom-" in name] == [zoom]
    drawn = page.locator(CURRENT).bounding_box()
    assert drawn["width"] > display, "the photo is drawn larger than the display image's pixels"


def test_pinch_on_a_phone_loads_the_zoom_image(browser, site) -> None:
    url, ids = site
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    try:
        page.goto(f"{url}#photo-{ids['wide']}")
        page.wait_for_selector(CURRENT)
        page.wait_for_timeout(600)
        assert "-display-" in page.evaluate(f"document.querySelector('{CURRENT}').currentSrc"), "opens at display size"
        cdp = context.new_cdp_session(page)
        for step in range(8):
            spread = 20 + step * 20
            points = [{"x": 195 - spread, "y": 400, "id": 1}, {"x": 195 + spread, "y": 400, "id": 2}]
            kind = "touchStart" if step == 0 else "touchMove"
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})
            page.wait_for_timeout(30)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.wait_for_function(f"document.querySelector('{CURRENT}').currentSrc.includes('-zoom-')")
        page.wait_for_function(f"document.querySelector('{CURRENT}').naturalWidth === 2500")
    finally:
        context.close()


# ---------------------------------------------------------------- every shape


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE])
def test_panorama_and_tall_photo_are_shown_whole(browser, site, viewport) -> None:
    url, ids = site
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        page.evaluate("Promise.all([...document.images].map(i => (i.loading = 'eager', i.decode())))")
        for name in ("panorama", "tall", "wide"):
            size = SHOTS[name][0]
            box = page.locator(f"#photo-{ids[name]} img").bounding_box()
            cell = page.locator(f"#photo-{ids[name]} figure").bounding_box()
            natural = page.eval_on_selector(f"#photo-{ids[name]} img", "i => i.naturalWidth / i.naturalHeight")
            assert abs(box["width"] / box["height"] / (size[0] / size[1]) - 1) < 0.02, (name, box)
            assert abs(natural / (size[0] / size[1]) - 1) < 0.02, f"{name}: the thumbnail file is the whole photo"
            assert cell["x"] <= box["x"] and box["x"] + box["width"] <= cell["x"] + cell["width"] + 0.5, name
            assert page.eval_on_selector(f"#photo-{ids[name]} img", "i => getComputedStyle(i).objectFit") == "fill"
        row = page.locator(f"#photo-{ids['panorama']}").bounding_box()
        main = page.locator("main .photos").bounding_box()
        assert row["width"] > main["width"] - 1, "a panorama has its row to itself"
    finally:
        context.close()


def test_every_img_has_its_size_so_nothing_jumps(page, site) -> None:
    url, _ = site
    page.goto(url)
    sizes = page.eval_on_selector_all("img", "all => all.map(i => [i.getAttribute('width'), i.getAttribute('height')])")
    assert sizes and all(w and h and int(w) > 0 and int(h) > 0 for w, h in sizes)


# ---------------------------------------------------------------- days


def test_days_are_headed_by_their_date_and_count_undated_last(page, site) -> None:
    url, ids = site
    page.goto(url)
    headings = page.eval_on_selector_all(
        ".day-heading",
        "all => all.map(h => [h.querySelector('time') ? h.querySelector('time').getAttribute('datetime') : '',"
        " h.textContent.replace(/\\s+/g, ' ').trim()])",
    )
    assert [date for date, _ in headings] == [date for date, *_ in DAYS]
    for (_, label, names), (_, text) in zip(DAYS, headings, strict=True):
        assert text == f"{label} {len(names)} photo{'s' if len(names) > 1 else ''}"
        day = page.locator(".day").filter(has=page.locator(f"#photo-{ids[names[0]]}"))
        assert day.locator("li.photo .description").all_inner_texts() == names
    assert shown_names(page) == [name for *_, names in DAYS for name in names]


def test_newest_first_reverses_days_and_photos_and_keeps_undated_last(page, site) -> None:
    url, _ = site
    page.goto(url)
    page.click("button[data-order='newest']")
    assert shown_names(page) == ["late", "wide", "panorama", "tall", "undated"]
    assert page.evaluate("location.hash") == "#order=newest"
    page.reload()
    assert shown_names(page) == ["late", "wide", "panorama", "tall", "undated"]
    assert page.get_attribute("button[data-order='newest']", "aria-pressed") == "true"
    page.click(".photo:has(.description:text-is('late')) a.photo-link")
    page.wait_for_selector(CURRENT)
    assert page.inner_text(".pswp__counter") == "1 / 5", "the viewer walks the photos in the order shown"
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('.lightbox-caption').textContent.startsWith('wide')")
    page.keyboard.press("Escape")
    page.wait_for_selector(".pswp", state="detached")
    page.wait_for_function("location.hash === '#order=newest'")
    page.click("button[data-order='oldest']")
    assert shown_names(page) == [name for *_, names in DAYS for name in names]
    assert page.evaluate("location.hash") == ""


# ---------------------------------------------------------------- tags


def test_a_tag_shows_exactly_its_photos_and_survives_a_reload(page, site) -> None:
    url, ids = site
    page.goto(url)
    chips = page.eval_on_selector_all(".tag-filter button", "all => all.map(b => b.dataset.tag)")
    assert chips == ["", ODD_TAG, "chimney", "flashing", "roof"]
    assert page.locator(".tag-filter button i").count() == 0, "tags are text, never markup"
    page.click("button[data-tag='flashing']")
    assert shown_names(page) == ["wide", "late"]
    assert page.evaluate("location.hash") == "#tag=flashing"
    assert page.inner_text(".finder-status") == "2 of 5 photos tagged “flashing”"
    script = "all => all.filter(d => !d.hidden).map(d => d.querySelector('.day-count').textContent)"
    counts = page.eval_on_selector_all(".day", script)
    assert counts == ["1 photo", "1 photo"]
    page.reload()
    assert shown_names(page) == ["wide", "late"]
    assert page.get_attribute("button[data-tag='flashing']", "aria-pressed") == "true"
    page.click(f"#photo-{ids['late']} a.photo-link")
    page.wait_for_selector(CURRENT)
    assert page.inner_text(".pswp__counter") == "2 / 2", "the viewer walks the filtered photos"
    assert page.evaluate("location.hash") == f"#tag=flashing&photo-{ids['late']}"
    page.keyboard.press("Escape")
    page.wait_for_selector(".pswp", state="detached")
    page.wait_for_function("location.hash === '#tag=flashing'")
    page.click(".tag-filter button[data-tag='']")
    assert len(shown_names(page)) == 5 and page.evaluate("location.hash") == ""


def test_a_tag_with_markup_and_separators_round_trips_through_the_address(page, site) -> None:
    url, _ = site
    page.goto(url)
    page.locator(".tag-filter button").nth(1).click()
    assert shown_names(page) == ["wide"]
    shared = page.url
    page.goto("about:blank")
    page.goto(shared)
    assert shown_names(page) == ["wide"]
    page.goto(f"{url}#tag=nonesuch")
    assert len(shown_names(page)) == 5, "an unknown tag filters nothing"


def test_a_photo_link_outside_the_filter_still_opens_it(page, site) -> None:
    url, ids = site
    page.goto(f"{url}#tag=chimney&photo-{ids['late']}")
    page.wait_for_selector(CURRENT)
    assert page.inner_text(".lightbox-caption").startswith("late")
    assert page.get_attribute(f"#photo-{ids['late']}", "hidden") is None


# ---------------------------------------------------------------- without JavaScript


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE])
def test_without_javascript_every_photo_is_listed_and_reachable(browser, site, viewport) -> None:
    url, ids = site
    context = browser.new_context(java_script_enabled=False, viewport=viewport)
    page = context.new_page()
    try:
        page.goto(f"{url}#tag=flashing")
        assert not page.is_visible(".finder"), "controls that need the script are not offered"
        assert len(shown_names(page)) == len(SHOTS)
        assert page.locator(".day-heading").count() == len(DAYS)
        for name, image_id in ids.items():
            link = page.locator(f"#photo-{image_id} a.photo-link")
            assert link.is_visible() and page.locator(f"#photo-{image_id} img").is_visible(), name
            assert page.locator(f"#photo-{image_id} .description").is_visible()
            href = link.get_attribute("href")
            response = page.request.get(url + href)
            assert response.ok and response.headers["content-type"] == "image/jpeg"
        assert page.locator("[hidden]:not(.finder)").count() == 0, "nothing else is hidden"
    finally:
        context.close()


def test_two_taps_while_the_viewer_loads_make_one_entry_that_one_back_closes(page, site) -> None:
    """A slow phone's first open: the viewer's files are held back while the photo is tapped twice."""
    url, ids = site
    held = []
    page.route("**/*photoswipe*", lambda route: held.append(route))
    page.goto(url)
    before = page.evaluate("history.length")
    link = page.locator(f"#photo-{ids['wide']} a.photo-link")
    link.click()
    link.click(force=True)
    page.wait_for_timeout(300)
    assert held, "the viewer's files were asked for"
    for route in held:
        route.continue_()
    page.wait_for_selector(CURRENT)
    page.wait_for_timeout(600)  # the opening animation
    assert page.evaluate("history.length") == before + 1
    page.keyboard.press("Escape")
    page.wait_for_function("!document.querySelector('.pswp--open')")
    page.wait_for_function("location.hash === ''")
    page.wait_for_timeout(300)
    assert page.evaluate("location.hash") == "" and page.locator(".pswp--open").count() == 0


def test_a_panorama_and_a_tall_photo_zoom_to_more_pixels_than_their_display_image(page, site) -> None:
    url, ids = site
    page.goto(url)
    for name, zoom in (("panorama", [4500, 1125]), ("tall", [1000, 3000])):
        link = page.locator(f"#photo-{ids[name]} a.photo-link")
        display = [int(link.get_attribute("data-width")), int(link.get_attribute("data-height"))]
        assert [int(link.get_attribute("data-zoom-width")), int(link.get_attribute("data-zoom-height"))] == zoom
        assert zoom[0] > display[0] and zoom[1] > display[1], name
