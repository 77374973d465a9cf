"""The upload form's offline queue in headless Chromium at a phone's size, against a real daemon.

Each test signs in through /login, lets the service worker take control of
the form (127.0.0.1 is a secure context), and cuts the network with
``context.set_offline``. Counts come from the API (``GET /api/jobs``) and
the database, never from the page alone. A route handler that kills the
daemon with SIGKILL mid-upload stands in for a power cut; the request it
stands in for really reaches the daemon first, so its answer is what is
lost. The daemon sends the shipped Content Security Policy, which forbids
Playwright's string-evaluating waits: the waits here poll with ``evaluate``.
"""

from __future__ import annotations

import hashlib
import re
import signal
import time
from pathlib import Path

import photos
import pytest
import yaml
from conftest import CHROMIUM_ARGS, require_binary
from daemon_support import basic, http, running_daemon
from playwright.sync_api import expect
from session_support import sign_in_page

from jobgallery import db, users
from jobgallery.config import load_config

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
CREW = {"username": "crew", "password": "crew-password-1"}
PARIS = {"latitude": 48.858370, "longitude": 2.294481, "accuracy": 12}


@pytest.fixture
def site(tmp_path: Path):
    """(config path, connection); the test starts the daemon itself, so it can kill and restart it."""
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump({"server": {"rebuild_delay_seconds": 1}}), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, CREW["username"], CREW["password"], admin=False)
        yield config_path, conn


def photo_files(folder: Path, count: int, first_seed: int, **options) -> list[str]:
    paths = []
    for i in range(count):
        path = folder / f"IMG_{first_seed + i:04}.jpg"
        path.write_bytes(photos.jpeg_bytes(640, 480, seed=first_seed + i, **options))
        paths.append(str(path))
    return paths


def poll(page, script: str, timeout: float = 15) -> object:
    """Evaluate ``script`` until it gives a truthy value (the page's CSP forbids ``wait_for_function``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(script)
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"still false after {timeout} s: {script}")


def open_form(context, url: str, job_id: int):
    """Sign in, open /upload?job=ID and wait until the service worker controls it and keeps its shell."""
    page = context.new_page()
    sign_in_page(page, url, CREW, next_path=f"/upload?job={job_id}")
    assert page.url.endswith(f"/upload?job={job_id}")
    poll(page, "() => !!navigator.serviceWorker.controller")
    page.reload()
    poll(page, "() => caches.match('/upload').then(hit => !!hit)")
    poll(page, "() => caches.keys().then(names => caches.open(names[0])).then(c => c.keys()).then(k => k.length >= 6)")
    return page


def image_count(url: str, job_id: int) -> int:
    """The job's photo count as the API reports it."""
    jobs = http("GET", url + "/api/jobs", headers=basic(CREW["username"], CREW["password"])).json()["jobs"]
    return next(job["image_count"] for job in jobs if job["id"] == job_id)


def stored_hashes(conn, job_id: int) -> list[str]:
    return [row.sha256 for row in db.list_images(conn, job_id)]


def test_five_photos_chosen_offline_wait_through_a_closed_page_and_are_stored_once(site, browser, tmp_path) -> None:
    config_path, conn = site
    job = db.create_job(conn, "Basement, 4 Mill Lane")
    files = photo_files(tmp_path, 5, 10)
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        page = open_form(context, daemon.url, job.id)
        context.set_offline(True)
        page.set_input_files("#photos", files)
        page.click("button.go")
        expect(page.locator("#queue li[data-state=waiting]")).to_have_count(5)
        expect(page.locator("#badge")).to_have_text("5 waiting")
        page.close()

        again = context.new_page()
        again.goto(f"{daemon.url}/upload?job={job.id}")
        expect(again.locator("#badge")).to_have_text("5 waiting")
        expect(again.locator("#queue li", has_text="Waiting for a connection")).to_have_count(5)
        assert image_count(daemon.url, job.id) == 0

        context.set_offline(False)
        expect(again.locator("#summary")).to_contain_text("5 stored, 0 already there, 0 failed.", timeout=30_000)
        expect(again.locator("#summary")).to_contain_text("Nothing is waiting.")
        expect(again.locator("#badge")).to_be_hidden()
        assert image_count(daemon.url, job.id) == 5
        sent = sorted(hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in files)
        assert sorted(stored_hashes(conn, job.id)) == sent
        context.close()


