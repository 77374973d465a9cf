"""The upload daemon over real HTTP: every route and status of the contract, bad input, limits, auth.

One ``jobgallery serve`` subprocess serves the whole module (starting one
costs about a second); each test makes its own job so tests stay apart.
Requests meant to fail sign-in carry their own X-Forwarded-For address, so
the per-address throttle they trip never slows the other tests down.
"""

from __future__ import annotations

import io
import json
import re
import socket
import time
from html.parser import HTMLParser
from pathlib import Path

import photos
import pytest
import yaml
from conftest import nest
from daemon_support import FilePart, Reply, basic, http, running_daemon, stored_files, upload
from daemon_support import Site as RunningSite
from ingest_support import HTML, SVG, png_header
from PIL import Image

from daemon.auth import FREE_FAILURES
from jobgallery import db, storage, users
from jobgallery.config import load_config

ADMIN = ("boss", "boss-password-1")
CREW = ("crew", "crew-password-1")
LIMIT_MB = 2
REPO = Path(__file__).resolve().parent.parent
HTML_ACCEPT = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class Site(RunningSite):
    def job(self, title: str = "Roof, 12 Elm St") -> db.Job:
        return db.create_job(self.conn, title)

    def images(self, job: db.Job) -> list[db.Image]:
        return db.list_images(self.conn, job.id)

    def files(self, job: db.Job) -> list[str]:
        folder = storage.job_folder(self.config.paths.data, job.id)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def nothing_stored(self, job: db.Job) -> bool:
        """No row, no file, and not even the job's folder (a refused upload to a new job makes none)."""
        folder = storage.job_folder(self.config.paths.data, job.id)
        return self.images(job) == [] and self.files(job) == [] and not folder.exists()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    folder = tmp_path_factory.mktemp("daemon")
    config_path = folder / "config.yaml"
    settings = {"server.max_upload_mb": LIMIT_MB, "server.trusted_proxies": "127.0.0.1"}
    config_path.write_text(yaml.safe_dump(nest(settings)), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *ADMIN, admin=True)
        users.add_user(conn, *CREW, admin=False)
        with running_daemon(config_path) as daemon:
            yield Site(daemon, config, conn)


def admin() -> dict[str, str]:
    return basic(*ADMIN)


def crew() -> dict[str, str]:
    return basic(*CREW)


