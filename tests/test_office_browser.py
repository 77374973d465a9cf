"""The office in headless Chromium, as an admin on a phone (no JavaScript) and on a desktop.

One real ``jobgallery serve`` serves the module (pages, rebuilds, the built
site at ``/``); photos are real JPEGs ingested the way uploads arrive. Each
test makes its own jobs, so the order of tests does not matter.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import yaml
from conftest import nest
from daemon_support import Site, http, running_daemon
from maintenance_support import add_photos
from session_support import FORM, cookie, csrf_of, session_token, sign_in, sign_in_page

from generator.build import build_site
from jobgallery import audit, db, runs, users
from jobgallery.config import load_config

BOSS = {"username": "boss", "password": "boss-password-1"}
CREW = {"username": "crew", "password": "crew-password-1"}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "java_script_enabled": False}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
HTML = {"Accept": "text/html"}
ADMIN_PAGES = [
    ("GET", "/admin"),
    ("GET", "/admin/jobs"),
    ("POST", "/admin/jobs"),
    ("POST", "/admin/jobs/{job}/rename"),
    ("POST", "/admin/jobs/{job}/archive"),
    ("POST", "/admin/jobs/{job}/restore"),
    ("GET", "/admin/jobs/{job}/photos"),
    ("POST", "/admin/jobs/{job}/photos"),
    ("GET", "/admin/photos/{photo}"),
    ("POST", "/admin/photos/{photo}"),
    ("GET", "/admin/photos/{photo}/preview"),
    ("GET", "/admin/crew"),
    ("POST", "/admin/crew"),
    ("POST", "/admin/crew/boss"),
    ("GET", "/admin/health"),
    ("POST", "/admin/health"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    folder = tmp_path_factory.mktemp("office")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(nest({"server.rebuild_delay_seconds": 0.2})), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, BOSS["username"], BOSS["password"], admin=True)
        users.add_user(conn, CREW["username"], CREW["password"], admin=False)
        with running_daemon(config_path) as daemon:
            yield Site(daemon, config, conn)


def new_job(site: Site, title: str, photos: int, seed: int) -> db.Job:
    job = db.create_job(site.conn, title)
    add_photos(site.config, site.conn, job.id, photos, seed=seed)
    build_site(site.config, job_id=job.id)  # as the upload's rebuild would
    return db.get_job(site.conn, job.id)


def eventually(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def gallery_images(site: Site, path: str) -> int:
    reply = http("GET", f"{site.url}/{path}")
    return reply.text.count("<img") if reply.status == 200 else -1


def gallery_path(site: Site, job_id: int) -> str:
    return db.get_job(site.conn, job_id).gallery_path()


@pytest.fixture(params=list(VIEWPORTS))
def admin(request, browser, site):
    """A page signed in as the admin, in a phone (JavaScript off) or a desktop context."""
    context = browser.new_context(**VIEWPORTS[request.param])
    page = context.new_page()
    sign_in_page(page, site.url, BOSS, "/admin/jobs")
    assert page.url == f"{site.url}/admin/jobs"
    yield page
    context.close()


def fits(page) -> None:
    """Nothing wider than the screen: a phone never scrolls sideways."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def note(page) -> str:
    return page.locator(".office-note p").first.inner_text()


def tick(page, image_ids: list[int]) -> None:
    for image_id in image_ids:
        page.check(f"input[name=photo][value='{image_id}']")


# ---------------------------------------------------------------- jobs


def test_rename_a_job_and_follow_its_old_link(site, admin):
    stamp = str(time.monotonic_ns())[-6:]
    job = new_job(site, f"Porch {stamp}", 2, seed=100)
    old = gallery_path(site, job.id)
    admin.goto(f"{site.url}/admin/jobs")
    fits(admin)
    card = admin.locator(f"#job-{job.id}")
    assert "2 photos" in card.inner_text()
    card.locator("summary").click()
    card.locator("input[name=title]").fill(f"Porch and steps {stamp}")
    with admin.expect_navigation():
        card.get_by_role("button", name="Rename").click()
    assert f"Renamed “Porch {stamp}” to “Porch and steps {stamp}”" in note(admin)
    new = gallery_path(site, job.id)
    assert new != old and f"/{new}" in note(admin)
    eventually(lambda: gallery_images(site, new) == 2, "the gallery at its new path")
    eventually(lambda: "has moved" in http("GET", f"{site.url}/{old}").text, "the old path's link page")
    admin.goto(f"{site.url}/{old}")
    with admin.expect_navigation():
        admin.get_by_role("link", name=re.compile("at its new address")).click()
    assert admin.url == f"{site.url}/{new}"
    assert admin.locator("h1").inner_text() == f"Porch and steps {stamp}"
    assert admin.locator("main img").count() == 2


