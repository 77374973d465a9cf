"""``Download all photos``: a real daemon streams a job's zip; every entry is checked against its master."""

from __future__ import annotations

import io
import zipfile
from http.client import HTTPConnection
from pathlib import Path

import photos
import pytest
import yaml
from conftest import nest
from daemon_support import http, running_daemon
from maintenance_support import master, run_cli
from PIL import Image, ImageOps

from jobgallery import clean_copy, db, shares
from jobgallery.config import load_config
from jobgallery.ingest import ingest_path

GPS_IFD, ORIENTATION = 0x8825, 0x0112
SECRET = b"SECRET-NOT-FOR-CUSTOMERS"


def with_segments(jpeg: bytes) -> bytes:
    """A JPEG with an XMP packet and a comment after SOI and a multi-picture style trailer after EOI."""
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><gps>" + SECRET + b"</gps></x:xmpmeta>"
    com = b"owner " + SECRET
    segments = b"".join(
        b"\xff" + bytes([code]) + (len(body) + 2).to_bytes(2, "big") + body for code, body in ((0xE1, xmp), (0xFE, com))
    )
    trailer = photos.jpeg_bytes(64, 48, seed=99, gps=(1.0, 2.0)) + SECRET
    return jpeg[:2] + segments + jpeg[2:] + trailer


def other_format(fmt: str, seed: int) -> bytes:
    exif = photos.make_exif(orientation=6, taken="2024:03:07 09:00:00", gps=(48.85, 2.35))
    out = io.BytesIO()
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    photos.photo(320, 240, seed).save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("downloads")
    (folder / "config.yaml").write_text(yaml.safe_dump(nest({"server.threads": 4})))
    config = load_config(str(folder / "config.yaml"))
    incoming = folder / "incoming"
    incoming.mkdir()
    sources = {
        "a.jpg": with_segments(
            photos.jpeg_bytes(640, 480, seed=1, orientation=6, taken="2024:03:05 07:10:00", gps=(52.5, 13.4))
        ),
        "b.jpg": photos.jpeg_bytes(480, 640, seed=2, orientation=3, taken="2024:03:05 07:10:00", gps=(52.5, 13.4)),
        "c.jpg": photos.jpeg_bytes(400, 300, seed=3, taken="2024:03:06 12:00:00"),
        "d.png": other_format("PNG", 4),
        "e.webp": other_format("WEBP", 5),
        "f.heic": other_format("HEIF", 6),
    }
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Roof, 12 Elm St")
        for name, data in sources.items():
            (incoming / name).write_bytes(data)
            ingest_path(config, conn, job.id, incoming / name, description="north roof / ridge" if name < "c" else "")
        other = db.create_job(conn, "Kitchen")
        ingest_path(config, conn, other.id, incoming / "c.jpg")
        assert run_cli(config, "build").returncode == 0
        with running_daemon(folder / "config.yaml") as daemon:
            yield daemon, config, conn, db.get_job(conn, job.id), db.get_job(conn, other.id)


def zip_url(daemon, job, folder: str | None = None) -> str:
    return f"{daemon.url}/{folder or job.gallery_path()}{clean_copy.zip_name(job.slug)}"


def test_the_job_page_links_to_its_zip_and_report(site):
    _, config, _, job, _ = site
    page = (config.paths.output / job.gallery_path() / "index.html").read_text()
    assert f'href="{clean_copy.zip_name(job.slug)}"' in page
    assert "Download all photos (6 photos," in page and "Report (PDF)" in page


def test_the_zip_has_every_photo_clean_upright_and_named_by_time(site):
    daemon, config, conn, job, _ = site
    reply = http("GET", zip_url(daemon, job))
    assert reply.status == 200 and reply.header("content-type") == "application/zip"
    assert int(reply.header("content-length")) == len(reply.body)
    assert "attachment" in reply.header("content-disposition")
    assert SECRET not in reply.body
    archive = zipfile.ZipFile(io.BytesIO(reply.body))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[:2] == ["2024-03-05 0710 north roof ridge.jpg", "2024-03-05 0710 north roof ridge (2).jpg"]
    assert names[2] == "2024-03-06 1200.jpg"
    assert sorted(name.rsplit(".", 1)[1] for name in names[3:]) == ["heic", "png", "webp"]
    images = db.list_images(conn, job.id)
    assert len(names) == len(images) == 6
    for name, image in zip(names, images, strict=True):
        entry, original = archive.read(name), master(config, image).read_bytes()
        check_entry(name, entry, original)