def from_address(address: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {"X-Forwarded-For": address, **(headers or {})}


def jpeg(seed: int = 0, width: int = 320, height: int = 240) -> FilePart:
    return FilePart(f"photo-{seed}.jpg", photos.jpeg_bytes(width, height, seed=seed), content_type="image/jpeg")


def noisy_jpeg(seed: int, size: tuple[int, int] = (500, 380)) -> bytes:
    """A JPEG of about 200 KB: noise does not compress."""
    channels = [Image.effect_noise(size, 60 + seed + i) for i in range(3)]
    out = io.BytesIO()
    Image.merge("RGB", channels).save(out, "JPEG", quality=95)
    return out.getvalue()


def error_of(reply) -> str:
    assert reply.header("content-type").startswith("application/json"), reply.body[:200]
    body = reply.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    return body["error"]


def error_page(reply: Reply) -> str:
    """The heading of an HTML error page (and the page is not JSON in disguise)."""
    assert reply.header("content-type").startswith("text/html"), reply.body[:200]
    assert "{" not in reply.text.split("<body>")[1]
    return re.search(r"<h1>(.*?)</h1>", reply.text).group(1)


def images_url(site: Site, job: db.Job) -> str:
    return f"{site.url}/api/jobs/{job.id}/images"


# ---------------------------------------------------------------- health, auth, roles


def test_healthz_needs_no_sign_in(site: Site) -> None:
    reply = http("GET", site.url + "/healthz")
    assert reply.status == 200 and reply.json() == {"status": "ok"}


PROTECTED = [
    ("GET", "/upload"),
    ("POST", "/upload"),
    ("POST", "/upload/jobs"),
    ("GET", "/api/jobs"),
    ("POST", "/api/jobs"),
    ("POST", "/api/jobs/1/images"),
    ("POST", "/1/add_image"),
    ("DELETE", "/api/images/1"),
]


def test_the_forms_css_needs_no_sign_in_so_the_sign_in_page_is_styled(site: Site) -> None:
    reply = http("GET", site.url + "/upload/static/upload.css")
    assert reply.status == 200 and reply.header("content-type").startswith("text/css")


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_but_healthz_asks_for_basic_auth(site: Site, method: str, path: str) -> None:
    reply = http(method, site.url + path, b"", from_address("10.0.1.1"))
    assert reply.status == 401
    assert reply.header("www-authenticate").startswith('Basic realm="jobgallery"')
    error_of(reply)


@pytest.mark.parametrize(
    "headers",
    [
        basic("crew", "wrong-password"),
        basic("nobody", "crew-password-1"),
        {"Authorization": "Basic !!not-base64!!"},
        {"Authorization": "Bearer abc"},
    ],
    ids=["wrong-password", "unknown-user", "garbage", "other-scheme"],
)
def test_bad_credentials_are_refused_with_401(site: Site, headers: dict) -> None:
    reply = http("GET", site.url + "/api/jobs", headers=from_address("10.0.2.2", headers))
    assert reply.status == 401 and reply.header("www-authenticate")
    error_of(reply)


def test_crew_gets_403_on_admin_routes(site: Site) -> None:
    job = site.job()
    stored = upload(images_url(site, job), [jpeg(1)], crew()).json()["images"][0]
    created = http("POST", site.url + "/api/jobs", b'{"title": "Mine"}', {"Content-Type": "application/json", **crew()})
    deleted = http("DELETE", f"{site.url}/api/images/{stored['id']}", headers=crew())
    assert (created.status, deleted.status) == (403, 403)
    assert error_of(created) and error_of(deleted)
    assert len(site.images(job)) == 1
    assert [j.title for j in db.list_jobs(site.conn)].count("Mine") == 0


def fail_sign_in(site: Site, address: str, times: int) -> list[int]:
    wrong = from_address(address, basic("crew", "not-it"))
    return [http("GET", site.url + "/api/jobs", headers=wrong).status for _ in range(times)]


def test_repeated_failures_from_one_address_are_slowed_down(site: Site) -> None:
    users.add_user(site.conn, "late", "late-password-1", admin=False)
    address = "10.0.3.3"
    assert fail_sign_in(site, address, FREE_FAILURES + 1) == [401] * (FREE_FAILURES + 1)
    refused = http("GET", site.url + "/api/jobs", headers=from_address(address, basic("late", "late-password-1")))
    assert refused.status == 429 and int(refused.header("retry-after")) >= 1
    error_of(refused)
    other = http("GET", site.url + "/api/jobs", headers=from_address("10.0.3.4", basic("late", "late-password-1")))
    assert other.status == 200
    time.sleep(int(refused.header("retry-after")) + 0.2)
    again = http("GET", site.url + "/api/jobs", headers=from_address(address, basic("late", "late-password-1")))
    assert again.status == 200


def test_a_throttled_address_gets_429_whatever_it_sends_even_cached_credentials(site: Site) -> None:
    """Else a guesser could test passwords against the credential cache at full speed: 429 wrong, 200 right."""
    assert http("GET", site.url + "/api/jobs", headers=from_address("10.0.4.1", crew())).status == 200  # cached
    address = "10.0.4.4"
    fail_sign_in(site, address, FREE_FAILURES + 1)
    attempts = [crew(), basic("crew", "guess-1"), basic("crew", "guess-2"), {}, admin()]
    replies = [http("GET", site.url + "/api/jobs", headers=from_address(address, headers)) for headers in attempts]
    assert [reply.status for reply in replies] == [429] * len(attempts)
    assert len({reply.body for reply in replies}) == 1 and {reply.header("www-authenticate") for reply in replies} == {
        None
    }
    time.sleep(max(int(reply.header("retry-after")) for reply in replies) + 0.2)
    assert http("GET", site.url + "/api/jobs", headers=from_address(address, crew())).status == 200


def test_a_right_password_between_guesses_does_not_reset_the_count(site: Site) -> None:
    """Else a crew member could sign in between guesses at the admin's password and never be slowed down."""
    address = "10.0.5.5"
    statuses = []
    for _ in range(FREE_FAILURES + 1):
        statuses.append(http("GET", site.url + "/api/jobs", headers=from_address(address, crew())).status)
        guess = from_address(address, basic(ADMIN[0], "guess"))
        statuses.append(http("GET", site.url + "/api/jobs", headers=guess).status)
    assert statuses == [200, 401] * (FREE_FAILURES + 1)
    assert http("GET", site.url + "/api/jobs", headers=from_address(address, crew())).status == 429


def test_ipv6_clients_are_counted_by_their_64_block(site: Site) -> None:
    """One IPv6 customer may send from any address of its /64: a new address per guess must not help."""
    statuses = [
        http("GET", site.url + "/api/jobs", headers=from_address(f"2001:db8:7:7::{i + 1:x}", basic("crew", "x"))).status
        for i in range(FREE_FAILURES + 1)
    ]
    assert statuses == [401] * (FREE_FAILURES + 1)
    assert http("GET", site.url + "/api/jobs", headers=from_address("2001:db8:7:7::ffff", crew())).status == 429
    assert http("GET", site.url + "/api/jobs", headers=from_address("2001:db8:7:8::1", crew())).status == 200


def test_credentials_checked_once_are_not_checked_again_for_a_while(site: Site) -> None:
    http("GET", site.url + "/api/jobs", headers=crew())
    started = time.monotonic()
    for _ in range(20):
        assert http("GET", site.url + "/api/jobs", headers=crew()).status == 200
    # Twenty scrypt checks would take a second or more; cached ones take milliseconds.
    assert time.monotonic() - started < 1.0


def test_posts_from_other_sites_are_refused(site: Site) -> None:
    headers = {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", **admin()}
    reply = http("POST", site.url + "/api/jobs", b'{"title": "Forged"}', headers)
    assert reply.status == 403
    error_of(reply)
    assert "Forged" not in [j.title for j in db.list_jobs(site.conn)]


OTHER_ORIGINS = {
    "null": "null",
    "other-host": "http://127.0.0.2:{port}",
    "other-port": "http://127.0.0.1:{other_port}",
    "other-name": "http://localhost:{port}",
    "not-an-origin": "127.0.0.1:{port}",
}


@pytest.mark.parametrize("origin", list(OTHER_ORIGINS))
def test_unsafe_requests_whose_origin_is_another_site_are_refused(site: Site, origin: str) -> None:
    """Browsers without Sec-Fetch-Site still send Origin on every POST and DELETE."""
    sent = OTHER_ORIGINS[origin].format(port=site.daemon.port, other_port=site.daemon.port + 1)
    job = site.job()
    stored = upload(images_url(site, job), [jpeg(40)], crew()).json()["images"][0]
    headers = {"Origin": sent, **admin()}
    created = http(
        "POST", site.url + "/api/jobs", b'{"title": "Forged"}', {"Content-Type": "application/json", **headers}
    )
    deleted = http("DELETE", f"{site.url}/api/images/{stored['id']}", headers=headers)
    posted = upload(images_url(site, job), [jpeg(41)], headers)
    same_origin_header = upload(images_url(site, job), [jpeg(42)], {"Sec-Fetch-Site": "same-origin", **headers})
    assert [reply.status for reply in (created, deleted, posted, same_origin_header)] == [403] * 4
    assert all(error_of(reply) for reply in (created, deleted, posted, same_origin_header))
    assert "Forged" not in [j.title for j in db.list_jobs(site.conn)]
    assert [image.id for image in site.images(job)] == [stored["id"]]


def test_unsafe_requests_from_this_site_or_without_origin_pass(site: Site) -> None:
    job = site.job()
    here = {"Origin": site.url, "Sec-Fetch-Site": "same-origin"}
    behind_proxy = {"Origin": "http://127.0.0.1:8443", "Host": "127.0.0.1"}  # Nginx's "Host $host": no port
    default_port = {"Origin": "https://127.0.0.1", "Host": "127.0.0.1:443"}
    for number, headers in enumerate((here, {"Origin": site.url}, behind_proxy, default_port, {})):
        reply = upload(images_url(site, job), [jpeg(50 + number)], {**headers, **crew()})
        assert reply.status == 201, (headers, reply.body)
    assert len(site.images(job)) == 5


# ---------------------------------------------------------------- jobs


def test_list_jobs_newest_first_live_only(site: Site) -> None:
    older, archived, newer = site.job("Older"), site.job("Archived"), site.job("Newer")
    db.set_archived(site.conn, archived.id, db.now_iso())
    upload(images_url(site, newer), [jpeg(2)], crew())
    jobs = http("GET", site.url + "/api/jobs", headers=crew()).json()["jobs"]
    ids = [job["id"] for job in jobs]
    assert archived.id not in ids and ids.index(newer.id) < ids.index(older.id)
    listed = next(job for job in jobs if job["id"] == newer.id)
    assert listed == {"id": newer.id, "title": "Newer", "image_count": 1, "gallery_path": newer.gallery_path(True)}


def test_admin_creates_a_job_with_json(site: Site) -> None:
    headers = {"Content-Type": "application/json", **admin()}
    reply = http("POST", site.url + "/api/jobs", b'{"title": "Gutter, 3 Oak Rd"}', headers)
    assert reply.status == 201
    body = reply.json()
    job = db.get_job(site.conn, body["id"])
    assert body == {"id": job.id, "title": "Gutter, 3 Oak Rd", "gallery_path": job.gallery_path(True)}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{not json", "application/json"), (b'["a list"]', "application/json"), (b"{}", "application/json"),
     (b'{"title": "  "}', "application/json"), (b"title=x", "text/plain")],
    ids=["bad-json", "not-an-object", "no-title", "blank-title", "wrong-type"],
)  # fmt: skip
def test_bad_job_bodies_get_400(site: Site, body: bytes, content_type: str) -> None:
    reply = http("POST", site.url + "/api/jobs", body, {"Content-Type": content_type, **admin()})
    assert reply.status == 400
    error_of(reply)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_the_upload_pages_create_job_form_has_its_own_route_back_to_the_form(site: Site) -> None:
    reply = http("POST", site.url + "/upload/jobs", b"title=Fence%20%E2%80%93%20north", {**FORM, **admin()})
    assert reply.status == 303
    location = re.fullmatch(r"/upload\?job=(\d+)&created=1", reply.header("location"))
    assert db.get_job(site.conn, int(location.group(1))).title == "Fence – north"
    chosen = http("GET", site.url + reply.header("location"), headers=admin()).text
    assert re.search(rf'<option value="{location.group(1)}"[^>]* selected>Fence – north</option>', chosen)


def test_the_create_job_forms_failures_are_pages_for_browsers(site: Site) -> None:
    blank = http("POST", site.url + "/upload/jobs", b"title=%20%20", {**FORM, **HTML_ACCEPT, **admin()})
    assert blank.status == 400 and error_page(blank) == "Please check the form and try again"
    crew_tries = http("POST", site.url + "/upload/jobs", b"title=Mine", {**FORM, **HTML_ACCEPT, **crew()})
    assert crew_tries.status == 403 and error_page(crew_tries) == "Not allowed"
    script = http("POST", site.url + "/upload/jobs", b"title=%20", {**FORM, **admin()})
    assert script.status == 400 and error_of(script)
    assert "Mine" not in [j.title for j in db.list_jobs(site.conn)]


def test_the_api_creates_jobs_from_json_only_and_answers_json_even_to_browsers(site: Site) -> None:
    reply = http("POST", site.url + "/api/jobs", b"title=From%20a%20form", {**FORM, **HTML_ACCEPT, **admin()})
    assert reply.status == 400 and "JSON" in error_of(reply)
    created = http(
        "POST",
        site.url + "/api/jobs",
        b'{"title": "T"}',
        {"Content-Type": "application/json", **HTML_ACCEPT, **admin()},
    )
    assert created.status == 201 and set(created.json()) == {"id", "title", "gallery_path"}
    assert "From a form" not in [j.title for j in db.list_jobs(site.conn)]


# ---------------------------------------------------------------- uploads that work


def test_upload_several_photos_answers_201_with_each_record(site: Site) -> None:
    job = site.job()
    reply = upload(images_url(site, job), [jpeg(3), jpeg(4)], crew(), [("description", "Ridge"), ("tags", "a, b")])
    assert reply.status == 201
    answered = reply.json()["images"]
    rows = site.images(job)
    assert [set(item) for item in answered] == [{"id", "job_id", "filename", "duplicate"}] * 2
    assert sorted(item["id"] for item in answered) == sorted(row.id for row in rows)
    assert all(item["job_id"] == job.id and not item["duplicate"] for item in answered)
    assert all(row.description == "Ridge" and row.tags == "a,b" and row.uploaded_by == "crew" for row in rows)
    assert site.files(job) == sorted(row.filename for row in rows)


def test_the_same_photo_again_is_a_duplicate_with_200(site: Site) -> None:
    job = site.job()
    first = upload(images_url(site, job), [jpeg(5)], crew()).json()["images"][0]
    again = upload(images_url(site, job), [jpeg(5)], admin())
    assert again.status == 200
    assert again.json()["images"] == [{**first, "duplicate": True}]
    assert len(site.images(job)) == 1 and len(site.files(job)) == 1


def test_the_seed_route_answers_success_and_filename(site: Site) -> None:
    job = site.job()
    reply = upload(f"{site.url}/{job.id}/add_image", [jpeg(6)], crew(), [("description", "From the seed form")])
    assert reply.status == 200
    body = reply.json()
    assert set(body) == {"success", "filename"} and body["success"] is True
    assert [(row.filename, row.description) for row in site.images(job)] == [(body["filename"], "From the seed form")]


def test_a_form_with_many_small_fields_is_read(site: Site) -> None:
    job = site.job()
    fields = [(f"note{i}", "x" * 40) for i in range(600)] + [("description", "many fields")]
    reply = upload(images_url(site, job), [jpeg(7)], crew(), fields)
    assert reply.status == 201, reply.body
    assert site.images(job)[0].description == "many fields"


def test_several_small_photos_adding_up_past_bottles_memfile_max(site: Site) -> None:
    """Bottle issue #1470: small parts summing over MEMFILE_MAX used to fail with 'Memory limit reached'."""
    job = site.job()
    files = [FilePart(f"small-{i}.jpg", noisy_jpeg(i)) for i in range(6)]
    assert sum(len(part.data) for part in files) > 1024 * 1024 > 4 * max(len(part.data) for part in files)
    reply = upload(images_url(site, job), files, crew())
    assert reply.status == 201, reply.body
    assert len(site.images(job)) == 6


def test_log_has_one_line_per_request_and_per_stored_photo(site: Site) -> None:
    job = site.job()
    reply = upload(images_url(site, job), [jpeg(8)], crew())
    row = site.images(job)[0]
    log = site.daemon.log()
    assert re.search(rf'127\.0\.0\.1 crew "POST /api/jobs/{job.id}/images" 201 \d+B', log)
    stored = [line for line in log.splitlines() if f"job {job.id}, {row.filename}" in line]
    assert len(stored) == 1 and f"{row.byte_size} bytes" in stored[0] and "by crew" in stored[0]
    assert reply.json()["images"][0]["filename"] == row.filename


def test_a_path_cannot_forge_a_log_line(site: Site) -> None:
    http("GET", site.url + "/nothing%0a2026-01-01%20INFO%20daemon.app:%20photo%20stored:%20forged")
    assert not any(line.startswith("2026-01-01 INFO") for line in site.daemon.log().splitlines())
    assert "/nothing\\x0a2026-01-01" in site.daemon.log()


# ---------------------------------------------------------------- uploads that fail and store nothing


def truncated_jpeg() -> bytes:
    data = photos.jpeg_bytes(640, 480, seed=9)
    return data[: len(data) // 2]


BAD_UPLOADS = {
    "svg": (415, [FilePart("drawing.svg", SVG, content_type="image/svg+xml")]),
    "html-named-jpg": (415, [FilePart("photo.jpg", HTML, content_type="image/jpeg")]),
    "gif": (415, [FilePart("anim.gif", photos.encoded("GIF"), content_type="image/gif")]),
    "zero-bytes": (400, [FilePart("empty.jpg", b"", content_type="image/jpeg")]),
    "truncated-jpeg": (422, [FilePart("cut.jpg", truncated_jpeg(), content_type="image/jpeg")]),
    "huge-png-header": (422, [FilePart("bomb.png", png_header(100_000, 100_000), content_type="image/png")]),
    "missing-file-part": (400, []),
    "empty-file-part": (400, [FilePart("", b"")]),
    "good-then-svg": (415, [FilePart("good.jpg", photos.jpeg_bytes(seed=10)), FilePart("bad.svg", SVG)]),
    "good-then-truncated": (
        422,
        [FilePart("good.jpg", photos.jpeg_bytes(seed=11)), FilePart("cut.jpg", truncated_jpeg())],
    ),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_get_their_status_a_json_error_and_store_nothing(site: Site, case: str) -> None:
    status, files = BAD_UPLOADS[case]
    job = site.job()
    reply = upload(images_url(site, job), files, crew(), [("description", "should not stay")])
    assert reply.status == status
    error_of(reply)
    assert site.nothing_stored(job)


def latin1_body(boundary: str, field: bytes, filename: bytes) -> bytes:
    image = photos.jpeg_bytes(seed=12)
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\n'.encode()
        + field
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: image/jpeg\r\n\r\n'
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )


# A file name in any encoding is fine (tests/test_filenames.py); text the user typed must be UTF-8.
@pytest.mark.parametrize(("field", "filename"), [(b"caf\xe9", b"photo.jpg"), (b"caf\xe9", b"caf\xe9.jpg")])
def test_text_that_is_not_utf8_gets_400_and_stores_nothing(site: Site, field: bytes, filename: bytes) -> None:
    job = site.job()
    headers = {"Content-Type": "multipart/form-data; boundary=XyZ", **crew()}
    for url in (images_url(site, job), f"{site.url}/{job.id}/add_image"):
        reply = http("POST", url, latin1_body("XyZ", field, filename), headers)
        assert reply.status == 400
        assert "UTF-8" in error_of(reply)
    assert site.nothing_stored(job)


def test_bad_upload_through_the_seed_route_stores_nothing(site: Site) -> None:
    job = site.job()
    reply = upload(f"{site.url}/{job.id}/add_image", [FilePart("photo.jpg", HTML)], crew())
    assert reply.status == 415
    error_of(reply)
    assert site.nothing_stored(job)


def test_unknown_and_archived_jobs_are_404(site: Site) -> None:
    archived = site.job("Archived job")
    db.set_archived(site.conn, archived.id, db.now_iso())
    for job_id in (archived.id, 999_999):
        reply = upload(f"{site.url}/api/jobs/{job_id}/images", [jpeg(12)], crew())
        assert reply.status == 404
        error_of(reply)
    assert site.nothing_stored(archived)


def oversized_request(path: str, accept: str = "*/*") -> str:
    """The head of an upload over the limit: waitress refuses it from Content-Length alone."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {admin()['Authorization']}\r\n"
        f"Accept: {accept}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {(LIMIT_MB + 1) * 1024 * 1024}\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("where", "accept", "kind"),
    [("api", "*/*", b"application/json"), ("api", HTML_ACCEPT["Accept"], b"application/json"),
     ("form", "*/*", b"application/json"), ("form", HTML_ACCEPT["Accept"], b"text/html")],
)  # fmt: skip
def test_a_body_over_the_limit_gets_413_before_it_is_sent(site: Site, where: str, accept: str, kind: bytes) -> None:
    job = site.job()
    path = f"/api/jobs/{job.id}/images" if where == "api" else "/upload"
    with socket.create_connection(("127.0.0.1", site.daemon.port), timeout=10) as sock:
        sock.sendall(oversized_request(path, accept).encode())
        answer = read_until_closed(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: " + kind in headers.lower()
    assert f"{LIMIT_MB} MiB".encode() in body
    if kind == b"application/json":
        assert set(json.loads(body)) == {"error"}
    assert site.nothing_stored(job)


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- delete


def test_admin_deletes_a_photo_with_204(site: Site) -> None:
    job = site.job()
    stored = upload(images_url(site, job), [jpeg(13)], crew()).json()["images"][0]
    reply = http("DELETE", f"{site.url}/api/images/{stored['id']}", headers=admin())
    assert reply.status == 204 and reply.body == b""
    assert site.images(job) == []
    again = http("DELETE", f"{site.url}/api/images/{stored['id']}", headers=admin())
    assert again.status == 404
    error_of(again)


# ---------------------------------------------------------------- errors in general


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no/such/page", 404), ("POST", "/no/such/page", 404), ("GET", "/api/jobs/x/images", 404),
     ("DELETE", "/api/jobs", 405), ("PUT", "/api/jobs/1/images", 405), ("GET", "/api/images/1", 405)],
)  # fmt: skip
def test_unknown_routes_and_methods_answer_json(site: Site, method: str, path: str, status: int) -> None:
    reply = http(method, site.url + path, headers=crew())
    assert reply.status == status
    assert "Traceback" not in error_of(reply)


def test_browsers_get_readable_pages_for_results_and_errors_of_the_form(site: Site) -> None:
    job = site.job()
    name = "<img src=x onerror=alert(1)>.jpg"
    fields = [("job_id", str(job.id))]
    stored = upload(
        site.url + "/upload", [FilePart(name, photos.jpeg_bytes(seed=14))], {**crew(), **HTML_ACCEPT}, fields
    )
    assert stored.status == 201 and stored.header("content-type").startswith("text/html")
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in stored.text and "<img" not in stored.text
    assert len(re.findall(r"<li>", stored.text)) == 1
    refused = upload(site.url + "/upload", [FilePart("x.svg", SVG)], {**crew(), **HTML_ACCEPT}, fields)
    assert refused.status == 415 and error_page(refused) == "Not a supported photo"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no/such/page", 404), ("GET", "/upload/static/nothing.css", 404), ("DELETE", "/upload", 405)],
)  # fmt: skip
def test_browser_facing_addresses_answer_browsers_with_pages(site: Site, method: str, path: str, status: int) -> None:
    reply = http(method, site.url + path, headers={**HTML_ACCEPT, **crew()})
    assert reply.status == status
    error_page(reply)
    signed_out = http("POST", site.url + "/upload", b"", headers=HTML_ACCEPT)
    assert signed_out.status == 401 and error_page(signed_out) == "Sign-in needed"
    assert signed_out.header("www-authenticate") is None


def test_the_api_and_the_seed_route_answer_json_even_to_browsers(site: Site) -> None:
    job = site.job()
    browser = {**HTML_ACCEPT, **crew()}
    stored = upload(images_url(site, job), [jpeg(60)], browser)
    assert stored.status == 201 and stored.json()["images"][0]["job_id"] == job.id
    seed = upload(f"{site.url}/{job.id}/add_image", [jpeg(61)], browser)
    assert seed.status == 200 and seed.json()["success"] is True
    errors = [
        upload(images_url(site, job), [FilePart("x.svg", SVG)], browser),
        upload(f"{site.url}/{job.id}/add_image", [FilePart("x.svg", SVG)], browser),
        upload(f"{site.url}/{job.id}/add_image", [], browser),
        http("GET", f"{site.url}/{job.id}/add_image", headers=browser),
        http("GET", site.url + "/api/nothing", headers=browser),
        http("DELETE", site.url + "/api/jobs", headers=browser),
        http("GET", site.url + "/api/jobs", headers=HTML_ACCEPT),
        http("DELETE", site.url + "/api/images/1", headers=browser),
        upload(f"{site.url}/api/jobs/999999/images", [jpeg(62)], browser),
    ]
    assert [reply.status for reply in errors] == [415, 415, 400, 405, 404, 405, 401, 403, 404]
    assert all(error_of(reply) for reply in errors)


# ---------------------------------------------------------------- ids no row can have

BEYOND_SQLITE = str(2**63)
HUGE = "9" * 30
DIGITS_5000 = "1" * 5000


@pytest.mark.parametrize("number", [BEYOND_SQLITE, HUGE, DIGITS_5000, "0", "000"])
def test_ids_no_row_can_have_are_404_in_every_route(site: Site, number: str) -> None:
    """SQLite ids are 1 to 2**63-1; a longer number must not reach it (OverflowError) or int() (ValueError)."""
    job = site.job()
    replies = [
        upload(f"{site.url}/api/jobs/{number}/images", [jpeg(70)], crew()),
        upload(f"{site.url}/{number}/add_image", [jpeg(71)], crew()),
        http("DELETE", f"{site.url}/api/images/{number}", headers=admin()),
        upload(site.url + "/upload", [jpeg(72)], crew(), [("job_id", number)]),
    ]
    assert [reply.status for reply in replies] == [404] * 4
    assert all(error_of(reply) for reply in replies)
    assert "unexpected error" not in site.daemon.log()
    assert site.nothing_stored(job)


def test_the_largest_sqlite_id_is_looked_up_and_not_found(site: Site) -> None:
    largest = str(2**63 - 1)
    assert upload(f"{site.url}/api/jobs/{largest}/images", [jpeg(73)], crew()).status == 404
    assert http("DELETE", f"{site.url}/api/images/{largest}", headers=admin()).status == 404
    job = site.job()
    assert upload(f"{site.url}/api/jobs/{job.id:020d}/images", [jpeg(74)], crew()).status == 201
    assert upload(f"{site.url}/api/jobs/{'0' * 5000}{job.id}/images", [jpeg(77)], crew()).status == 201


@pytest.mark.parametrize("value", ["", "abc", "-1", "1.5", "²", "١٢", "12 3"])
def test_a_job_id_field_that_is_not_a_number_is_400(site: Site, value: str) -> None:
    reply = upload(site.url + "/upload", [jpeg(75)], crew(), [("job_id", value)])
    assert reply.status == 400 and error_of(reply) == "choose the job the photos belong to"


@pytest.mark.parametrize("path", ["/api/jobs/-1/images", "/api/jobs/%D9%A1%D9%A2/images", "/%C2%B2/add_image"])
def test_ids_in_paths_that_are_not_ascii_digits_match_no_route(site: Site, path: str) -> None:
    reply = upload(site.url + path, [jpeg(76)], crew())
    assert reply.status == 404
    error_of(reply)


@pytest.mark.parametrize("number", [DIGITS_5000, HUGE, "%C2%B2", "x"])
def test_the_form_ignores_a_job_in_its_address_that_names_nothing(site: Site, number: str) -> None:
    """``/upload?job=`` only preselects a job; like an id of no live job, one that cannot exist selects none."""
    site.job()
    reply = http("GET", f"{site.url}/upload?job={number}", headers=crew())
    assert reply.status == 200 and " selected>" not in reply.text


# ---------------------------------------------------------------- security headers, as Nginx sends them


def nginx_security_headers() -> dict[str, str]:
    """``add_header NAME "VALUE" always;`` lines of the shipped snippet."""
    text = (REPO / "nginx" / "jobgallery-headers.conf").read_text()
    found = re.findall(r'^add_header\s+(\S+)\s+"([^"]*)"\s+always;\s*$', text, re.MULTILINE)
    assert len(found) == len([line for line in text.splitlines() if line.startswith("add_header")]) >= 5
    return dict(found)


def assert_security_headers(reply: Reply) -> None:
    for name, value in nginx_security_headers().items():
        assert reply.header_values(name) == [value], (name, reply.status, reply.header_list)


def wait_for_site_index(site: Site) -> Path:
    index = site.config.paths.output / "index.html"
    deadline = time.monotonic() + 10
    while not index.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    return index


def unchanged_index(site: Site) -> tuple[Reply, Reply]:
    """The index and a conditional GET of it that answers 304, once the rebuilds asked for above are done."""
    deadline = time.monotonic() + 15
    while True:
        index = http("GET", site.url + "/")
        again = http("GET", site.url + "/", headers={"If-Modified-Since": index.header("last-modified")})
        if again.status == 304 or time.monotonic() > deadline:
            return index, again
        time.sleep(0.2)


def test_every_kind_of_answer_carries_the_same_security_headers_as_nginx(site: Site) -> None:
    job = site.job()
    wait_for_site_index(site)
    css = next((site.config.paths.output / "static").glob("*.css")).name
    replies = [
        http("GET", site.url + "/healthz"),
        http("GET", site.url + "/upload", headers=crew()),
        http("GET", site.url + "/upload/static/upload.css"),
        http("GET", site.url + "/api/jobs", headers=crew()),
        upload(images_url(site, job), [jpeg(80)], crew()),
        http("DELETE", f"{site.url}/api/images/{HUGE}", headers=admin()),
        http("GET", site.url + "/api/jobs"),
        http("GET", site.url + "/no/such/page", headers=HTML_ACCEPT),
        http("DELETE", site.url + "/api/jobs", headers=crew()),
        http("POST", site.url + "/upload/jobs", b"title=New", {**FORM, **admin()}),
        http("GET", f"{site.url}/static/{css}"),
        *unchanged_index(site),
    ]
    assert [reply.status for reply in replies] == [200, 200, 200, 200, 201, 404, 401, 404, 405, 303, 200, 200, 304]
    for reply in replies:
        assert_security_headers(reply)


def test_the_servers_own_413_carries_the_security_headers_too(site: Site) -> None:
    head = oversized_request(images_url(site, site.job()).removeprefix(site.url), HTML_ACCEPT["Accept"])
    with socket.create_connection(("127.0.0.1", site.daemon.port), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = read_until_closed(sock).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413")
    lines = answer.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    sent = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
    assert_security_headers(Reply(413, dict(sent), b"", sent))


# ---------------------------------------------------------------- the form


def test_upload_form_fits_a_phone_and_posts_without_javascript(site: Site) -> None:
    site.job("<b>Bold</b> & co")
    reply = http("GET", site.url + "/upload", headers=crew())
    page = reply.text
    assert reply.status == 200 and reply.header("content-type").startswith("text/html")
    assert 'name="viewport" content="width=device-width' in page
    assert re.search(r'<form id="upload-form"[^>]*method="post"[^>]*action="/upload"[^>]*multipart/form-data', page)
    assert 'capture="environment"' in page and '<select id="job" name="job_id"' in page
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in page
    assert all(f'for="{name}"' in page for name in ("job", "photos", "camera", "description", "tags"))
    assert "Create another job" not in page


class Inputs(HTMLParser):
    """Every <input>'s attributes, in page order."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "input":
            self.found.append(dict(attrs))


def test_every_image_file_input_takes_several_photos(site: Site) -> None:
    """The contract: the file input named image has multiple and accept="image/*"; the camera's too."""
    site.job()
    parser = Inputs()
    parser.feed(http("GET", site.url + "/upload", headers=crew()).text)
    files = [attrs for attrs in parser.found if attrs.get("type") == "file" and attrs.get("name") == "image"]
    assert [attrs["id"] for attrs in files] == ["photos", "camera"]
    assert all("multiple" in attrs and attrs.get("accept") == "image/*" for attrs in files)


def test_admins_see_the_create_job_field(site: Site) -> None:
    page = http("GET", site.url + "/upload", headers=admin()).text
    assert re.search(r'<form class="new-job" method="post" action="/upload/jobs">', page) and 'name="title"' in page


def test_the_forms_assets_are_served_and_versioned(site: Site) -> None:
    page = http("GET", site.url + "/upload", headers=crew()).text
    css = re.search(r'href="(/upload/static/upload\.css\?v=\w+)"', page).group(1)
    js = re.search(r'src="(/upload/static/upload/form\.js\?v=\w+)"', page).group(1)
    for url, kind in ((css, "text/css"), (js, "javascript")):
        reply = http("GET", site.url + url, headers=crew())
        assert reply.status == 200 and kind in reply.header("content-type")
        assert "immutable" in reply.header("cache-control")
    outside = [
        "base.html",
        "upload/../../upload.html",
        "upload/%2e%2e/%2e%2e/upload.html",
        "..%2fupload.html",
        "upload/icons/",
        "vendor/js-sha256/../../../../daemon/app.py",
        "upload/sw.js%00.png",
        "/etc/passwd",
    ]
    for name in outside:
        assert http("GET", f"{site.url}/upload/static/{name}", headers=crew()).status == 404, name


def test_the_forms_own_post_uploads_to_the_chosen_job(site: Site) -> None:
    job = site.job()
    reply = upload(site.url + "/upload", [jpeg(15), FilePart("", b"")], crew(), [("job_id", str(job.id))])
    assert reply.status == 201
    assert len(site.images(job)) == 1
    missing = upload(site.url + "/upload", [jpeg(16)], crew())
    assert missing.status == 400
    error_of(missing)


# ---------------------------------------------------------------- rebuilds


def job_page(site: Site, job: db.Job) -> Path:
    return site.config.paths.output / job.gallery_path(site.config.gallery.public_index) / "index.html"


def wait_for_photos(site: Site, job: db.Job, count: int, seconds: float) -> float:
    """Seconds until the job's page shows ``count`` photos; fails after ``seconds``."""
    started = time.monotonic()
    page = job_page(site, job)
    while time.monotonic() - started < seconds:
        if page.is_file() and page.read_text(encoding="utf-8").count("<img ") == count:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{page} did not show {count} photos within {seconds} s:\n{site.daemon.log()[-3000:]}")


def wait_for_log(site: Site, text: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while text not in site.daemon.log():
        assert time.monotonic() < deadline, f"{text!r} not logged within {seconds} s"
        time.sleep(0.1)


def test_a_burst_of_uploads_shows_on_the_job_page_within_10_s_after_one_rebuild(site: Site) -> None:
    job = site.job("Burst")
    for seed in range(20, 25):
        assert upload(images_url(site, job), [jpeg(seed, 160, 120)], crew()).status == 201
    wait_for_photos(site, job, 5, 10)
    wait_for_log(site, f"rebuild-{job.id}: done", 10)
    assert site.daemon.log().count(f"rebuild-{job.id}: started") == 1


def test_a_phone_paced_burst_gets_the_first_photos_rebuild_and_one_for_the_rest(site: Site) -> None:
    """Six photos 0.7 s apart, as a phone sends them: two rebuilds (the first photo's, the burst's), not six."""
    job = site.job("Phone-paced")
    for seed in range(40, 46):
        assert upload(images_url(site, job), [jpeg(seed, 160, 120)], crew()).status == 201
        time.sleep(0.7)
    wait_for_photos(site, job, 6, 10)
    deadline = time.monotonic() + 10
    while (log := site.daemon.log()).count(f"rebuild-{job.id}: started") != log.count(f"rebuild-{job.id}: done"):
        assert time.monotonic() < deadline, log[-3000:]
        time.sleep(0.1)
    assert log.count(f"rebuild-{job.id}: started") == 2, log[-3000:]


def test_a_deleted_photo_leaves_the_job_page(site: Site) -> None:
    job = site.job("Delete me")
    ids = [item["id"] for item in upload(images_url(site, job), [jpeg(30), jpeg(31)], crew()).json()["images"]]
    wait_for_photos(site, job, 2, 10)
    assert http("DELETE", f"{site.url}/api/images/{ids[0]}", headers=admin()).status == 204
    wait_for_photos(site, job, 1, 10)


# ---------------------------------------------------------------- output/ in dev mode


def test_dev_mode_serves_output_with_the_right_types_and_caching(site: Site) -> None:
    output = site.config.paths.output
    deadline = time.monotonic() + 10
    while not (output / "index.html").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    index = http("GET", site.url + "/")
    assert index.status == 200 and index.header("content-type") == "text/html; charset=utf-8"
    assert index.header("cache-control") == "no-cache"
    asset = next((output / "static").glob("*.css"))
    css = http("GET", f"{site.url}/static/{asset.name}")
    assert css.status == 200 and css.header("content-type").startswith("text/css")
    assert "immutable" in css.header("cache-control") and css.body == asset.read_bytes()
    head = http("HEAD", f"{site.url}/static/{asset.name}")
    assert head.status == 200 and head.body == b"" and int(head.header("content-length")) == asset.stat().st_size


def test_dev_mode_never_serves_dotfiles_or_anything_outside_output(site: Site) -> None:
    output = site.config.paths.output
    output.mkdir(parents=True, exist_ok=True)
    (output / ".secret").write_text("hidden")
    (output / "linked").mkdir(exist_ok=True)
    link = output / "linked" / "config.yaml"
    if not link.exists():
        link.symlink_to(site.config.source)
    for path in ("/.secret", "/../config.yaml", "/%2e%2e/config.yaml", "/static/..%2f..%2fconfig.yaml",
                 "/linked/config.yaml"):  # fmt: skip
        reply = http("GET", site.url + path)
        assert reply.status == 404, path
        error_of(reply)


def test_dev_mode_redirects_a_folder_to_its_slash(site: Site) -> None:
    folder = site.config.paths.output / "jobs" / "redirect-check"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text("<!doctype html><title>x</title>")
    reply = http("GET", site.url + "/jobs/redirect-check")
    assert reply.status == 301 and reply.header("location") == "/jobs/redirect-check/"
    assert http("GET", site.url + "/jobs/redirect-check/").status == 200


def test_no_temp_files_are_left_anywhere_under_data(site: Site) -> None:
    leftovers = [name for name in stored_files(site.config.paths.data) if storage.TEMP_PREFIX in name]
    assert leftovers == []