def test_the_daemon_killed_mid_queue_loses_nothing_and_stores_nothing_twice(site, browser, tmp_path) -> None:
    """The third photo reaches the daemon, which dies before answering; after the restart it is not sent again."""
    config_path, conn = site
    job = db.create_job(conn, "Roof, power cut")
    files = photo_files(tmp_path, 5, 30)
    sends: list[int] = []
    with running_daemon(config_path) as first:

        def cut_after_storing(route) -> None:
            sends.append(len(route.request.post_data_buffer or b""))
            if len(sends) != 3:
                route.continue_()
                return
            answer = route.fetch()
            assert answer.status == 201
            first.stop(signal.SIGKILL)
            route.abort("connectionreset")

        context = browser.new_context(**PHONE)
        page = open_form(context, first.url, job.id)
        page.route(f"**/api/jobs/{job.id}/images", cut_after_storing)
        page.set_input_files("#photos", files)
        page.click("button.go")
        while first.exit_status is None:
            page.wait_for_timeout(50)
        assert first.exit_status == -signal.SIGKILL
        assert len(db.list_images(conn, job.id)) == 3
        with running_daemon(config_path, port=first.port) as second:
            expect(page.locator("#summary")).to_contain_text("4 stored, 1 already there, 0 failed.", timeout=30_000)
            assert image_count(second.url, job.id) == 5
            assert len(set(stored_hashes(conn, job.id))) == 5
            assert len(sends) == 5  # photos 1-3 before the cut, 4 and 5 after it; 3 never again
            context.close()


def test_a_photo_the_job_already_has_is_not_sent_again(site, browser, tmp_path) -> None:
    config_path, conn = site
    job = db.create_job(conn, "Fence, again")
    old, new = photo_files(tmp_path, 2, 50)
    old_bytes = Path(old).read_bytes()
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        page = open_form(context, daemon.url, job.id)
        page.set_input_files("#photos", [old])
        page.click("button.go")
        expect(page.locator("#summary")).to_contain_text("1 stored", timeout=20_000)

        bodies: list[tuple[str, bytes]] = []

        def count(route) -> None:
            bodies.append((route.request.url, route.request.post_data_buffer or b""))
            route.continue_()

        page.route("**/api/**", count)
        page.set_input_files("#photos", [old, new])
        page.click("button.go")
        expect(page.locator("#summary")).to_contain_text("2 stored, 1 already there, 0 failed.", timeout=20_000)
        expect(page.locator("#queue li", has_text="Was already on the server (nothing sent)")).to_have_count(1)

        uploads = [body for url, body in bodies if url.endswith("/images")]
        assert len(uploads) == 1 and Path(new).read_bytes() in uploads[0]
        assert not any(old_bytes[-4096:] in body for _, body in bodies)
        assert [url for url, _ in bodies if url.endswith("/known")] != []
        assert image_count(daemon.url, job.id) == 2
        context.close()