def check_entry(name: str, entry: bytes, original: bytes) -> None:
    opened = Image.open(io.BytesIO(entry))
    opened.load()
    exif = opened.getexif()
    assert set(exif) <= {ORIENTATION} and not exif.get_ifd(GPS_IFD), name
    assert b"xmpmeta><gps" not in entry
    upright = ImageOps.exif_transpose(opened)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(original)))
    assert upright.size == expected.size, name
    assert upright.convert("RGB").tobytes() == expected.convert("RGB").tobytes(), name
    if name.endswith(".jpg"):
        start = original.index(b"\xff\xda")
        assert entry[entry.index(b"\xff\xda") :] == original[start : original.index(b"\xff\xd9", start) + 2]


def test_a_head_request_tells_the_size_without_the_body(site):
    daemon, _, _, job, _ = site
    head = http("HEAD", zip_url(daemon, job))
    full = http("GET", zip_url(daemon, job))
    assert head.status == 200 and head.body == b""
    assert head.header("content-length") == full.header("content-length")
    assert head.header("accept-ranges") == "none"


@pytest.mark.parametrize(
    "path",
    [
        "jobs/{id}-roof-12-elm-st/other.zip",
        "jobs/{id}-{token}/roof-12-elm-st-photos.zip",
        "jobs/{id}-kitchen/roof-12-elm-st-photos.zip",
        "jobs/999-roof-12-elm-st/roof-12-elm-st-photos.zip",
        "jobs/99999999999999999999999-x/x-photos.zip",
        "jobs/x-roof/roof-photos.zip",
        "s/{zeros}/roof-12-elm-st-photos.zip",
        "s/not-a-token/roof-12-elm-st-photos.zip",
    ],
)
def test_any_other_address_answers_404(site, path):
    daemon, _, _, job, _ = site
    reply = http("GET", f"{daemon.url}/" + path.format(id=job.id, token=job.token, zeros="0" * 32))
    assert reply.status == 404 and b"PK" not in reply.body[:2]


def test_a_share_links_zip_answers_until_it_is_revoked(site):
    daemon, _, conn, job, other = site
    link = shares.create(conn, job.id, None)
    url = f"{daemon.url}/{link.path}{clean_copy.zip_name(job.slug)}"
    reply = http("GET", url)
    assert reply.status == 200 and len(zipfile.ZipFile(io.BytesIO(reply.body)).namelist()) == 6
    assert http("GET", f"{daemon.url}/{link.path}{clean_copy.zip_name(other.slug)}").status == 404
    shares.revoke(conn, link.token)
    assert http("GET", url).status == 404


def test_an_expired_links_zip_answers_404_at_once(site):
    daemon, _, conn, job, _ = site
    link = shares.create(conn, job.id, shares.now_utc().replace(year=2099))
    conn.execute("UPDATE share SET expires_at = ? WHERE token = ?", ("2000-01-01T00:00:00+00:00", link.token))
    assert http("GET", f"{daemon.url}/{link.path}{clean_copy.zip_name(job.slug)}").status == 404


def test_an_expired_links_page_report_and_photos_answer_404_before_any_build(site):
    daemon, config, conn, job, _ = site
    link = shares.create(conn, job.id, shares.now_utc().replace(year=2099))
    assert run_cli(config, "build").returncode == 0
    folder = config.paths.output / link.path
    files = sorted(path.name for path in folder.iterdir())
    assert any(name.endswith(".pdf") for name in files) and any(name.endswith(".jpg") for name in files)
    addresses = [link.path, *(link.path + name for name in files)]
    assert all(http("GET", f"{daemon.url}/{address}").status == 200 for address in addresses)
    conn.execute("UPDATE share SET expires_at = ? WHERE token = ?", ("2000-01-01T00:00:00+00:00", link.token))
    for address in addresses:
        assert http("GET", f"{daemon.url}/{address}").status == 404, address
    assert folder.is_dir()  # still on disk: the answer comes from the link's state, not from a build


