"""Signing in on ``/login``: the session cookie, CSRF, ending sessions, the throttle, a phone in Chromium.

One ``jobgallery serve`` (trusting 127.0.0.1 as a proxy, as it would behind
Nginx) serves the module; each test signs in from its own ``X-Forwarded-For``
address so the throttle one test trips never slows another. User changes go
through the real ``jobgallery`` command, as an admin would make them.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from pathlib import Path

import photos
import pytest
import yaml
from conftest import cli_command, nest
from daemon_support import FilePart, basic, http, running_daemon, upload
from daemon_support import Site as RunningSite
from session_support import FORM, cookie, csrf_of, session_token, sign_in

from daemon.auth import FREE_FAILURES, TooManyAttempts
from jobgallery import db, users
from jobgallery.config import load_config

CREW = ("crew", "crew-password-1")
BOSS = ("boss", "boss-password-1")
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
JSON = {"Content-Type": "application/json"}
DAY = 86400


class Site(RunningSite):
    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        command = [*cli_command(), "--config", str(self.daemon.config_path), *args]
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)

    def titles(self) -> list[str]:
        return [job.title for job in db.list_jobs(self.conn)]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    folder = tmp_path_factory.mktemp("sessions")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(nest({"server.trusted_proxies": "127.0.0.1"})), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        users.add_user(conn, *BOSS, admin=True)
        with running_daemon(config_path) as daemon:
            yield Site(daemon, config, conn)


def at(address: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {"X-Forwarded-For": address, **(headers or {})}


def signed_in(site: Site, user: tuple[str, str], address: str) -> dict[str, str]:
    """Cookie headers of a fresh session (signed in from ``address``)."""
    reply = sign_in(site.url, *user, headers=at(address))
    assert reply.status == 303, reply.text
    return cookie(session_token(reply))


def with_csrf(site: Site, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus the CSRF token the upload form shows to this session."""
    return {**headers, "X-CSRF-Token": csrf_of(http("GET", site.url + "/upload", headers=headers))}


def new_job(site: Site, headers: dict[str, str], title: str):
    return http("POST", site.url + "/api/jobs", f'{{"title": "{title}"}}'.encode(), {**JSON, **headers})


def jpeg(seed: int) -> FilePart:
    return FilePart(f"photo-{seed}.jpg", photos.jpeg_bytes(320, 240, seed=seed), content_type="image/jpeg")


# ---------------------------------------------------------------- the cookie


def test_signing_in_sets_an_httponly_lax_cookie_and_goes_to_the_upload_form(site: Site) -> None:
    reply = sign_in(site.url, *CREW, headers=at("10.1.0.1"))
    assert reply.status == 303 and reply.header("location") == "/upload"
    [value] = reply.header_values("set-cookie")
    flags = [flag.strip() for flag in value.split(";")]
    assert flags[0].startswith("jobgallery_session=") and len(flags[0]) == len("jobgallery_session=") + 43
    assert sorted(flags[1:]) == sorted([f"Max-Age={30 * DAY}", "Path=/", "HttpOnly", "SameSite=Lax"])
    again = http("GET", site.url + "/login?next=%2Fupload%3Fjob%3D2", headers=cookie(session_token(reply)))
    assert again.status == 303 and again.header("location") == "/upload?job=2"  # already signed in


def test_the_cookie_is_secure_when_a_trusted_proxy_says_https(site: Site) -> None:
    reply = sign_in(site.url, *CREW, headers=at("10.1.0.2", {"X-Forwarded-Proto": "https"}))
    assert "Secure" in [flag.strip() for flag in reply.header("set-cookie").split(";")]


def test_only_a_hash_of_the_token_is_stored(site: Site) -> None:
    token = session_token(sign_in(site.url, *CREW, headers=at("10.1.0.3")))
    hashes = [row[0] for row in site.conn.execute("SELECT token_hash FROM session")]
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert not any(token in str(row) for row in site.conn.execute("SELECT * FROM session"))