def test_the_jobs_page_links_each_job_to_its_photos_sheet_and_shares(site, admin):
    job = new_job(site, "Links check", 1, seed=150)
    admin.goto(f"{site.url}/admin/jobs")
    card = admin.locator(f"#job-{job.id}")
    hrefs = [card.locator("a").nth(n).get_attribute("href") for n in range(card.locator("a").count())]
    assert f"/admin/jobs/{job.id}/photos" in hrefs and f"/upload/jobs/{job.id}/sheet" in hrefs
    assert f"/admin/jobs/{job.id}/shares" in hrefs and f"/{gallery_path(site, job.id)}" in hrefs


# ---------------------------------------------------------------- photos


def test_move_a_photo_and_see_both_pages_change(site, admin):
    stamp = str(time.monotonic_ns())[-6:]
    source = new_job(site, f"Shed {stamp}", 3, seed=200)
    target = new_job(site, f"Garage {stamp}", 1, seed=210)
    eventually(lambda: gallery_images(site, gallery_path(site, target.id)) == 1, "the target's page")
    photo = db.list_images(site.conn, source.id)[0]
    admin.goto(f"{site.url}/admin/jobs/{source.id}/photos")
    fits(admin)
    tick(admin, [photo.id])
    admin.select_option("select[name=target]", str(target.id))
    with admin.expect_navigation():
        admin.get_by_role("button", name="Move", exact=True).click()
    assert note(admin) == f"Moved 1 photo to “Garage {stamp}”."
    assert admin.locator(f"input[name=photo][value='{photo.id}']").count() == 0
    eventually(lambda: gallery_images(site, gallery_path(site, source.id)) == 2, "the source page loses it")
    eventually(lambda: gallery_images(site, gallery_path(site, target.id)) == 2, "the target page gains it")
    assert db.get_image(site.conn, photo.id).job_id == target.id
    admin.goto(f"{site.url}/admin/photos/{photo.id}")
    fits(admin)
    assert f"moved from job {source.id}" in admin.locator(".trail").inner_text()


def test_delete_a_photo_and_undo(site, admin):
    job = new_job(site, f"Deck {time.monotonic_ns()}", 3, seed=300)
    path = gallery_path(site, job.id)
    eventually(lambda: gallery_images(site, path) == 3, "the page")
    photo = db.list_images(site.conn, job.id)[1]
    admin.goto(f"{site.url}/admin/jobs/{job.id}/photos")
    tick(admin, [photo.id])
    with admin.expect_navigation():
        admin.get_by_role("button", name="Delete the ticked photos").click()
    assert note(admin).startswith("Deleted 1 photo: off the site now, kept in the trash for 30 days.")
    eventually(lambda: gallery_images(site, path) == 2, "the photo leaves the site")
    assert admin.locator(".trash-form li").count() == 1
    with admin.expect_navigation():
        admin.get_by_role("button", name=re.compile("Undo")).click()
    assert note(admin).startswith("Brought back 1 photo")
    eventually(lambda: gallery_images(site, path) == 3, "the photo is back")
    assert admin.locator(".trash-form").count() == 0
    actions = [entry.action for entry in audit.of_photo(site.conn, photo.id)]
    assert actions == ["untrash", "trash"]


def test_edit_tags_on_three_photos_at_once(site, admin):
    job = new_job(site, f"Fence {time.monotonic_ns()}", 4, seed=400)
    chosen = [image.id for image in db.list_images(site.conn, job.id)][:3]
    admin.goto(f"{site.url}/admin/jobs/{job.id}/photos")
    tick(admin, chosen)
    admin.select_option("select[name=tag_mode]", "add")
    admin.fill("input[name=tags]", "fence, north side")
    with admin.expect_navigation():
        admin.get_by_role("button", name="Save for the ticked photos").click()
    assert note(admin) == "Saved the description and tags of 3 photos."
    tags = {image.id: image.tags for image in db.list_images(site.conn, job.id)}
    assert [tags[i] for i in chosen] == ["fence,north side"] * 3
    assert sorted(tags.values()).count("") == 1
    assert admin.locator(".tag", has_text="north side").count() == 3
    path = gallery_path(site, job.id)
    eventually(lambda: http("GET", f"{site.url}/{path}").text.count("north side") >= 3, "the tags on the gallery")