def test_the_phones_position_goes_with_a_photo_that_has_none_and_never_into_output(site, browser, tmp_path) -> None:
    config_path, conn = site
    job = db.create_job(conn, "Field drain")
    [path] = photo_files(tmp_path, 1, 70)
    with running_daemon(config_path) as daemon:
        context = browser.new_context(geolocation=PARIS, permissions=["geolocation"], **PHONE)
        page = open_form(context, daemon.url, job.id)
        page.set_input_files("#photos", [path])
        page.click("button.go")
        expect(page.locator("#summary")).to_contain_text("1 stored", timeout=20_000)
        row = conn.execute("SELECT location, location_source FROM job_image WHERE job_id = ?", (job.id,)).fetchone()
        latitude, longitude = (float(part) for part in row[0].split(","))
        assert (round(latitude, 5), round(longitude, 5), row[1]) == (48.85837, 2.29448, "browser")
        context.close()
        output = load_config(str(config_path)).paths.output
        page_file = wait_for_job_page(output, job.id)
        assert "48.858" not in page_file.read_text(encoding="utf-8")
        published = [file.read_bytes() for file in output.rglob("*") if file.is_file()]
        assert not any(b"48.858" in data or b"GPS" in data for data in published)


def wait_for_job_page(output: Path, job_id: int, timeout: float = 20) -> Path:
    """The job's gallery page once the rebuild after the upload has published a photo on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for page in output.glob(f"jobs/{job_id}-*/index.html"):
            if "<img" in page.read_text(encoding="utf-8"):
                return page
        time.sleep(0.2)
    raise AssertionError(f"job {job_id}'s page did not appear in {output}")


def test_an_ended_session_keeps_the_queue_and_asks_to_sign_in_again(site, browser, tmp_path) -> None:
    config_path, conn = site
    job = db.create_job(conn, "Long day")
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        page = open_form(context, daemon.url, job.id)
        db.delete_sessions(conn, CREW["username"])
        page.set_input_files("#photos", photo_files(tmp_path, 2, 90))
        page.click("button.go")
        expect(page.locator("#signin")).to_be_visible(timeout=20_000)
        expect(page.locator("#badge")).to_have_text("2 waiting")
        expect(page.locator("#queue li .state")).to_have_text(["Waiting for sign-in"] * 2)
        assert image_count(daemon.url, job.id) == 0
        page.locator("#signin a").click()
        page.fill("#username", CREW["username"])
        page.fill("#password", CREW["password"])
        with page.expect_navigation():
            page.click("button.go")
        expect(page.locator("#summary")).to_contain_text("2 stored, 0 already there, 0 failed.", timeout=20_000)
        assert image_count(daemon.url, job.id) == 2
        context.close()


def test_over_plain_http_on_a_lan_name_the_queue_works_without_a_worker(site, browser, tmp_path) -> None:
    """``field.test`` maps to 127.0.0.1 but is no secure context: no service worker, no WebCrypto digest."""
    config_path, conn = site
    job = db.create_job(conn, "Barn, no HTTPS")
    files = photo_files(tmp_path, 2, 110)
    with running_daemon(config_path) as daemon:
        args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP field.test 127.0.0.1"]
        lan_browser = browser.browser_type.launch(executable_path=require_binary("chromium"), args=args)
        url = f"http://field.test:{daemon.port}"
        context = lan_browser.new_context(**PHONE)
        page = context.new_page()
        sign_in_page(page, url, CREW, next_path=f"/upload?job={job.id}")
        assert page.evaluate("() => [isSecureContext, 'serviceWorker' in navigator, !!crypto.subtle]") == [
            False,
            False,
            False,
        ]
        note = page.locator("#https-note")
        expect(note).to_contain_text("cannot be installed on the home screen and cannot send photos in the background")
        expect(note).to_contain_text("Browsers also give a page on plain HTTP no location")
        context.set_offline(True)
        page.set_input_files("#photos", files)
        page.click("button.go")
        expect(page.locator("#queue li[data-state=waiting]")).to_have_count(2)
        expect(page.locator("#badge")).to_have_text("2 waiting")
        page.close()

        context.set_offline(False)
        known: list[str] = []
        again = context.new_page()
        again.on("request", lambda request: known.append(request.url) if request.url.endswith("/known") else None)
        again.goto(f"{url}/upload?job={job.id}")
        expect(again.locator("#summary")).to_contain_text("2 stored, 0 already there, 0 failed.", timeout=30_000)
        assert known and image_count(daemon.url, job.id) == 2
        sent = sorted(hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in files)
        assert sorted(stored_hashes(conn, job.id)) == sent
        again.set_input_files("#photos", files[:1])  # hashed by js-sha256 here: it must match the server's hash
        again.click("button.go")
        expect(again.locator("#queue li", has_text="Was already on the server (nothing sent)")).to_have_count(1)
        again.locator("#https-note button").click()
        again.reload()
        expect(again.locator("#https-note")).to_be_hidden()
        lan_browser.close()


def send_from_two_tabs(context, first, url: str, job_id: int, files: list[str]) -> int:
    """Queue ``files`` offline in ``first`` with a second tab open on the form; image requests once online."""
    sends: list[str] = []

    def count(route) -> None:
        sends.append(route.request.url)
        route.continue_()

    context.route(f"**/api/jobs/{job_id}/images", count)
    second = context.new_page()
    second.goto(f"{url}/upload?job={job_id}")
    context.set_offline(True)
    first.set_input_files("#photos", files)
    first.click("button.go")
    for page in (first, second):
        expect(page.locator("#queue li[data-state=waiting]")).to_have_count(len(files))
    context.set_offline(False)
    for page in (first, second):
        expect(page.locator("#badge")).to_be_hidden(timeout=30_000)
    return len(sends)


def test_two_open_tabs_send_each_queued_photo_once(site, browser, tmp_path) -> None:
    """Both tabs see the queue and both wake when the network returns; one lock lets only one of them send."""
    config_path, conn = site
    job = db.create_job(conn, "Two tabs")
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        first = open_form(context, daemon.url, job.id)
        assert send_from_two_tabs(context, first, daemon.url, job.id, photo_files(tmp_path, 4, 130)) == 4
        assert image_count(daemon.url, job.id) == 4
        context.close()


def test_two_open_tabs_over_plain_http_send_each_queued_photo_once(site, browser, tmp_path) -> None:
    """No secure context means no Web Locks: the tabs share a lease in IndexedDB instead."""
    config_path, conn = site
    job = db.create_job(conn, "Two tabs, no HTTPS")
    with running_daemon(config_path) as daemon:
        args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP field.test 127.0.0.1"]
        lan_browser = browser.browser_type.launch(executable_path=require_binary("chromium"), args=args)
        url = f"http://field.test:{daemon.port}"
        context = lan_browser.new_context(**PHONE)
        first = context.new_page()
        sign_in_page(first, url, CREW, next_path=f"/upload?job={job.id}")
        assert first.evaluate("() => [isSecureContext, 'locks' in navigator]") == [False, False]
        assert send_from_two_tabs(context, first, url, job.id, photo_files(tmp_path, 4, 150)) == 4
        assert image_count(daemon.url, job.id) == 4
        lan_browser.close()


# ---------------------------------------------------------------- whose photos go where


def queued(page) -> list[dict]:
    """The queue as the page's IndexedDB holds it (without the files)."""
    return page.evaluate(
        "() => UploadQueue.all().then(rows => rows.map(r => ({job: r.job, state: r.state, user: r.user,"
        " description: r.description, tags: r.tags})))"
    )