def test_the_session_opens_the_form_with_its_csrf_token_and_basic_gets_none(site: Site) -> None:
    headers = signed_in(site, CREW, "10.1.0.4")
    page = http("GET", site.url + "/upload", headers=headers)
    assert page.status == 200 and "Signed in as <strong>crew</strong>" in page.text
    token = csrf_of(page)
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert f'<input type="hidden" name="csrf_token" value="{token}">' in page.text
    assert csrf_of(http("GET", site.url + "/upload", headers=basic(*CREW))) == ""


def test_an_expired_session_sends_the_browser_back_to_sign_in(site: Site) -> None:
    headers = signed_in(site, CREW, "10.1.0.5")
    digest = hashlib.sha256(headers["Cookie"].split("=", 1)[1].encode()).hexdigest()
    with db.write(site.conn):
        site.conn.execute("UPDATE session SET expires_at = '2000-01-01T00:00:00+00:00' WHERE token_hash = ?", (digest,))
    reply = http("GET", site.url + "/upload", headers={**HTML, **headers})
    assert reply.status == 303 and reply.header("location") == "/login?next=%2Fupload"


def test_a_used_session_slides_forward_and_renews_its_cookie(site: Site) -> None:
    headers = signed_in(site, CREW, "10.1.0.6")
    digest = hashlib.sha256(headers["Cookie"].split("=", 1)[1].encode()).hexdigest()
    old = "2026-01-01T00:00:00+00:00"
    with db.write(site.conn):
        site.conn.execute(
            "UPDATE session SET last_seen_at = ?, expires_at = '2099-01-01' WHERE token_hash = ?", (old, digest)
        )
    quiet = http("GET", site.url + "/api/jobs", headers=headers)
    assert quiet.status == 200 and quiet.header("set-cookie").startswith(headers["Cookie"] + ";")
    (seen, expires) = site.conn.execute(
        "SELECT last_seen_at, expires_at FROM session WHERE token_hash = ?", (digest,)
    ).fetchone()
    assert seen > old and expires < "2099" and expires > db.now_iso()
    again = http("GET", site.url + "/api/jobs", headers=headers)
    assert again.status == 200 and again.header("set-cookie") is None  # at most one write an hour


# ---------------------------------------------------------------- where a browser without a session goes


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/upload", "/login?next=%2Fupload"), ("/upload?job=7", "/login?next=%2Fupload%3Fjob%3D7")],
)
def test_a_browser_without_a_session_is_sent_to_sign_in_and_back(site: Site, path: str, expected: str) -> None:
    reply = http("GET", site.url + path, headers=HTML)
    assert reply.status == 303 and reply.header("location") == expected
    assert reply.header("www-authenticate") is None
    form = http("GET", site.url + expected, headers=HTML)
    assert form.status == 200 and f'name="next" value="{path.replace("&", "&amp;")}"' in form.text
    back = sign_in(site.url, *CREW, headers=at("10.1.1.1"), next_path=path)
    assert back.status == 303 and back.header("location") == path


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "upload",
     "/upload\r\nSet-Cookie: x=1", "/upload x", "/" + "a" * 3000, "/.//evil.example", "/..//evil.example",
     "/%2e%2e//evil.example", "/%2E//evil.example", "/%252e%252e//evil.example", "/upload/..//evil.example",
     "/./%5Cevil.example", "/%2F/evil.example"],
)  # fmt: skip
def test_next_only_ever_leads_to_this_site(site: Site, target: str) -> None:
    reply = sign_in(site.url, *CREW, headers=at("10.1.1.2"), next_path=target)
    assert reply.status == 303 and reply.header("location") == "/upload"
    page = http("GET", site.url + "/login?next=" + target.replace("\r\n", "%0D%0A").replace(" ", "%20"))
    assert 'name="next" value="/upload"' in page.text


