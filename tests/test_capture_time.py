"""Capture times: every form and place devices write them, their offset, the order they give and the page text."""

from __future__ import annotations

import dataclasses
import io
import re
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import photos
import pytest
from daemon_support import FilePart, basic, running_daemon, upload
from generator_support import FIXED_TIME
from maintenance_support import run_cli
from PIL import Image, PngImagePlugin

from generator.build import build_site
from jobgallery import capture_time, db, ingest, storage, users
from jobgallery.maintenance import archive_format
from jobgallery.maintenance.archive import archive_path

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME, ORIGINAL, DIGITIZED = 0x0132, 0x9003, 0x9004
OFFSET, OFFSET_ORIGINAL, OFFSET_DIGITIZED = 0x9010, 0x9011, 0x9012
SUBSEC_ORIGINAL = 0x9291
GPS_TIME, GPS_DATE = 0x0007, 0x001D


def exif_of(ifd0: dict | None = None, exif: dict | None = None, gps: dict | None = None) -> Image.Exif:
    made = Image.Exif()
    made.update(ifd0 or {})
    if exif:
        made.get_ifd(EXIF_IFD).update(exif)
    if gps:
        made.get_ifd(GPS_IFD).update(gps)
    return made


def jpeg(seed: int = 0, xmp: bytes | None = None, **ifds) -> bytes:
    out = io.BytesIO()
    options = {"xmp": xmp} if xmp else {}
    photos.photo(160, 120, seed).save(out, "JPEG", exif=exif_of(**ifds), **options)
    return out.getvalue()


def xmp(body: str) -> bytes:
    """An XMP packet as Photoshop and phones write it, ``body`` inside its rdf:Description."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
        ' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/"'
        f' xmlns:xmp="http://ns.adobe.com/xap/1.0/" {body}</rdf:Description></rdf:RDF></x:xmpmeta>'
        '<?xpacket end="w"?>'
    ).encode()


def png(
    seed: int = 0,
    exif: Image.Exif | None = None,
    xmp_packet: bytes | None = None,
    zip_xmp: bool = True,
    created: str | None = None,
) -> bytes:
    info = PngImagePlugin.PngInfo()
    if created is not None:
        info.add_text("Creation Time", created)
    if xmp_packet is not None:
        info.add_itxt("XML:com.adobe.xmp", xmp_packet.decode(), zip=zip_xmp)
    out = io.BytesIO()
    options = {"exif": exif.tobytes()} if exif is not None else {}
    photos.photo(160, 120, seed).save(out, "PNG", pnginfo=info, **options)
    return out.getvalue()


def other_format(fmt: str, seed: int = 0, **options) -> bytes:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    out = io.BytesIO()
    photos.photo(160, 120, seed).save(out, fmt, **options)
    return out.getvalue()


def stored_time(config, conn, tmp_path: Path, data: bytes, name: str = "photo") -> tuple[str | None, str | None]:
    """Ingest ``data`` as a real upload would be and return the row's (taken_at, taken_offset)."""
    job = db.create_job(conn, "Capture times")
    path = tmp_path / name
    path.write_bytes(data)
    image = ingest.ingest_path(config, conn, job.id, path).image
    return image.taken_at, image.taken_offset