def descriptions(conn, job_id: int) -> list[str]:
    return sorted(row.description for row in db.list_images(conn, job_id))


def test_upload_in_one_tab_sends_only_its_own_picks_and_offers_the_others(site, browser, tmp_path) -> None:
    """Tab A picks 2 for job 1 and types, never presses Upload; tab B's Upload stores only B's photo in job 2."""
    config_path, conn = site
    roof, fence = db.create_job(conn, "Roof, 3 Ash Row"), db.create_job(conn, "Fence, 9 Oak Rd")
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        tab_a = open_form(context, daemon.url, roof.id)
        tab_a.set_input_files("#photos", photo_files(tmp_path, 2, 150))
        tab_a.fill("#description", "Gutter, north side")
        tab_a.fill("#tags", "gutter")
        poll(tab_a, "() => UploadQueue.all().then(rows => rows.length === 2"
                    " && rows.every(r => r.description === 'Gutter, north side' && r.tags === 'gutter'))")  # fmt: skip
        tab_b = context.new_page()
        tab_b.goto(f"{daemon.url}/upload?job={fence.id}")
        tab_b.set_input_files("#photos", photo_files(tmp_path, 1, 160))
        tab_b.fill("#description", "New posts")
        tab_b.click("button.go")
        expect(tab_b.locator("#summary")).to_contain_text("1 stored, 0 already there, 0 failed.", timeout=20_000)
        expect(tab_b.locator("#badge")).to_have_text("0 waiting, 2 held")
        assert (image_count(daemon.url, roof.id), image_count(daemon.url, fence.id)) == (0, 1)
        assert descriptions(conn, fence.id) == ["New posts"]
        expect(tab_a.locator("#queue li[data-state=held]")).to_have_count(2)

        left = tab_b.locator("#held-elsewhere li")
        expect(left).to_have_count(1)
        expect(left).to_contain_text("2 photos picked earlier for “Roof, 3 Ash Row” were not sent.")
        left.get_by_role("button", name="Send to Roof, 3 Ash Row").click()
        expect(tab_b.locator("#summary")).to_contain_text("3 stored", timeout=20_000)
        assert (image_count(daemon.url, roof.id), image_count(daemon.url, fence.id)) == (2, 1)
        assert descriptions(conn, roof.id) == ["Gutter, north side"] * 2
        expect(tab_b.locator("#held-elsewhere")).to_be_hidden()
        context.close()