def test_scripts_without_credentials_still_get_a_basic_challenge_and_basic_works_for_the_api(site: Site) -> None:
    refused = http("GET", site.url + "/api/jobs")
    assert refused.status == 401 and refused.header("www-authenticate").startswith("Basic")
    assert refused.json()["error"]
    created = new_job(site, basic(*BOSS), "By script")
    assert created.status == 201 and "By script" in site.titles()
    listed = http("GET", site.url + "/api/jobs", headers=basic(*CREW))
    assert listed.status == 200 and "By script" in [job["title"] for job in listed.json()["jobs"]]


def test_a_page_script_with_an_ended_session_gets_401_without_a_password_prompt(site: Site) -> None:
    fetch = {"Cookie": "jobgallery_session=" + "A" * 43, "Sec-Fetch-Mode": "cors"}
    reply = http("POST", site.url + "/api/jobs/1/images", b"", fetch)
    assert reply.status == 401 and reply.header("www-authenticate") is None


# ---------------------------------------------------------------- CSRF


def test_unsafe_requests_with_the_cookie_but_no_csrf_token_are_refused(site: Site) -> None:
    headers = signed_in(site, BOSS, "10.1.2.1")
    job = db.create_job(site.conn, "CSRF target")
    stored = upload(f"{site.url}/api/jobs/{job.id}/images", [jpeg(1)], basic(*CREW)).json()["images"][0]
    wrong = {**headers, "X-CSRF-Token": "0" * 64}
    fields = [("job_id", str(job.id))]
    refused = [
        new_job(site, headers, "Forged"),
        new_job(site, wrong, "Forged"),
        http("POST", site.url + "/upload/jobs", b"title=Forged", {**FORM, **headers}),
        http("POST", site.url + "/upload/jobs", b"title=Forged&csrf_token=" + b"0" * 64, {**FORM, **headers}),
        upload(f"{site.url}/api/jobs/{job.id}/images", [jpeg(2)], headers),
        upload(site.url + "/upload", [jpeg(3)], headers, fields),
        upload(site.url + "/upload", [jpeg(4)], headers, [*fields, ("csrf_token", "0" * 64)]),
        upload(f"{site.url}/{job.id}/add_image", [jpeg(5)], headers),
        http("DELETE", f"{site.url}/api/images/{stored['id']}", headers=headers),
        http("POST", site.url + "/logout", b"", {**FORM, **headers}),
    ]
    assert [reply.status for reply in refused] == [403] * len(refused)
    assert all(reply.json()["error"].startswith("this page is out of date") for reply in refused)
    assert "Forged" not in site.titles()
    assert [image.id for image in db.list_images(site.conn, job.id)] == [stored["id"]]
    assert http("GET", site.url + "/api/jobs", headers=headers).status == 200  # logout without the token did nothing


def test_unsafe_requests_with_the_sessions_csrf_token_are_accepted(site: Site) -> None:
    headers = with_csrf(site, signed_in(site, BOSS, "10.1.2.2"))
    token = headers["X-CSRF-Token"]
    without_header = {"Cookie": headers["Cookie"]}
    job = new_job(site, headers, "With token").json()
    form = http(
        "POST", site.url + "/upload/jobs", f"title=Form+job&csrf_token={token}".encode(), {**FORM, **without_header}
    )
    assert form.status == 303 and "Form job" in site.titles()
    api = upload(f"{site.url}/api/jobs/{job['id']}/images", [jpeg(10)], headers)
    fields = [("csrf_token", token), ("job_id", str(job["id"]))]
    plain = upload(site.url + "/upload", [jpeg(11)], {**without_header, **HTML}, fields)
    assert (api.status, plain.status) == (201, 201) and "Photos stored" in plain.text
    image = api.json()["images"][0]["id"]
    assert http("DELETE", f"{site.url}/api/images/{image}", headers=headers).status == 204
    assert len(db.list_images(site.conn, job["id"])) == 1