# Each case: the file, then the exact taken_at and offset that must be stored.
FORMS = {
    "colons": (lambda: jpeg(exif={ORIGINAL: "2024:03:05 08:10:00"}), "2024-03-05T08:10:00", None),
    "dashes": (lambda: jpeg(exif={ORIGINAL: "2024-03-05 07:10:00"}), "2024-03-05T07:10:00", None),
    "T separator": (lambda: jpeg(exif={ORIGINAL: "2024-03-05T07:10:00"}), "2024-03-05T07:10:00", None),
    "trailing Z": (lambda: jpeg(exif={ORIGINAL: "2024:03:05 07:10:00Z"}), "2024-03-05T07:10:00", "+00:00"),
    "NUL padding": (lambda: jpeg(exif={ORIGINAL: "2024:03:05 07:10:00\0\0\0\0"}), "2024-03-05T07:10:00", None),
    "undefined-type bytes": (lambda: jpeg(exif={ORIGINAL: b"2024:03:05 07:10:00\0"}), "2024-03-05T07:10:00", None),
    "garbage bytes are unknown": (lambda: jpeg(exif={ORIGINAL: b"\xff\xfe\x00garbage"}), None, None),
    "slashes, one-digit hour": (lambda: jpeg(exif={ORIGINAL: "2024/03/05 7:10:00"}), "2024-03-05T07:10:00", None),
    "sub-seconds and offset": (
        lambda: jpeg(exif={ORIGINAL: "2024:03:05 07:10:00", SUBSEC_ORIGINAL: "042", OFFSET_ORIGINAL: "+01:00"}),
        "2024-03-05T07:10:00.042",
        "+01:00",
    ),
    "short sub-seconds, half-hour offset west": (
        lambda: jpeg(exif={ORIGINAL: "2024:03:05 07:10:00", SUBSEC_ORIGINAL: "5 ", OFFSET_ORIGINAL: "-0330"}),
        "2024-03-05T07:10:00.500",
        "-03:30",
    ),
    "blank original falls back to digitized": (
        lambda: jpeg(
            exif={ORIGINAL: "0000:00:00 00:00:00", DIGITIZED: "2024:03:05 07:10:00", OFFSET_DIGITIZED: "+05:45"}
        ),
        "2024-03-05T07:10:00",
        "+05:45",
    ),
    "spaces are unknown": (lambda: jpeg(exif={ORIGINAL: "    :  :     :  :  "}), None, None),
    "impossible date is unknown": (lambda: jpeg(exif={ORIGINAL: "2024:02:30 07:10:00"}), None, None),
    "blank offset is unknown": (
        lambda: jpeg(exif={ORIGINAL: "2024:03:05 07:10:00", OFFSET_ORIGINAL: "   :  "}),
        "2024-03-05T07:10:00",
        None,
    ),
    "offset beyond any zone is unknown": (
        lambda: jpeg(exif={ORIGINAL: "2024:03:05 07:10:00", OFFSET_ORIGINAL: "+23:00"}),
        "2024-03-05T07:10:00",
        None,
    ),
    "IFD0 DateTime with its offset": (
        lambda: jpeg(ifd0={DATETIME: "2024:03:05 07:10:00"}, exif={OFFSET: "+09:00"}),
        "2024-03-05T07:10:00",
        "+09:00",
    ),
    "GPS date and time are UTC": (
        lambda: jpeg(gps={GPS_DATE: "2024:03:05", GPS_TIME: (6.0, 10.0, 30.25)}),
        "2024-03-05T06:10:30.250",
        "+00:00",
    ),
    "camera time wins over GPS": (
        lambda: jpeg(exif={ORIGINAL: "2024:03:05 07:10:00"}, gps={GPS_DATE: "2024:03:05", GPS_TIME: (6.0, 10.0, 0.0)}),
        "2024-03-05T07:10:00",
        None,
    ),
    "XMP photoshop:DateCreated in JPEG APP1": (
        lambda: jpeg(xmp=xmp('photoshop:DateCreated="2024-03-05T07:10:00+01:00">')),
        "2024-03-05T07:10:00",
        "+01:00",
    ),
    "XMP element form with fraction": (
        lambda: jpeg(xmp=xmp("><exif:DateTimeOriginal>2024-03-05T07:10:00.25-07:00</exif:DateTimeOriginal>")),
        "2024-03-05T07:10:00.250",
        "-07:00",
    ),
    "EXIF wall time takes the offset of its XMP copy": (
        lambda: jpeg(
            exif={ORIGINAL: "2024:03:05 07:10:00"}, xmp=xmp('exif:DateTimeOriginal="2024-03-05T07:10:00+02:00">')
        ),
        "2024-03-05T07:10:00",
        "+02:00",
    ),
    "PNG eXIf": (
        lambda: png(exif=exif_of(exif={ORIGINAL: "2024-03-05 07:10:00", OFFSET_ORIGINAL: "+01:00"})),
        "2024-03-05T07:10:00",
        "+01:00",
    ),
    "PNG compressed iTXt XMP": (
        lambda: png(xmp_packet=xmp('photoshop:DateCreated="2024-03-05T07:10:00Z">')),
        "2024-03-05T07:10:00",
        "+00:00",
    ),
    "PNG plain iTXt XMP": (
        lambda: png(xmp_packet=xmp('xmp:CreateDate="2024-03-05T07:10">'), zip_xmp=False),
        "2024-03-05T07:10:00",
        None,
    ),
    "PNG Creation Time, RFC 1123": (
        lambda: png(created="Tue, 05 Mar 2024 07:10:00 +0100"),
        "2024-03-05T07:10:00",
        "+01:00",
    ),
    "PNG Creation Time, ISO 8601": (lambda: png(created="2024-03-05T07:10:00"), "2024-03-05T07:10:00", None),
    "PNG Creation Time, free text": (lambda: png(created="last Tuesday"), None, None),
    "WebP XMP": (
        lambda: other_format("WEBP", xmp=xmp('photoshop:DateCreated="2024-03-05T07:10:00+01:00">')),
        "2024-03-05T07:10:00",
        "+01:00",
    ),
    "HEIC EXIF": (
        lambda: other_format("HEIF", exif=exif_of(exif={ORIGINAL: "2024:03:05 07:10:00", OFFSET_ORIGINAL: "+01:00"})),
        "2024-03-05T07:10:00",
        "+01:00",
    ),
    "HEIC XMP": (
        lambda: other_format("HEIF", xmp=xmp('exif:DateTimeOriginal="2024-03-05T07:10:00-05:00">')),
        "2024-03-05T07:10:00",
        "-05:00",
    ),
}