def test_a_pick_left_from_yesterday_is_not_sent_to_todays_job_and_can_be_discarded(site, browser, tmp_path) -> None:
    config_path, conn = site
    old, new = db.create_job(conn, "Shed, Monday"), db.create_job(conn, "Porch, Tuesday")
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        page = open_form(context, daemon.url, old.id)
        page.set_input_files("#photos", photo_files(tmp_path, 1, 170))
        expect(page.locator("#queue li[data-state=held]")).to_have_count(1)
        page.close()

        today = context.new_page()
        today.goto(f"{daemon.url}/upload?job={new.id}")
        today.set_input_files("#camera", photo_files(tmp_path, 1, 171))
        today.click("button.go")
        expect(today.locator("#summary")).to_contain_text("1 stored", timeout=20_000)
        today.wait_for_timeout(1000)
        assert (image_count(daemon.url, old.id), image_count(daemon.url, new.id)) == (0, 1)
        expect(today.locator("#summary")).to_contain_text("1 stored, 0 already there, 0 failed.")
        left = today.locator("#held-elsewhere li")
        expect(left).to_have_text(re.compile("1 photo picked earlier for “Shed, Monday” was not sent."))
        expect(today.locator("#queue li:not([data-state=done])")).to_have_count(0)
        today.once("dialog", lambda dialog: dialog.accept())
        left.get_by_role("button", name="Discard").click()
        expect(today.locator("#held-elsewhere")).to_be_hidden()
        assert queued(today) == []
        assert image_count(daemon.url, old.id) == 0
        context.close()


def test_a_photo_picked_by_mistake_is_discarded_before_upload(site, browser, tmp_path) -> None:
    config_path, conn = site
    job = db.create_job(conn, "Kitchen")
    keep, mistake = photo_files(tmp_path, 2, 180)
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        page = open_form(context, daemon.url, job.id)
        page.set_input_files("#photos", [keep, mistake])
        rows = page.locator("#queue li[data-state=held]")
        expect(rows).to_have_count(2)
        expect(rows.locator(".job")).to_have_text(["For “Kitchen”"] * 2)
        page.once("dialog", lambda dialog: dialog.accept())
        rows.filter(has_text=Path(mistake).name).get_by_role("button", name="Discard").click()
        expect(rows).to_have_count(1)
        page.click("button.go")
        expect(page.locator("#summary")).to_contain_text("1 stored, 0 already there, 0 failed.", timeout=20_000)
        assert stored_hashes(conn, job.id) == [hashlib.sha256(Path(keep).read_bytes()).hexdigest()]
        context.close()


