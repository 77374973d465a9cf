"""What the upload page's offline queue relies on: known hashes, exactly once, the phone's position.

A real daemon on 127.0.0.1 and real JPEGs. The queue asks
``POST /api/jobs/<id>/known`` which of its photos a job already has (by the
SHA-256 of the bytes), sends the rest, and may send one twice (a cut-off
answer, two tabs): the job must still hold each photo once. Photos without
GPS of their own may carry the phone's position in ``geo_*`` fields; it is
stored privately, marked as from the browser, and never reaches ``output/``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import photos
import pytest
import yaml
from conftest import nest
from daemon_support import FilePart, basic, http, phone_photo, running_daemon, upload
from daemon_support import Site as RunningSite
from session_support import cookie, csrf_of, session_token, sign_in, sign_in_page

from jobgallery import db, users
from jobgallery.config import Config, load_config

CREW = ("crew", "crew-password-1")
JSON = {"Content-Type": "application/json"}
BERLIN = ("52.520008", "13.404954")


class Site(RunningSite):
    def known(self, job_id: int, body: object, headers: dict | None = None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return http(
            "POST",
            f"{self.url}/api/jobs/{job_id}/known",
            data,
            {**JSON, **(basic(*CREW) if headers is None else headers)},
        )


def start_site(folder: Path, **settings) -> tuple[Path, Config]:
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(nest({"server.rebuild_delay_seconds": 0.2, **settings})), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
    return config_path, config


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    config_path, config = start_site(tmp_path_factory.mktemp("known"))
    with db.open_db(config.db_path) as conn, running_daemon(config_path) as daemon:
        yield Site(daemon, config, conn)


def jpeg(seed: int, **options) -> FilePart:
    return FilePart(f"IMG_{seed:04}.jpg", photos.jpeg_bytes(320, 240, seed=seed, **options), content_type="image/jpeg")


def sha256(part: FilePart) -> str:
    return hashlib.sha256(part.data).hexdigest()


# ---------------------------------------------------------------- POST /api/jobs/<id>/known


def test_known_answers_the_subset_the_job_stores_in_the_order_asked(site: Site) -> None:
    job = db.create_job(site.conn, "Known")
    other = db.create_job(site.conn, "Other")
    stored, elsewhere, fresh = jpeg(1), jpeg(2), jpeg(3)
    assert upload(f"{site.url}/api/jobs/{job.id}/images", [stored], basic(*CREW)).status == 201
    assert upload(f"{site.url}/api/jobs/{other.id}/images", [elsewhere], basic(*CREW)).status == 201
    asked = [sha256(fresh), sha256(stored).upper(), sha256(elsewhere), sha256(stored)]
    reply = site.known(job.id, {"sha256": asked})
    assert reply.status == 200 and reply.json() == {"known": [sha256(stored)]}
    assert site.known(job.id, {"sha256": []}).json() == {"known": []}


def test_known_works_with_a_session_and_its_csrf_token(site: Site) -> None:
    job = db.create_job(site.conn, "Known by session")
    part = jpeg(4)
    upload(f"{site.url}/api/jobs/{job.id}/images", [part], basic(*CREW))
    session = cookie(session_token(sign_in(site.url, *CREW)))
    token = csrf_of(http("GET", site.url + "/upload", headers=session))
    assert site.known(job.id, {"sha256": [sha256(part)]}, session).status == 403
    reply = site.known(job.id, {"sha256": [sha256(part)]}, {**session, "X-CSRF-Token": token})
    assert reply.status == 200 and reply.json() == {"known": [sha256(part)]}


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'"x"', b"{}", b'{"sha256": "abc"}', b'{"sha256": [1]}', b'{"sha256": [null]}',
     b'{"sha256": ["' + b"a" * 63 + b'"]}', b'{"sha256": ["' + b"g" * 64 + b'"]}',
     b'{"sha256": ["' + b"a" * 65 + b'"]}', b'{"sha256": [" ' + b"a" * 63 + b'"]}',
     json.dumps({"sha256": ["a" * 64] * 501}).encode(), b"[" * 50_000, b"\xff\xfe"],
    ids=["text", "list", "string", "no-key", "not-a-list", "number", "null", "short", "not-hex", "long", "space",
         "501-hashes", "deep", "not-utf8"],
)  # fmt: skip
def test_bad_bodies_are_400_with_a_json_error(site: Site, body: bytes) -> None:
    job = db.create_job(site.conn, "Bad bodies")
    reply = site.known(job.id, body)
    assert reply.status in (400, 413) and set(reply.json()) == {"error"}
    assert "unexpected error" not in site.daemon.log()


def test_five_hundred_hashes_are_fine_and_unknown_or_archived_jobs_are_404(site: Site) -> None:
    job = db.create_job(site.conn, "Many")
    many = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(500)]
    assert site.known(job.id, {"sha256": many}).json() == {"known": []}
    archived = db.create_job(site.conn, "Archived")
    db.set_archived(site.conn, archived.id, db.now_iso())
    for job_id in (archived.id, 999_999):
        reply = site.known(job_id, {"sha256": many[:1]})
        assert reply.status == 404 and reply.json()["error"]
    assert site.known(job.id, {"sha256": many}, {}).status == 401
    text = http("POST", f"{site.url}/api/jobs/{job.id}/known", b"sha256=x", basic(*CREW))
    assert text.status == 400


# ---------------------------------------------------------------- exactly once


def test_two_tabs_sending_the_same_photo_at_once_store_it_once(site: Site) -> None:
    """Resends race: each round sends one photo from two threads released together; one row, one file."""
    job = db.create_job(site.conn, "Two tabs")
    replies = []
    for round_ in range(4):
        part = FilePart(f"tab-{round_}.jpg", phone_photo(round_, 2000, 1500), content_type="image/jpeg")
        start = threading.Barrier(2)
        answers: list = [None, None]

        def send(slot: int, part: FilePart = part, start: threading.Barrier = start, answers: list = answers) -> None:
            start.wait()
            answers[slot] = upload(f"{site.url}/api/jobs/{job.id}/images", [part], basic(*CREW))

        threads = [threading.Thread(target=send, args=(slot,)) for slot in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        replies.append(answers)
        assert sorted(reply.status for reply in answers) == [200, 201]
        [first], [second] = (reply.json()["images"] for reply in answers)
        assert first["id"] == second["id"] and {first["duplicate"], second["duplicate"]} == {True, False}
    rows = db.list_images(site.conn, job.id)
    assert len(rows) == 4 and len({row.sha256 for row in rows}) == 4
    folder = site.config.paths.data / "images" / f"job_{job.id}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(row.filename for row in rows)


# ---------------------------------------------------------------- the phone's position


def geo(latitude: str = BERLIN[0], longitude: str = BERLIN[1], accuracy: str = "12.5") -> list[tuple[str, str]]:
    return [("geo_latitude", latitude), ("geo_longitude", longitude), ("geo_accuracy_m", accuracy)]


def test_a_photo_without_gps_keeps_the_browsers_position_marked_as_such(site: Site) -> None:
    job = db.create_job(site.conn, "Browser position")
    plain, with_gps = jpeg(20), jpeg(21, gps=(48.858370, 2.294481))
    reply = upload(f"{site.url}/api/jobs/{job.id}/images", [plain, with_gps], basic(*CREW), geo())
    assert reply.status == 201
    rows = {row.sha256: row for row in db.list_images(site.conn, job.id)}
    browser, camera = rows[sha256(plain)], rows[sha256(with_gps)]
    assert (browser.location, browser.location_source, browser.location_accuracy_m) == (
        "52.520008,13.404954",
        "browser",
        12.5,
    )
    assert camera.location.startswith("48.85") and camera.location_source == "camera"
    assert camera.location_accuracy_m is None


def test_the_forms_own_post_takes_the_position_too_and_none_reaches_output(site: Site) -> None:
    job = db.create_job(site.conn, "No coordinates published")
    fields = [("job_id", str(job.id)), *geo("-33.856784", "151.215297", "30")]
    assert upload(site.url + "/upload", [jpeg(22)], basic(*CREW), fields).status == 201
    [row] = db.list_images(site.conn, job.id)
    assert (row.location, row.location_source) == ("-33.856784,151.215297", "browser")
    page = site.config.paths.output / job.gallery_path() / "index.html"
    deadline = time.monotonic() + 15
    while (not page.is_file() or "<img" not in page.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    published = [path.read_bytes() for path in site.config.paths.output.rglob("*") if path.is_file()]
    assert published and not any(b"33.85" in data or b"151.21" in data for data in published)


def test_photos_without_any_position_have_no_source(site: Site) -> None:
    job = db.create_job(site.conn, "Nowhere")
    assert upload(f"{site.url}/api/jobs/{job.id}/images", [jpeg(23)], basic(*CREW), geo("", "", "")).status == 201
    [row] = db.list_images(site.conn, job.id)
    assert (row.location, row.location_source, row.location_accuracy_m) == (None, None, None)


@pytest.mark.parametrize(
    "fields",
    [geo("90.1"), geo(longitude="-180.5"), geo(accuracy="-1"), geo(accuracy="30000000"), geo("nan"), geo("inf"),
     geo("1e1"), geo("52,52"), geo(" "), geo(longitude=""), geo("", "", "10"), geo("٥٢"), geo("52.5.1"),
     geo("1" * 40)],
    ids=["lat-range", "lon-range", "negative-accuracy", "accuracy-range", "nan", "inf", "exponent", "comma",
         "blank-lat", "no-lon", "accuracy-alone", "arabic-digits", "two-points", "long"],
)  # fmt: skip
def test_bad_positions_are_400_and_store_nothing(site: Site, fields: list[tuple[str, str]]) -> None:
    job = db.create_job(site.conn, "Bad position")
    reply = upload(f"{site.url}/api/jobs/{job.id}/images", [jpeg(24), jpeg(25)], basic(*CREW), fields)
    assert reply.status == 400 and "geo_" in reply.json()["error"]
    assert db.list_images(site.conn, job.id) == []


def test_with_browser_location_off_the_fields_are_ignored(tmp_path: Path) -> None:
    config_path, config = start_site(tmp_path, **{"upload.browser_location": False})
    with db.open_db(config.db_path) as conn, running_daemon(config_path) as daemon:
        job = db.create_job(conn, "Location off")
        assert upload(f"{daemon.url}/api/jobs/{job.id}/images", [jpeg(26)], basic(*CREW), geo()).status == 201
        [row] = db.list_images(conn, job.id)
        assert (row.location, row.location_source) == (None, None)


@pytest.mark.browser
def test_the_upload_page_may_ask_for_the_phones_position(site: Site, browser) -> None:
    """The Permissions-Policy lets this site's own pages use geolocation (it used to forbid it everywhere)."""
    context = browser.new_context(geolocation={"latitude": 52.52, "longitude": 13.405}, permissions=["geolocation"])
    try:
        page = context.new_page()
        sign_in_page(page, site.url, {"username": CREW[0], "password": CREW[1]})
        position = page.evaluate(
            """() => new Promise((found, failed) => navigator.geolocation.getCurrentPosition(
                   p => found([p.coords.latitude, p.coords.longitude]), e => failed(e.message)))"""
        )
        assert position == [52.52, 13.405]
    finally:
        context.close()