@pytest.mark.parametrize("case", list(FORMS))
def test_each_form_of_capture_time_is_stored_exactly(config, conn, tmp_path: Path, case: str) -> None:
    make, taken_at, offset = FORMS[case]
    assert stored_time(config, conn, tmp_path, make()) == (taken_at, offset)


def test_xmp_larger_than_the_cap_is_never_inflated_and_the_photo_is_still_stored(config, conn, tmp_path) -> None:
    filler = "<!-- " + "x" * (2 * capture_time.XMP_MAX) + " -->"
    packet = xmp(f'photoshop:DateCreated="2024-03-05T07:10:00Z">{filler}')
    assert len(zlib.compress(packet)) < capture_time.XMP_MAX  # it is small on disk, large inflated
    assert stored_time(config, conn, tmp_path, png(xmp_packet=packet)) == (None, None)


def test_an_xmp_chunk_over_the_cap_is_ignored(config, conn, tmp_path: Path) -> None:
    packet = xmp('photoshop:DateCreated="2024-03-05T07:10:00Z">' + " " * capture_time.XMP_MAX)
    assert stored_time(config, conn, tmp_path, other_format("WEBP", xmp=packet)) == (None, None)


def test_xmp_entities_are_not_expanded(config, conn, tmp_path: Path) -> None:
    packet = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY d "2024-03-05T07:10:00Z">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description photoshop:DateCreated="&d;"/></x:xmpmeta>'
    )
    assert stored_time(config, conn, tmp_path, jpeg(xmp=packet)) == (None, None)


# ---------------------------------------------------------------- order


def add(conn, job: db.Job, number: int, taken_at: str | None, offset: str | None) -> db.Image:
    return db.insert_image(
        conn,
        job_id=job.id,
        filename=f"img_{number}.jpg",
        sha256=f"{number:064x}",
        byte_size=1,
        width=1,
        height=1,
        taken_at=taken_at,
        taken_offset=offset,
        timestamp=FIXED_TIME,
    )


def test_photos_sort_by_the_instant_across_offsets(conn) -> None:
    job = db.create_job(conn, "Travels")
    london = add(conn, job, 1, "2024-03-05T07:30:00", "+00:00")  # 07:30 UTC
    paris = add(conn, job, 2, "2024-03-05T08:00:00", "+01:00")  # 07:00 UTC
    new_york = add(conn, job, 3, "2024-03-05T02:15:00", "-05:00")  # 07:15 UTC
    kathmandu = add(conn, job, 4, "2024-03-05T12:59:59.999", "+05:45")  # 07:14:59.999 UTC
    expected = [paris.id, kathmandu.id, new_york.id, london.id]
    assert [image.id for image in db.list_images(conn, job.id)] == expected
    assert [image.id for image in db.images_by_job(conn, [job.id])[job.id]] == expected