def test_the_same_photo_queued_twice_is_sent_once(site, browser, tmp_path) -> None:
    config_path, conn = site
    job = db.create_job(conn, "Twice")
    [path] = photo_files(tmp_path, 1, 190)
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        sends: list[int] = []
        context.route(f"**/api/jobs/{job.id}/images", lambda route: (sends.append(1), route.continue_()))
        page = open_form(context, daemon.url, job.id)
        page.set_input_files("#photos", [path])
        page.set_input_files("#camera", [path])
        page.click("button.go")
        expect(page.locator("#summary")).to_contain_text("1 stored, 1 already there, 0 failed.", timeout=20_000)
        assert len(sends) == 1 and image_count(daemon.url, job.id) == 1
        context.close()


MATE = {"username": "mate", "password": "mate-password-1"}
SHELL_PAGE = "() => caches.match('/upload').then(hit => hit ? hit.text() : '')"


def test_after_sign_out_the_next_user_never_sends_or_sees_the_last_users_photos(site, browser, tmp_path) -> None:
    """crew leaves 2 released (the network refuses them) and 1 held photo; mate signs in on the same phone."""
    config_path, conn = site
    users.add_user(conn, MATE["username"], MATE["password"], admin=False)
    job = db.create_job(conn, "Shared phone")
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        page = open_form(context, daemon.url, job.id)
        assert "Signed in as <strong>crew" in page.evaluate(SHELL_PAGE)
        context.route("**/api/**", lambda route: route.abort("internetdisconnected"))
        page.set_input_files("#photos", photo_files(tmp_path, 2, 200))
        page.click("button.go")
        expect(page.locator("#queue li", has_text="No connection")).to_have_count(2, timeout=20_000)
        page.set_input_files("#camera", photo_files(tmp_path, 1, 202))
        expect(page.locator("#badge")).to_have_text("2 waiting, 1 held")

        warnings: list[str] = []
        answers = [False, True]

        def answer(dialog) -> None:
            warnings.append(dialog.message)
            dialog.accept() if answers.pop(0) else dialog.dismiss()

        page.on("dialog", answer)
        page.get_by_role("button", name="Sign out").click()
        poll(page, "() => true")
        assert page.url.endswith(f"/upload?job={job.id}")
        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()
        assert page.url == f"{daemon.url}/login"
        assert warnings == ["3 photos picked by crew have not been sent. They stay on this phone until crew signs"
                            " in here again, to be sent or discarded then. Sign out anyway?"] * 2  # fmt: skip
        page.remove_listener("dialog", answer)
        assert page.evaluate(SHELL_PAGE) == ""
        assert db.list_sessions(conn, CREW["username"], "0000-01-01") == []

        context.unroute("**/api/**")
        sends: list[str] = []
        context.on("request", lambda request: sends.append(request.url) if "/api/" in request.url else None)
        sign_in_page(page, daemon.url, MATE, next_path=f"/upload?job={job.id}")
        expect(page.locator(".who")).to_contain_text("Signed in as mate")
        box = page.locator("#held-elsewhere li")
        expect(box).to_have_text(re.compile("3 photos picked by crew wait for crew to sign in."))
        expect(page.locator("#badge")).to_have_text("0 waiting, 3 held")
        page.click("button.go")
        expect(page.locator("#form-message")).to_have_text("Choose one or more photos first.")
        page.wait_for_timeout(3000)
        assert sends == [] and image_count(daemon.url, job.id) == 0
        poll(page, "() => caches.match('/upload').then(hit => hit && hit.text()).then(t => t && t.includes('mate'))")

        page.once("dialog", lambda dialog: dialog.accept())
        box.get_by_role("button", name="Discard").click()
        expect(page.locator("#held-elsewhere")).to_be_hidden()
        assert queued(page) == []
        db.delete_sessions(conn, MATE["username"])
        page.goto(f"{daemon.url}/upload?job={job.id}")
        assert "/login" in page.url
        poll(page, "() => caches.match('/upload').then(hit => !hit)")
        context.close()