def test_a_csrf_token_belongs_to_its_own_session(site: Site) -> None:
    mine = with_csrf(site, signed_in(site, BOSS, "10.1.2.3"))
    theirs = signed_in(site, BOSS, "10.1.2.4")
    reply = new_job(site, {**theirs, "X-CSRF-Token": mine["X-CSRF-Token"]}, "Borrowed token")
    assert reply.status == 403 and "Borrowed token" not in site.titles()


def test_a_sign_in_posted_from_another_site_is_refused(site: Site) -> None:
    reply = sign_in(site.url, *CREW, headers=at("10.1.2.5", {"Sec-Fetch-Site": "cross-site"}))
    assert reply.status == 403 and reply.header("set-cookie") is None


# ---------------------------------------------------------------- ending sessions


def test_signing_out_ends_the_session_and_clears_the_cookie(site: Site) -> None:
    headers = with_csrf(site, signed_in(site, CREW, "10.1.3.1"))
    reply = http("POST", site.url + "/logout", f"csrf_token={headers['X-CSRF-Token']}".encode(), {**FORM, **headers})
    assert reply.status == 303 and reply.header("location") == "/login"
    assert reply.header("set-cookie").startswith("jobgallery_session=; Max-Age=0;")
    assert http("GET", site.url + "/upload", headers={**HTML, **headers}).status == 303


def test_a_password_reset_ends_a_live_session_at_once(site: Site) -> None:
    users.add_user(site.conn, "resetme", "first-password-1", admin=False)
    headers = signed_in(site, ("resetme", "first-password-1"), "10.1.3.2")
    assert http("GET", site.url + "/upload", headers=headers).status == 200
    assert site.cli("user", "add", "resetme", stdin="second-password-2\n").returncode == 0
    assert http("GET", site.url + "/upload", headers={**HTML, **headers}).status == 303
    assert http("GET", site.url + "/api/jobs", headers=headers).status == 401


def test_a_password_reset_ends_basic_sign_ins_with_the_old_password_at_once(site: Site) -> None:
    """The cache of good sign-ins used to keep the old password working for about a minute."""
    users.add_user(site.conn, "cached", "first-password-1", admin=False)
    old = at("10.1.3.3", basic("cached", "first-password-1"))
    assert http("GET", site.url + "/api/jobs", headers=old).status == 200
    assert site.cli("user", "add", "cached", stdin="second-password-2\n").returncode == 0
    assert http("GET", site.url + "/api/jobs", headers=old).status == 401
    assert (
        http("GET", site.url + "/api/jobs", headers=at("10.1.3.3", basic("cached", "second-password-2"))).status == 200
    )


def test_a_demotion_takes_admin_rights_away_from_basic_at_once(site: Site) -> None:
    """The cache of good sign-ins used to keep the old role for about a minute."""
    users.add_user(site.conn, "demoted", "same-password-1", admin=True)
    by_basic = basic("demoted", "same-password-1")
    assert new_job(site, by_basic, "While admin").status == 201
    assert site.cli("user", "add", "demoted", stdin="same-password-1\n").returncode == 0
    assert new_job(site, by_basic, "After demotion").status == 403
    assert "After demotion" not in site.titles()


def test_a_demotion_ends_the_users_sessions(site: Site) -> None:
    users.add_user(site.conn, "demoted2", "same-password-1", admin=True)
    session = with_csrf(site, signed_in(site, ("demoted2", "same-password-1"), "10.1.3.6"))
    assert new_job(site, session, "Session while admin").status == 201
    assert site.cli("user", "add", "demoted2", stdin="same-password-1\n").returncode == 0
    assert new_job(site, session, "Session after demotion").status == 401
    assert "Session after demotion" not in site.titles()