def test_a_refused_move_is_a_page_with_a_sentence_and_a_way_back(site, admin):
    first = new_job(site, f"Twin A {time.monotonic_ns()}", 1, seed=500)
    second = new_job(site, f"Twin B {time.monotonic_ns()}", 1, seed=500)  # the same bytes
    photo = db.list_images(site.conn, first.id)[0]
    admin.goto(f"{site.url}/admin/photos/{photo.id}")
    admin.select_option("#target", str(second.id))
    with admin.expect_navigation() as navigation:
        admin.get_by_role("button", name="Move", exact=True).click()
    assert navigation.value.status == 409 and admin.locator("h1").inner_text() == "Not done"
    sentence = admin.locator("p.text").inner_text()
    assert sentence == f"“{second.title}” already has this photo (as photo {photo.id + 1}); it was not moved."
    assert db.get_image(site.conn, photo.id).job_id == first.id
    with admin.expect_navigation():
        admin.get_by_role("link", name="Back to the photo").click()
    assert admin.url == f"{site.url}/admin/photos/{photo.id}"


# ---------------------------------------------------------------- crew


def test_add_a_crew_user_sign_in_as_them_then_disable_them(site, admin, browser, request):
    name = f"new-{request.node.callspec.id}-{str(time.monotonic_ns())[-5:]}"
    admin.goto(f"{site.url}/admin/crew")
    fits(admin)
    admin.fill("input[name=name]", name)
    admin.select_option("select[name=role]", "crew")
    with admin.expect_navigation():
        admin.get_by_role("button", name="Add", exact=True).click()
    password = admin.locator(".office-note .secret code").inner_text()
    assert len(password) >= 12 and "not shown again" in note(admin)
    admin.reload()
    assert admin.locator(".office-note").count() == 0  # shown once
    phone = browser.new_context(**PHONE)
    try:
        crew_page = phone.new_page()
        sign_in_page(crew_page, site.url, {"username": name, "password": password})
        assert crew_page.url == f"{site.url}/upload"
        admin.reload()
        assert "last sign-in never" not in admin.locator(f"#user-{name}").inner_text()
        with admin.expect_navigation():
            admin.locator(f"#user-{name}").get_by_role("button", name="Disable").click()
        assert note(admin) == f"Disabled {name}: they cannot sign in, and 1 session ended now."
        crew_page.reload()
        assert crew_page.url.startswith(f"{site.url}/login")
        sign_in_page(crew_page, site.url, {"username": name, "password": password})
        assert crew_page.locator("[role=alert]").inner_text() == "Wrong user name or password."
    finally:
        phone.close()
    assert "disabled" in admin.locator(f"#user-{name}").inner_text()
    admin.locator(f"#user-{name}").get_by_text(f"Remove {name}…").click()
    with admin.expect_navigation():
        admin.locator(f"#user-{name}").get_by_role("button", name="Remove for good").click()
    assert note(admin) == f"Removed {name}; their uploads keep their name."
    assert db.get_user(site.conn, name) is None and admin.locator(f"#user-{name}").count() == 0


def test_a_crew_user_gets_the_403_page_on_every_admin_page(site, browser):
    job = new_job(site, "Not for crew", 1, seed=600)
    photo = db.list_images(site.conn, job.id)[0]
    session = cookie(session_token(sign_in(site.url, CREW["username"], CREW["password"])))
    token = csrf_of(http("GET", site.url + "/upload", headers={**session, **HTML}))
    before = (audit.count(site.conn), db.get_image(site.conn, photo.id), db.get_job(site.conn, job.id))
    for method, template in ADMIN_PAGES:
        path = template.format(job=job.id, photo=photo.id)
        body = f"csrf_token={token}&action=trash&photo={photo.id}&title=X&name=x&role=crew".encode()
        reply = http(method, site.url + path, body if method == "POST" else None, {**session, **HTML, **FORM})
        assert reply.status == 403, (method, path, reply.status)
        assert reply.header("content-type").startswith("text/html")
        assert "<h1>Not allowed</h1>" in reply.text and "Only an admin may do this." in reply.text
        assert "Traceback" not in reply.text
    assert (audit.count(site.conn), db.get_image(site.conn, photo.id), db.get_job(site.conn, job.id)) == before
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        sign_in_page(page, site.url, CREW, "/admin/jobs")
        assert page.locator("h1").inner_text() == "Not allowed"
        fits(page)
    finally:
        context.close()