def test_a_photo_waiting_after_upload_names_its_job_and_can_still_be_discarded(site, browser, tmp_path) -> None:
    config_path, conn = site
    job = db.create_job(conn, "Cellar, 7 Pine St")
    files = photo_files(tmp_path, 3, 210)
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        page = open_form(context, daemon.url, job.id)
        context.set_offline(True)
        page.set_input_files("#photos", files)
        page.click("button.go")
        rows = page.locator("#queue li[data-state=waiting]")
        expect(rows).to_have_count(3)
        expect(rows.locator(".job")).to_have_text(["For “Cellar, 7 Pine St”"] * 3)
        expect(rows.get_by_role("button", name="Discard")).to_have_count(3)
        expect(page.locator("#badge")).to_have_text("3 waiting")

        asked: list[str] = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        rows.filter(has_text="IMG_0211.jpg").get_by_role("button", name="Discard").click()
        expect(rows).to_have_count(2)
        assert asked == ["Discard IMG_0211.jpg? It has not been sent and will be gone from this phone."]
        expect(page.locator("#badge")).to_have_text("2 waiting")

        context.set_offline(False)
        expect(page.locator("#summary")).to_contain_text("2 stored, 0 already there, 0 failed.", timeout=30_000)
        kept = [files[0], files[2]]
        assert sorted(stored_hashes(conn, job.id)) == sorted(
            hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in kept
        )
        context.close()


def test_cancel_on_the_discard_question_keeps_the_photo(site, browser, tmp_path) -> None:
    """Cancel on a waiting row and on a group picked earlier: both stay queued, and are sent afterwards."""
    config_path, conn = site
    shed, porch = db.create_job(conn, "Shed, Monday"), db.create_job(conn, "Porch, Tuesday")
    with running_daemon(config_path) as daemon:
        context = browser.new_context(**PHONE)
        first = open_form(context, daemon.url, shed.id)
        first.set_input_files("#photos", photo_files(tmp_path, 1, 220))
        expect(first.locator("#queue li[data-state=held] .job")).to_have_text("For “Shed, Monday”")
        first.close()

        page = context.new_page()
        page.goto(f"{daemon.url}/upload?job={porch.id}")
        context.set_offline(True)
        page.set_input_files("#photos", photo_files(tmp_path, 1, 221))
        page.click("button.go")
        waiting = page.locator("#queue li[data-state=waiting]")
        expect(waiting).to_have_count(1)
        expect(page.locator("#badge")).to_have_text("1 waiting, 1 held")

        asked: list[str] = []
        page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        waiting.get_by_role("button", name="Discard").click()
        left = page.locator("#held-elsewhere li")
        left.get_by_role("button", name="Discard").click()
        deadline = time.monotonic() + 10
        while len(asked) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert asked == [
            "Discard IMG_0221.jpg? It has not been sent and will be gone from this phone.",
            "Discard 1 photo picked earlier for “Shed, Monday”? It has not been sent and will be gone from this phone.",
        ]
        expect(waiting).to_have_count(1)
        expect(left).to_have_count(1)
        assert sorted(row["state"] for row in queued(page)) == ["held", "waiting"]

        context.set_offline(False)
        expect(page.locator("#summary")).to_contain_text("1 stored", timeout=30_000)
        left.get_by_role("button", name="Send to Shed, Monday").click()
        expect(page.locator("#summary")).to_contain_text("2 stored", timeout=30_000)
        assert (image_count(daemon.url, shed.id), image_count(daemon.url, porch.id)) == (1, 1)
        context.close()
