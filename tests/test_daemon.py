"""The upload daemon over real HTTP: every route and status of the contract, bad input, limits, auth.

One ``jobgallery serve`` subprocess serves the whole module (starting one
costs about a second); each test makes its own job so tests stay apart.
Requests meant to fail sign-in carry their own X-Forwarded-For address, so
the per-address throttle they trip never slows the other tests down.
"""

from __future__ import annotations

import io
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import photos
import pytest
import yaml
from conftest import nest
from daemon_support import Daemon, FilePart, basic, http, running_daemon, stored_files, upload
from ingest_support import HTML, SVG, png_header
from PIL import Image

from jobgallery import db, storage, users
from jobgallery.config import Config, load_config

ADMIN = ("boss", "boss-password-1")
CREW = ("crew", "crew-password-1")
LIMIT_MB = 2


@dataclass
class Site:
    daemon: Daemon
    config: Config
    conn: object

    @property
    def url(self) -> str:
        return self.daemon.url

    def job(self, title: str = "Roof, 12 Elm St") -> db.Job:
        return db.create_job(self.conn, title)

    def images(self, job: db.Job) -> list[db.Image]:
        return db.list_images(self.conn, job.id)

    def files(self, job: db.Job) -> list[str]:
        folder = storage.job_folder(self.config.paths.data, job.id)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def nothing_stored(self, job: db.Job) -> bool:
        return self.images(job) == [] and self.files(job) == []


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    folder = tmp_path_factory.mktemp("daemon")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(nest({"server.max_upload_mb": LIMIT_MB})), encoding="utf-8")
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


def images_url(site: Site, job: db.Job) -> str:
    return f"{site.url}/api/jobs/{job.id}/images"


# ---------------------------------------------------------------- health, auth, roles


def test_healthz_needs_no_sign_in(site: Site) -> None:
    reply = http("GET", site.url + "/healthz")
    assert reply.status == 200 and reply.json() == {"status": "ok"}


PROTECTED = [
    ("GET", "/upload"),
    ("POST", "/upload"),
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


def test_repeated_failures_from_one_address_are_slowed_down(site: Site) -> None:
    users.add_user(site.conn, "late", "late-password-1", admin=False)
    address = "10.0.3.3"
    wrong = from_address(address, basic("crew", "not-it"))
    statuses = [http("GET", site.url + "/api/jobs", headers=wrong).status for _ in range(6)]
    assert statuses == [401] * 6
    refused = http("GET", site.url + "/api/jobs", headers=from_address(address, basic("late", "late-password-1")))
    assert refused.status == 429 and int(refused.header("retry-after")) >= 1
    error_of(refused)
    other = http("GET", site.url + "/api/jobs", headers=from_address("10.0.3.4", basic("late", "late-password-1")))
    assert other.status == 200
    time.sleep(int(refused.header("retry-after")) + 0.2)
    again = http("GET", site.url + "/api/jobs", headers=from_address(address, basic("late", "late-password-1")))
    assert again.status == 200


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


def test_the_upload_pages_create_job_form_redirects_browsers_back_to_the_form(site: Site) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html", **admin()}
    reply = http("POST", site.url + "/api/jobs", b"title=Fence%20%E2%80%93%20north", headers)
    assert reply.status == 303
    job_id = int(re.search(r"job=(\d+)", reply.header("location")).group(1))
    assert db.get_job(site.conn, job_id).title == "Fence – north"


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


@pytest.mark.parametrize(("field", "filename"), [(b"caf\xe9", b"photo.jpg"), (b"cafe", b"caf\xe9.jpg")])
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


def test_a_body_over_the_limit_gets_413_before_it_is_sent(site: Site) -> None:
    job = site.job()
    auth = admin()["Authorization"]
    head = (
        f"POST /api/jobs/{job.id}/images HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {(LIMIT_MB + 1) * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", site.daemon.port), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = read_until_closed(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"application/json" in headers.lower()
    assert b'"error"' in body and f"{LIMIT_MB} MiB".encode() in body
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


def test_browsers_get_readable_pages_for_results_and_errors(site: Site) -> None:
    job = site.job()
    html = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}
    name = "<img src=x onerror=alert(1)>.jpg"
    stored = upload(images_url(site, job), [FilePart(name, photos.jpeg_bytes(seed=14))], {**crew(), **html})
    assert stored.status == 201 and stored.header("content-type").startswith("text/html")
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in stored.text and "<img" not in stored.text
    assert len(re.findall(r"<li>", stored.text)) == 1
    refused = upload(images_url(site, job), [FilePart("x.svg", SVG)], {**crew(), **html})
    assert refused.status == 415 and refused.header("content-type").startswith("text/html")
    assert "<h1>" in refused.text and "{" not in refused.text.split("<body>")[1]


# ---------------------------------------------------------------- the form


def test_upload_form_fits_a_phone_and_posts_without_javascript(site: Site) -> None:
    site.job("<b>Bold</b> & co")
    reply = http("GET", site.url + "/upload", headers=crew())
    page = reply.text
    assert reply.status == 200 and reply.header("content-type").startswith("text/html")
    assert 'name="viewport" content="width=device-width' in page
    assert re.search(r'<form id="upload-form"[^>]*method="post"[^>]*action="/upload"[^>]*multipart/form-data', page)
    assert re.search(r'<input id="photos" type="file" name="image" accept="image/\*" multiple>', page)
    assert 'capture="environment"' in page and '<select id="job" name="job_id"' in page
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in page
    assert all(f'for="{name}"' in page for name in ("job", "photos", "camera", "description", "tags"))
    assert "Create another job" not in page


def test_admins_see_the_create_job_field(site: Site) -> None:
    page = http("GET", site.url + "/upload", headers=admin()).text
    assert 'action="/api/jobs"' in page and 'name="title"' in page


def test_the_forms_assets_are_served_and_versioned(site: Site) -> None:
    page = http("GET", site.url + "/upload", headers=crew()).text
    css = re.search(r'href="(/upload/static/upload\.css\?v=\w+)"', page).group(1)
    js = re.search(r'src="(/upload/static/upload\.js\?v=\w+)"', page).group(1)
    for url, kind in ((css, "text/css"), (js, "javascript")):
        reply = http("GET", site.url + url, headers=crew())
        assert reply.status == 200 and kind in reply.header("content-type")
        assert "immutable" in reply.header("cache-control")
    assert http("GET", site.url + "/upload/static/base.html", headers=crew()).status == 404


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