def test_an_office_post_without_the_pages_csrf_token_is_refused(site):
    job = new_job(site, "Guarded", 1, seed=700)
    session = cookie(session_token(sign_in(site.url, BOSS["username"], BOSS["password"])))
    reply = http("POST", f"{site.url}/admin/jobs/{job.id}/rename", b"title=Stolen", {**session, **HTML, **FORM})
    assert reply.status == 403 and db.get_job(site.conn, job.id).title == "Guarded"
    token = csrf_of(http("GET", site.url + "/admin/jobs", headers={**session, **HTML}))
    body = f"csrf_token={token}&title=Guarded+again".encode()
    reply = http("POST", f"{site.url}/admin/jobs/{job.id}/rename", body, {**session, **HTML, **FORM})
    assert reply.status == 303 and db.get_job(site.conn, job.id).title == "Guarded again"


def test_the_health_page_shows_the_disks_runs_and_checks_the_database(site, admin):
    admin.goto(f"{site.url}/admin/health")
    fits(admin)
    text = admin.locator("main").inner_text()
    assert "free of" in text and "last 30 days" in text and "build" in text and "jobgallery " in text
    with admin.expect_navigation():
        admin.get_by_role("button", name="Check the database now").click()
    assert admin.locator("main").inner_text().count("Integrity check: ok") == 1


def test_archive_and_restore_from_the_jobs_page_show_the_commands_results(site, browser):
    job = new_job(site, f"Barn {time.monotonic_ns()}", 2, seed=800)
    path = gallery_path(site, job.id)
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        sign_in_page(page, site.url, BOSS, "/upload")
        with page.expect_navigation():
            page.get_by_role("link", name="Office").click()
        card = page.locator(f"#job-{job.id}")
        card.locator("summary").click()
        with page.expect_navigation():
            card.get_by_role("button", name="Archive this job").click()
        assert note(page).startswith("archive: 1 job archived, 2 photos archived")
        assert f"archived job {job.id} (2 photos" in page.locator(".office-note li").first.inner_text()
        eventually(lambda: "was archived on" in http("GET", f"{site.url}/{path}").text, "the archived stub")
        with page.expect_navigation():
            page.locator(f"#job-{job.id}").get_by_role("button", name="Restore").click()
        assert note(page).startswith("restore: 1 job restored, 2 masters written")
        eventually(lambda: gallery_images(site, path) == 2, "the gallery back")
        actions = [entry.action for entry in audit.of_job(site.conn, job.id)]
        assert actions[:2] == ["restore", "archive"]
        assert [run.ok for run in [runs.last(site.conn, "archive")]] == [True]
    finally:
        context.close()


def state(site: Site) -> tuple:
    conn = site.conn
    return (
        [tuple(row) for row in conn.execute("SELECT id, title, slug, archived_at FROM job ORDER BY id")],
        [tuple(row) for row in conn.execute("SELECT id, job_id, description, tags, deleted_at FROM job_image")],
        [tuple(row) for row in conn.execute("SELECT name, is_admin, disabled_at FROM user ORDER BY name")],
        audit.count(conn),
    )


HOSTILE_FORMS = [
    ("/admin/jobs", b"title="),
    ("/admin/jobs", b"title=%01%02"),
    ("/admin/jobs", b"title=" + b"x" * 201),
    ("/admin/jobs", b"title=%ff%fe"),
    ("/admin/jobs/{job}/rename", b"title=%E2%80%AEgpj.exe"),
    ("/admin/jobs/{job}/rename", b"title=" + b"y" * 20000),
    ("/admin/jobs/{job}/photos", b"action=explode&photo={photo}"),
    ("/admin/jobs/{job}/photos", b"action=trash"),
    ("/admin/jobs/{job}/photos", b"action=trash&photo=abc"),
    ("/admin/jobs/{job}/photos", b"action=trash&photo=1e3"),
    ("/admin/jobs/{job}/photos", b"action=trash&photo=%D9%A3"),
    ("/admin/jobs/{job}/photos", b"action=trash&photo=99999999999999999999999"),
    ("/admin/jobs/{job}/photos", b"action=trash&photo={photo}&photo=987654321"),
    ("/admin/jobs/{job}/photos", b"action=move&photo={photo}&target=abc"),
    ("/admin/jobs/{job}/photos", b"action=move&photo={photo}&target=987654321"),
    ("/admin/jobs/{job}/photos", b"action=move&photo={photo}&target={job}"),
    ("/admin/jobs/{job}/photos", b"action=edit&photo={photo}&tag_mode=shuffle&tags=a"),
    ("/admin/jobs/{job}/photos", b"action=edit&photo={photo}&tag_mode=set&tags=a%00b"),
    ("/admin/jobs/{job}/photos", b"action=edit&photo={photo}&set_description=1&description=" + b"d" * 2001),
    ("/admin/jobs/{job}/photos", b"action=edit&photo={photo}&tag_mode=keep"),
    ("/admin/jobs/{job}/photos", b"action=untrash&photo={photo}"),
    ("/admin/jobs/{other}/photos", b"action=trash&photo={photo}"),
    ("/admin/photos/{photo}", b"action=move&target=%00"),
    ("/admin/crew", b"name=two+words&role=crew"),
    ("/admin/crew", b"name=%C3%BCber&role=crew"),
    ("/admin/crew", b"name=fine&role=root"),
    ("/admin/crew", b"name=crew&role=crew"),
    ("/admin/crew/crew", b"action=promote"),
    ("/admin/crew/boss", b"action=disable"),
    ("/admin/crew/boss", b"action=crew"),
    ("/admin/crew/ghost", b"action=remove"),
]