def test_removing_a_user_ends_its_sessions_and_basic_at_once(site: Site) -> None:
    users.add_user(site.conn, "leaver", "leaver-password-1", admin=False)
    by_basic = basic("leaver", "leaver-password-1")
    headers = signed_in(site, ("leaver", "leaver-password-1"), "10.1.3.5")
    assert http("GET", site.url + "/api/jobs", headers=by_basic).status == 200
    removed = site.cli("user", "remove", "leaver")
    assert removed.returncode == 0 and removed.stdout == "removed user leaver\n"
    assert http("GET", site.url + "/api/jobs", headers=at("10.1.3.5", by_basic)).status == 401
    assert http("GET", site.url + "/api/jobs", headers=headers).status == 401
    assert db.get_user(site.conn, "leaver") is None
    assert site.conn.execute("SELECT COUNT(*) FROM session WHERE user_name = 'leaver'").fetchone()[0] == 0
    again = site.cli("user", "remove", "leaver")
    assert again.returncode == 1 and again.stderr == "jobgallery: there is no user named 'leaver'\n"


def test_user_sessions_lists_them_tab_separated_and_revoke_ends_them(site: Site) -> None:
    users.add_user(site.conn, "phones", "phones-password-1", admin=False)
    agents = ("Phone A\tforged", "Phone B")
    sessions = [
        cookie(
            session_token(
                sign_in(site.url, "phones", "phones-password-1", at(f"10.1.4.{i + 1}", {"User-Agent": agent}))
            )
        )
        for i, agent in enumerate(agents)
    ]
    listed = site.cli("user", "sessions", "phones")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert len(rows) == 2 and all(len(row) == 6 for row in rows)
    assert sorted(row[4] for row in rows) == ["10.1.4.1", "10.1.4.2"]
    assert sorted(row[5] for row in rows) == ["Phone A forged", "Phone B"]
    assert all(re.fullmatch(r"[0-9a-f]{12}", row[0]) and row[1] <= row[2] < row[3] for row in rows)
    revoked = site.cli("user", "sessions", "phones", "--revoke")
    assert revoked.returncode == 0 and revoked.stderr == "ended 2 sessions of phones\n"
    assert all(http("GET", site.url + "/api/jobs", headers=headers).status == 401 for headers in sessions)
    assert site.cli("user", "sessions", "phones").stdout == ""
    unknown = site.cli("user", "sessions", "nobody")
    assert unknown.returncode == 1 and "no user named 'nobody'" in unknown.stderr


# ---------------------------------------------------------------- the sign-in page and the throttle


def test_a_wrong_password_shows_the_form_again_without_a_cookie(site: Site) -> None:
    reply = sign_in(site.url, "crew", "not-the-password", headers=at("10.1.5.1"))
    assert reply.status == 401 and reply.header("set-cookie") is None
    assert reply.header("www-authenticate") is None
    assert "Wrong user name or password." in reply.text and 'value="crew"' in reply.text


@pytest.mark.parametrize(
    ("name", "password"),
    [("", "x"), ("crew", ""), ("no such user", "crew-password-1"), ("crew", "x" * 5000), ("cr:ew", "p")],
)
def test_malformed_sign_ins_are_wrong_passwords(site: Site, name: str, password: str) -> None:
    reply = sign_in(site.url, name, password, headers=at("10.1.5.2"))
    assert reply.status == 401 and reply.header("set-cookie") is None


@pytest.mark.parametrize(("seconds", "wording"), [(1, "try again in 1 second"), (2, "try again in 2 seconds")])
def test_the_throttle_says_second_for_one_second(seconds: int, wording: str) -> None:
    assert str(TooManyAttempts(seconds)).endswith(wording)