def test_times_without_offset_are_taken_in_the_jobs_usual_offset(conn) -> None:
    job = db.create_job(conn, "Berlin site")
    first = add(conn, job, 1, "2024-03-05T08:00:00", "+01:00")  # 07:00 UTC
    later = add(conn, job, 2, "2024-03-05T08:10:00", "+01:00")  # 07:10 UTC
    camera = add(conn, job, 3, "2024-03-05T08:05:00", None)  # an old camera beside the phones
    utc = add(conn, job, 4, "2024-03-05T07:07:00", "+00:00")  # 07:07 UTC
    unknown = add(conn, job, 5, None, None)  # upload time, 2024-06-01
    order = [first.id, camera.id, utc.id, later.id, unknown.id]
    assert [image.id for image in db.list_images(conn, job.id)] == order


def test_without_any_offset_wall_times_compare_as_they_are(conn) -> None:
    job = db.create_job(conn, "Old camera")
    late = add(conn, job, 1, "2024-03-05T10:00:00", None)
    early = add(conn, job, 2, "2024-03-05T09:00:00.500", None)
    never = add(conn, job, 3, None, None)
    assert [image.id for image in db.list_images(conn, job.id)] == [early.id, late.id, never.id]


def test_times_at_the_ends_of_the_calendar_still_sort(config, conn, tmp_path: Path) -> None:
    first = jpeg(1, exif={ORIGINAL: "0001:01:01 00:00:00", OFFSET_ORIGINAL: "+01:00"})
    last = jpeg(2, exif={ORIGINAL: "9999:12:31 23:59:59", OFFSET_ORIGINAL: "-05:00"})
    assert stored_time(config, conn, tmp_path, first) == ("0001-01-01T00:00:00", "+01:00")
    job = db.create_job(conn, "Calendar")
    add(conn, job, 1, "9999-12-31T23:59:59", "-05:00")
    add(conn, job, 2, "0001-01-01T00:00:00", "+01:00")
    add(conn, job, 3, "2024-03-05T07:10:00", None)
    assert [image.taken_at[:4] for image in db.list_images(conn, job.id)] == ["0001", "2024", "9999"]
    assert stored_time(config, conn, tmp_path, last, "last") == ("9999-12-31T23:59:59", "-05:00")