def test_a_zip_download_under_way_when_its_link_is_revoked_finishes_and_a_new_one_is_refused(site):
    daemon, _, conn, job, _ = site
    link = shares.create(conn, job.id, None)
    address = f"/{link.path}{clean_copy.zip_name(job.slug)}"
    client = HTTPConnection("127.0.0.1", daemon.port, timeout=30)
    client.request("GET", address)
    reply = client.getresponse()
    assert reply.status == 200
    first = reply.read(1024)
    shares.revoke(conn, link.token)
    body = first + reply.read()
    client.close()
    assert len(body) == int(reply.getheader("content-length"))
    assert len(zipfile.ZipFile(io.BytesIO(body)).namelist()) == 6
    assert http("GET", daemon.url + address).status == 404


def test_a_master_changed_after_planning_is_never_sent_under_the_old_size(site, tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(photos.jpeg_bytes(64, 48, seed=7))
    copy = clean_copy.plan(path)
    path.write_bytes(photos.jpeg_bytes(64, 48, seed=8) + b"longer")
    with pytest.raises(clean_copy.NotCleanable):
        b"".join(copy.chunks())


def test_the_build_stores_each_masters_plan_and_a_changed_master_gets_a_new_one(site):
    _, config, conn, job, _ = site
    images = db.list_images(conn, job.id)
    stored = db.download_plans(conn, [image.id for image in images])
    assert set(stored) == {image.id for image in images}
    first = images[2]
    path = master(config, first)
    plans = clean_copy.plan_images(conn, config.paths.data, [first])
    assert plans.new == [] and plans.copies[0][1].size < path.stat().st_size
    conn.execute(
        "UPDATE download_plan SET plan = ? WHERE image_id = ?", ('{"kind":"JPEG","pieces":[[0,999999999]]}', first.id)
    )
    again = clean_copy.plan_images(conn, config.paths.data, [first])
    assert again.new and again.copies[0][1].size == plans.copies[0][1].size  # a plan that does not fit is remade
    conn.execute("UPDATE download_plan SET identity = '1:2' WHERE image_id = ?", (first.id,))
    assert clean_copy.plan_images(conn, config.paths.data, [first]).new  # the master changed: made anew


@pytest.mark.parametrize(
    "plan", ["not json", "[]", '{"kind":"JPEG","pieces":[[0,-5]]}', '{"kind":"JPEG","pieces":[["a"]]}']
)
def test_a_stored_plan_that_makes_no_sense_is_never_followed(tmp_path, plan):
    path = tmp_path / "photo.jpg"
    path.write_bytes(photos.jpeg_bytes(64, 48, seed=9))
    ident = clean_copy.identity(path.stat())
    copy, fresh = clean_copy.plan_with(path, (clean_copy.stored_identity(ident), plan))
    assert fresh and b"".join(copy.chunks()).startswith(b"\xff\xd8")


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("north roof", "2024-03-05 0710 north roof.jpg"),
        ("../../etc/passwd", "2024-03-05 0710 etc passwd.jpg"),
        ('a:b*c?"d<e>f|g\\h', "2024-03-05 0710 a b c d e f g h.jpg"),
        ("line\nbreak\ttab", "2024-03-05 0710 line break tab.jpg"),
        ("x \u202egpj.exe", "2024-03-05 0710 x gpj.exe.jpg"),
        ("...", "2024-03-05 0710.jpg"),
        ("w" * 200, "2024-03-05 0710 " + "w" * 60 + ".jpg"),
    ],
)
def test_entry_names_stay_in_the_zips_top_folder_and_keep_their_extension(description, expected):
    from daemon.downloads import entry_name

    image = db.Image(
        1,
        1,
        "img.jpg",
        description,
        "2024-06-01T08:00:00+00:00",
        None,
        "",
        "0" * 64,
        1,
        1,
        1,
        "2024-03-05T07:10:00",
        None,
        None,
    )
    copy = clean_copy.CleanCopy(Path("img.jpg"), "JPEG", (), (0, 0, 0))
    assert entry_name(image, copy, set()) == expected