@pytest.mark.parametrize(("path", "body"), HOSTILE_FORMS, ids=[f"{n}" for n in range(len(HOSTILE_FORMS))])
def test_a_hostile_office_form_gets_a_sentence_and_changes_nothing(site, path, body):
    while len(db.list_jobs(site.conn, live_only=True)) < 2:
        new_job(site, f"Target {time.monotonic_ns()}", 1, 900)
    job, other = db.list_jobs(site.conn, live_only=True)[-2:]
    photos = db.list_images(site.conn, job.id) or add_photos(site.config, site.conn, job.id, 1, seed=901)
    fields = {"job": job.id, "photo": photos[0].id, "other": other.id}
    address = site.url + path.format(**fields)
    body = body.replace(b"{job}", str(job.id).encode()).replace(b"{photo}", str(photos[0].id).encode())
    session = cookie(session_token(sign_in(site.url, BOSS["username"], BOSS["password"])))
    token = csrf_of(http("GET", site.url + "/admin/jobs", headers={**session, **HTML}))
    before = state(site)
    reply = http("POST", address, b"csrf_token=" + token.encode() + b"&" + body, {**session, **HTML, **FORM})
    assert 400 <= reply.status < 500, (reply.status, reply.text[:300])
    assert reply.header("content-type").startswith("text/html") and "Traceback" not in reply.text
    sentence = re.search(r'<p class="text">([^<]+)</p>', reply.text)
    assert sentence and sentence.group(1).rstrip().endswith("."), reply.text[:500]
    assert state(site) == before


def test_a_one_time_sign_in_link_and_its_qr_code_sign_a_phone_in_once(site, browser):
    import io

    import zxingcpp
    from PIL import Image

    users.add_user(site.conn, "linked", "linked-password-1", admin=False)
    context = browser.new_context(**DESKTOP)
    phone = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        sign_in_page(page, site.url, BOSS, "/admin/crew")
        with page.expect_navigation():
            page.locator("#user-linked").get_by_role("button", name="Sign-in link").click()
        link = page.locator(".office-note .secret code").inner_text()
        assert link.startswith(f"{site.url}/login/link/")
        shot = page.locator(".office-note .qr").screenshot()
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)).convert("L"))
        assert [code.text for code in found] == [link]
        crew_page = phone.new_page()
        crew_page.goto(link)
        crew_page.goto(link)  # looking at it (a chat app's preview) does not use it up
        with crew_page.expect_navigation():
            crew_page.get_by_role("button", name="Sign in as linked").click()
        assert crew_page.url == f"{site.url}/upload" and "linked" in crew_page.locator(".who").inner_text()
        again = phone.new_page()
        response = again.goto(link)
        assert response.status == 404 and "used already, has expired" in again.locator("p.text").inner_text()
        assert [entry.action for entry in audit.recent(site.conn, 2)] == ["user-link-used", "user-link"]
    finally:
        phone.close()
        context.close()


def test_a_sign_in_link_ends_when_its_user_is_disabled_or_given_a_new_one(site):
    from jobgallery import signin_links

    users.add_user(site.conn, "twice", "twice-password-1", admin=False)
    first = signin_links.create(site.conn, "twice", "boss")
    second = signin_links.create(site.conn, "twice", "boss")
    assert signin_links.holder(site.conn, first) is None and signin_links.holder(site.conn, second) == "twice"
    users.disable_user(site.conn, "twice", "boss")
    assert http("GET", f"{site.url}/login/link/{second}", headers=HTML).status == 404
    assert http("POST", f"{site.url}/login/link/{second}", b"", {**HTML, **FORM}).status == 404
    for bad in ("short", "x" * 43, "%00" * 15):
        assert http("GET", f"{site.url}/login/link/{bad}", headers=HTML).status == 404