def test_rows_from_before_the_migration_keep_their_order_and_have_no_offset(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    for statement in db.split_statements(";".join(db.MIGRATIONS[:2])):
        old.execute(statement)
    old.execute("INSERT INTO job (id, title, slug, token, created_at) VALUES (1, 'Old', 'old', 't', '2020')")
    for number, taken in ((1, "2021-05-01T10:00:00"), (2, "2021-05-01T09:00:00")):
        old.execute(
            "INSERT INTO job_image (id, job_id, filename, timestamp, sha256, byte_size, width, height, taken_at)"
            " VALUES (?, 1, ?, '2021-06-01T00:00:00+00:00', ?, 1, 1, 1, ?)",
            (number, f"img_{number}.jpg", str(number), taken),
        )
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()
    with db.open_db(path) as conn:
        images = db.list_images(conn, 1)
    assert [(image.id, image.taken_at, image.taken_offset) for image in images] == [
        (2, "2021-05-01T09:00:00", None),
        (1, "2021-05-01T10:00:00", None),
    ]


# ---------------------------------------------------------------- the issue's recipe, through the daemon


CREW = ("crew", "crew-password-1")


def test_a_dashed_date_is_kept_and_sorts_before_a_later_photo(tmp_path: Path, make_config) -> None:
    config = make_config()
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        job = db.create_job(conn, "Recipe")
    later = FilePart("later.jpg", jpeg(1, exif={ORIGINAL: "2024:03:05 08:10:00"}), content_type="image/jpeg")
    dashed = FilePart("dashed.jpg", jpeg(2, exif={ORIGINAL: "2024-03-05 07:10:00"}), content_type="image/jpeg")
    with running_daemon(config.source) as daemon:
        for part in (later, dashed):
            assert upload(f"{daemon.url}/api/jobs/{job.id}/images", [part], basic(*CREW)).status == 201
    with db.open_db(config.db_path) as conn:
        rows = db.list_images(conn, job.id)
    assert [row.taken_at for row in rows] == ["2024-03-05T07:10:00", "2024-03-05T08:10:00"]
    assert build_site(config).ok
    page = (config.paths.output / job.gallery_path() / "index.html").read_text(encoding="utf-8")
    assert times_on(page) == [
        ("2024-03-05T07:10:00", "taken 2024-03-05 07:10"),
        ("2024-03-05T08:10:00", "taken 2024-03-05 08:10"),
    ]


# ---------------------------------------------------------------- what pages show


def times_on(page: str) -> list[tuple[str, str]]:
    """Each photo's time as its caption shows it (day headings carry a ``<time>`` of the date alone)."""
    return re.findall(r'<time datetime="([^"]*T[^"]*)">([^<]*)</time>', page)


def test_pages_show_the_local_time_with_its_zone_and_uploads_in_utc(config, conn) -> None:
    job = db.create_job(conn, "Zones")
    add(conn, job, 1, "2024-03-05T07:10:00", "+01:00")
    add(conn, job, 2, "2024-03-05T07:20:00.042", "+00:00")
    add(conn, job, 3, "2024-03-05T02:30:00", "-05:30")
    add(conn, job, 4, None, None)
    add(conn, job, 5, "2024-03-05T09:00:00", None)
    for number in range(1, 6):
        storage.atomic_write(
            storage.job_folder(config.paths.data, job.id) / f"img_{number}.jpg", photos.jpeg_bytes(64, 48, seed=number)
        )
    assert build_site(config).ok
    page = (config.paths.output / job.gallery_path() / "index.html").read_text(encoding="utf-8")
    assert times_on(page) == [
        ("2024-03-05T07:10:00+01:00", "taken 2024-03-05 07:10 (UTC+01:00)"),
        ("2024-03-05T07:20:00.042+00:00", "taken 2024-03-05 07:20 (UTC)"),
        ("2024-03-05T02:30:00-05:30", "taken 2024-03-05 02:30 (UTC-05:30)"),
        ("2024-03-05T09:00:00", "taken 2024-03-05 09:00"),
        ("2024-06-01T08:00:00+00:00", "uploaded 2024-06-01 08:00 (UTC)"),
    ]
    assert 'alt="Photo taken 2024-03-05 07:10 (UTC+01:00)"' in page


# ---------------------------------------------------------------- archive and restore


def test_the_offset_survives_archive_and_restore_and_a_bad_one_is_refused(config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Archived")
    for seed, offset in enumerate(("+01:00", "-05:30")):
        path = tmp_path / f"{seed}.jpg"
        path.write_bytes(jpeg(seed, exif={ORIGINAL: "2024:03:05 07:10:00", OFFSET_ORIGINAL: offset}))
        ingest.ingest_path(config, conn, job.id, path)
    rows = db.list_images(conn, job.id)
    masters = [storage.master_path(config.paths.data, job.id, row.filename) for row in rows]
    bad = tmp_path / "bad.tar"
    with open(bad, "wb") as handle:
        wrong = [dataclasses.replace(rows[0], taken_offset="+99:00"), *rows[1:]]
        archive_format.write_archive(handle, db.get_job(conn, job.id), wrong, masters, FIXED_TIME, lambda: None)
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    assert [(row.taken_at, row.taken_offset) for row in rows] == [
        ("2024-03-05T07:10:00", "+01:00"),  # 06:10 UTC
        ("2024-03-05T07:10:00", "-05:30"),  # 12:40 UTC
    ]
    refused = run_cli(config, "restore", str(bad))
    assert refused.returncode == 1 and "capture time offset" in refused.stderr
    assert db.list_images(conn, job.id) == rows and db.get_job(conn, job.id).archived

    restored = run_cli(config, "restore", str(archive_path(config, job.id)))
    assert restored.returncode == 0, restored.stderr
    assert db.list_images(conn, job.id) == rows


def test_an_upload_time_at_the_calendars_edge_sorts_without_overflowing() -> None:
    """A row from elsewhere (an old backup) must never make the build fail for every job."""
    for stamp in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"):
        moment = capture_time.utc_instant(None, None, stamp, timedelta(0))
        assert moment == datetime.fromisoformat(stamp).replace(tzinfo=None)