def test_the_sign_in_page_is_throttled_like_basic_and_shares_its_count(site: Site) -> None:
    address = "10.1.6.1"
    statuses = [sign_in(site.url, "crew", f"guess-{i}", headers=at(address)).status for i in range(FREE_FAILURES + 1)]
    assert statuses == [401] * (FREE_FAILURES + 1)
    blocked = sign_in(site.url, *CREW, headers=at(address))
    assert blocked.status == 429 and int(blocked.header("retry-after")) >= 1 and blocked.header("set-cookie") is None
    assert "too many failed sign-ins" in blocked.text.lower()
    wait = int(blocked.header("retry-after"))
    assert f"try again in {wait} {'second' if wait == 1 else 'seconds'}." in blocked.text
    assert http("GET", site.url + "/api/jobs", headers=at(address, basic(*CREW))).status == 429
    assert sign_in(site.url, *CREW, headers=at("10.1.7.1")).status == 303
    time.sleep(int(blocked.header("retry-after")) + 0.2)
    assert sign_in(site.url, *CREW, headers=at(address)).status == 303


def test_a_56_holder_cannot_make_ten_guesses_from_every_64(site: Site) -> None:
    """Counting per /64 only let one /56 make 256 x 10 guesses."""
    statuses = []
    for block in range(22):
        address = f"2001:db8:77:{block:02x}::1"  # a new /64 inside 2001:db8:77::/56 each time
        statuses.append(http("GET", site.url + "/api/jobs", headers=at(address, basic("crew", "guess"))).status)
    assert statuses == [401] * 21 + [429]
    assert sign_in(site.url, "crew", "guess", headers=at("2001:db8:77:ff::1")).status == 429
    elsewhere = sign_in(site.url, *CREW, headers=at("2001:db8:78::1"))
    assert elsewhere.status == 303


# ---------------------------------------------------------------- X-Forwarded-For from anyone else


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(make_config, instance: Path) -> None:
    """The default with serve_output true trusts no proxy: a fresh X-Forwarded-For per guess does not help."""
    config = make_config()
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
    with running_daemon(instance / "config.yaml") as daemon:
        statuses = [
            http("GET", daemon.url + "/api/jobs", headers=at(f"10.9.{i}.1", basic("crew", "guess"))).status
            for i in range(FREE_FAILURES + 1)
        ]
        blocked = http("GET", daemon.url + "/api/jobs", headers=at("10.9.200.1", basic(*CREW)))
        assert statuses == [401] * (FREE_FAILURES + 1) and blocked.status == 429
        assert sign_in(daemon.url, *CREW, headers=at("10.9.200.2")).status == 429
        time.sleep(int(blocked.header("retry-after")) + 0.2)
        spoofed = sign_in(daemon.url, *CREW, headers=at("10.9.201.1", {"X-Forwarded-Proto": "https"}))
        assert spoofed.status == 303 and "Secure" not in spoofed.header("set-cookie")
        assert ' 127.0.0.1 - "GET /api/jobs" 401' in daemon.log()


# ---------------------------------------------------------------- a phone in Chromium


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_phone_signs_in_on_the_page_lands_on_the_form_and_signs_out(site: Site, browser, javascript: bool) -> None:
    job = db.create_job(site.conn, "Signed-in phone")
    context = browser.new_context(java_script_enabled=javascript, **PHONE)
    try:
        page = context.new_page()
        page.goto(f"{site.url}/upload?job={job.id}")
        assert page.url == f"{site.url}/login?next=%2Fupload%3Fjob%3D{job.id}"
        assert page.locator("h1").inner_text() == "Sign in"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.fill("#username", "nobody")
        page.fill("#password", "wrong-password")
        with page.expect_navigation():
            page.click("button.go")
        assert page.locator("[role=alert]").inner_text() == "Wrong user name or password."
        page.fill("#username", CREW[0])
        page.fill("#password", CREW[1])
        with page.expect_navigation():
            page.click("button.go")
        assert page.url == f"{site.url}/upload?job={job.id}"
        assert page.locator("#job option:checked").inner_text() == "Signed-in phone"
        [jar] = context.cookies()
        assert (jar["name"], jar["httpOnly"], jar["sameSite"], jar["secure"]) == (
            "jobgallery_session",
            True,
            "Lax",
            False,
        )
        assert jar["expires"] > time.time() + 29 * DAY
        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()
        assert page.url == f"{site.url}/login" and context.cookies() == []
    finally:
        context.close()
