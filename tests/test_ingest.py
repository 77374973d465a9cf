"""Ingest: validation by content, EXIF, dedupe, atomic storage, concurrency and crashes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import photos
import pytest
from ingest_support import (
    HTML,
    PDF,
    SVG,
    claiming_size,
    cut_with_eoi,
    exif_with_thumbnail,
    job_files,
    noise_jpeg,
    nothing_stored,
    png_header,
    with_app1,
    write,
    zero_png,
    zip_bytes,
)
from PIL import ExifTags, Image, ImageStat

from generator import derivatives
from jobgallery import db, images, ingest, jpeg_scans, storage
from jobgallery.errors import BadImage, EmptyUpload, NotFound, TooLarge, UnsupportedImage, UsageError


@pytest.fixture
def job(conn) -> db.Job:
    return db.create_job(conn, "Roof, 12 Elm St")


def put(config, conn, job, data: bytes, **details) -> ingest.IngestResult:
    return ingest.ingest_stream(config, conn, job.id, io.BytesIO(data), **details)


# ---------------------------------------------------------------- accepted photos and their metadata


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_the_size_as_seen(config, conn, job, orientation: int) -> None:
    data = photos.jpeg_bytes(640, 480, orientation=orientation)
    image = put(config, conn, job, data).image
    turned = orientation >= 5
    assert (image.width, image.height) == ((480, 640) if turned else (640, 480))
    master = storage.master_path(config.paths.data, job.id, image.filename)
    assert master.read_bytes() == data
    assert image.sha256 == hashlib.sha256(data).hexdigest() and image.byte_size == len(data)


@pytest.mark.parametrize(
    ("gps", "location"),
    [((52.520008, 13.404954), "52.520008,13.404954"), ((-33.8688, -70.6693), "-33.868800,-70.669300")],
)
def test_capture_date_and_gps_are_read(config, conn, job, gps, location: str) -> None:
    data = photos.jpeg_bytes(taken="2023:07:14 09:30:05", gps=gps)
    image = put(config, conn, job, data, description="ridge vent", tags="roof, vent").image
    assert image.taken_at == "2023-07-14T09:30:05"
    assert image.location == location
    assert (image.description, image.tags) == ("ridge vent", "roof,vent")


def test_a_photo_without_exif_has_no_date_or_place(config, conn, job) -> None:
    image = put(config, conn, job, photos.jpeg_bytes()).image
    assert (image.taken_at, image.location, image.width, image.height) == (None, None, 640, 480)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_broken_exif_is_not_an_error(config, conn, job) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 9
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "yesterday"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (1.0, 2.0), 3: "E", 4: (200.0, 0.0, 0.0)})
    out = io.BytesIO()
    photos.photo(300, 200).save(out, "JPEG", exif=exif)
    garbage = with_app1(photos.jpeg_bytes(300, 200), b"Exif\0\0MM\x00\x2a\xff\xff\xff\xf0" + bytes(20))
    for data in (out.getvalue(), garbage):
        image = put(config, conn, job, data).image
        assert (image.width, image.height, image.taken_at, image.location) == (300, 200, None, None)


@pytest.mark.parametrize(("fmt", "extension"), [("PNG", "png"), ("WEBP", "webp"), ("HEIF", "heic")])
def test_png_webp_and_heic_are_accepted(config, conn, job, fmt: str, extension: str) -> None:
    data = photos.encoded(fmt, 320, 240)
    image = put(config, conn, job, data).image
    assert image.filename.endswith(f".{extension}")
    assert (image.width, image.height) == (320, 240)
    assert job_files(config, job.id) == [image.filename]


def test_a_multi_picture_jpeg_is_a_jpeg(config, conn, job) -> None:
    out = io.BytesIO()
    photos.photo(400, 300).save(out, "MPO", save_all=True, append_images=[photos.photo(400, 300, seed=1)])
    image = put(config, conn, job, out.getvalue()).image
    assert image.filename.endswith(".jpg") and (image.width, image.height) == (400, 300)


def test_the_content_decides_the_format_not_the_name(config, conn, job, tmp_path: Path) -> None:
    source = write(tmp_path / "IMG_0001.JPG", photos.encoded("PNG"))
    image = ingest.ingest_path(config, conn, job.id, source).image
    assert image.filename.endswith(".png")


def test_generated_file_name(config, conn, job) -> None:
    data = photos.jpeg_bytes()
    before = time.gmtime(time.time() - 1)
    image = put(config, conn, job, data).image
    name, stamp_date, stamp_time, digest = image.filename.split(".")[0].split("_")
    assert name == "img" and digest == hashlib.sha256(data).hexdigest()[:12]
    assert time.strftime("%Y%m%d_%H%M%S", before) <= f"{stamp_date}_{stamp_time}"
    assert image.filename.endswith(".jpg")


def test_each_stored_photo_is_logged_once(config, conn, job, caplog) -> None:
    caplog.set_level(logging.INFO, logger="jobgallery.ingest")
    data = photos.jpeg_bytes()
    image = put(config, conn, job, data).image
    put(config, conn, job, data)
    lines = [r.getMessage() for r in caplog.records if r.name == "jobgallery.ingest" and r.levelno == logging.INFO]
    assert len(lines) == 1 and image.filename in lines[0]


# ---------------------------------------------------------------- refused input changes nothing


def truncated_jpeg() -> bytes:
    data = photos.jpeg_bytes(1600, 1200)
    return data[: len(data) * 3 // 5]


def tiny_jpeg() -> bytes:
    """A 64x48 JPEG of one colour: a few hundred bytes."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(out, "JPEG")
    return out.getvalue()


NOISE = noise_jpeg(2000, 1500)


REFUSED = [
    ("drawing.svg", SVG, UnsupportedImage),
    ("photo.jpg", HTML, UnsupportedImage),
    ("empty.jpg", b"", EmptyUpload),
    ("cut.jpg", truncated_jpeg(), BadImage),
    ("cut-with-eoi.jpg", cut_with_eoi(NOISE, 0.5), BadImage),
    ("claims-10000x10000.jpg", claiming_size(tiny_jpeg(), 10000, 10000), BadImage),
    ("bomb.png", png_header(20000, 20000), BadImage),
    ("big.png", png_header(12000, 10000), BadImage),
    ("anim.gif", photos.encoded("GIF"), UnsupportedImage),
    ("scan.pdf", PDF, UnsupportedImage),
    ("photos.zip", zip_bytes(), UnsupportedImage),
    ("noise.jpg", random.Random(7).randbytes(5000), UnsupportedImage),
    ("header-only.jpg", photos.jpeg_bytes()[:40], BadImage),
    ("cut.webp", photos.encoded("WEBP", 640, 480)[:300], BadImage),
    ("cut.heic", photos.encoded("HEIF", 640, 480)[:600], BadImage),
]


@pytest.mark.parametrize(("name", "data", "error"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_input_raises_and_leaves_no_file_and_no_row(
    config, conn, job, tmp_path: Path, name: str, data: bytes, error
) -> None:
    source = write(tmp_path / "upload" / name, data)
    with pytest.raises(error):
        ingest.ingest_path(config, conn, job.id, source)
    assert nothing_stored(config, conn, job.id)


def test_a_refused_upload_removes_the_job_folder_it_made_but_never_one_in_use(config, conn, job) -> None:
    folder = storage.job_folder(config.paths.data, job.id)
    with pytest.raises(UnsupportedImage):
        put(config, conn, job, HTML)
    assert not folder.exists()
    image = put(config, conn, job, photos.jpeg_bytes()).image
    with pytest.raises(BadImage):
        put(config, conn, job, truncated_jpeg())
    assert job_files(config, job.id) == [image.filename]


def test_pillows_bomb_warning_becomes_an_error(config, conn, job, recwarn) -> None:
    with pytest.raises(BadImage, match="pixels"):
        put(config, conn, job, png_header(12000, 10000))
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_the_pixel_limit_is_a_setting(make_config) -> None:
    config = make_config(images__max_pixels=1_000_000)
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "small")
        with pytest.raises(BadImage, match="1000000"):
            put(config, conn, job, photos.jpeg_bytes(1200, 1000))
        assert put(config, conn, job, photos.jpeg_bytes(1000, 1000)).image.width == 1000
        assert len(job_files(config, job.id)) == 1


# ---------------------------------------------------------------- JPEGs cut short


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_a_jpeg_cut_anywhere_with_its_eoi_put_back_is_refused(config, conn, job, fraction: float) -> None:
    with pytest.raises(BadImage, match="JPEG image is damaged or cut short"):
        put(config, conn, job, cut_with_eoi(NOISE, fraction))
    assert nothing_stored(config, conn, job.id)


def test_a_jpeg_claiming_more_pixels_than_its_scan_holds_is_refused(config, conn, job) -> None:
    tiny = tiny_jpeg()
    assert len(tiny) < 1000
    with pytest.raises(BadImage, match="damaged or cut short"):
        put(config, conn, job, claiming_size(tiny, 10000, 10000))
    assert nothing_stored(config, conn, job.id)
    assert put(config, conn, job, tiny).image.width == 64


def jpeg_of(mode: str, **options) -> bytes:
    out = io.BytesIO()
    photos.photo(801, 603).convert(mode).save(out, "JPEG", **options)
    return out.getvalue()


WHOLE_JPEGS = {
    "restart-every-4-blocks": noise_jpeg(801, 603, restart_marker_blocks=4),
    "restart-every-row": noise_jpeg(801, 603, restart_marker_rows=1),
    "optimized-4:4:4": noise_jpeg(801, 603, optimize=True, subsampling=0),
    "grey": jpeg_of("L"),
    "cmyk": jpeg_of("CMYK"),
    "progressive": jpeg_of("RGB", progressive=True),
    "fill-bytes-before-eoi": NOISE[:-2] + b"\xff\xff\xff\xd9",
    "data-after-eoi": NOISE + b"SEFT trailer" * 20,
}


@pytest.mark.parametrize("name", sorted(WHOLE_JPEGS))
def test_whole_jpegs_of_every_layout_are_accepted(config, conn, job, name: str) -> None:
    image = put(config, conn, job, WHOLE_JPEGS[name]).image
    assert image.filename.endswith(".jpg") and image.width in (801, 2000)


def scan_bytes(entropy: bytes, end: bytes) -> bytes:
    """SOI, a bare SOS segment, then ``entropy`` and ``end``: just what the scan search reads."""
    return b"\xff\xd8" + b"\xff\xda\x00\x08" + bytes(6) + entropy + end


@pytest.mark.parametrize("before_boundary", [0, 1, 2, 5])
def test_markers_are_found_across_read_chunks(before_boundary: int) -> None:
    """Fill bytes (0xFF) before a marker may straddle the search's chunk boundary; the marker is still found."""
    header = len(scan_bytes(b"", b""))
    entropy = b"\x12\xff\x00\xff\xd3" * ((jpeg_scans.SEARCH_CHUNK - before_boundary) // 5)
    entropy += b"\x12" * (jpeg_scans.SEARCH_CHUNK - before_boundary - len(entropy))
    data = scan_bytes(entropy, b"\xff" * 4 + b"\xda\x00\x08" + bytes(6) + b"\x12\xff\xd9")
    assert jpeg_scans.next_marker(io.BytesIO(data), header) == (header + len(entropy) + 3, 0xDA)
    assert jpeg_scans.read_progression(io.BytesIO(data)).scans == 2


# ---------------------------------------------------------------- memory for decoding


def test_a_png_too_large_to_decode_is_refused_before_any_pixel_is_decoded(make_config) -> None:
    """10000x9999 RGBA at 16 bits: under the pixel limit, but 382 MiB as 8-bit RGBA, as much again resized."""
    config = make_config(images__max_decode_mb=256)
    hostile = png_header(10000, 9999, depth=16, colour=6, rows=2)
    expected = "PNG image is too large: decoding and resizing its 10000x9999 pixels would take about 763 MiB of memory"
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "budget")
        with pytest.raises(BadImage, match=f"{expected}, and at most 256 MiB are allowed"):
            put(config, conn, job, hostile)
        assert nothing_stored(config, conn, job.id)


@pytest.mark.parametrize(("progressive", "code"), [(False, 0xC9), (True, 0xCA)], ids=["SOF9", "SOF10"])
def test_an_arithmetic_coded_jpeg_is_refused_before_it_is_stored(config, conn, job, progressive, code) -> None:
    """Pillow cannot decode arithmetic coding in pieces: stored, such a master would fail every build."""
    data = noise_jpeg(320, 240, seed=3, progressive=progressive)
    frame = b"\xff\xc2" if progressive else b"\xff\xc0"
    assert frame in data
    with pytest.raises(BadImage, match="uses arithmetic coding"):
        put(config, conn, job, data.replace(frame, bytes([0xFF, code]), 1))
    assert nothing_stored(config, conn, job.id)


def rgba_png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (200, 80, 40, 128)).save(out, "PNG")
    return out.getvalue()


def palette_png(size: tuple[int, int]) -> bytes:
    """Every pixel the transparent entry of a black palette."""
    image = Image.new("P", size, 3)
    image.putpalette([0, 0, 0] * 4)
    out = io.BytesIO()
    image.save(out, "PNG", transparency=3)
    return out.getvalue()


def keyed_png(mode: str, key: int | tuple[int, int, int]):
    """A maker of PNGs in ``mode`` whose every pixel is the colour key (tRNS)."""

    def make(size: tuple[int, int]) -> bytes:
        out = io.BytesIO()
        Image.new(mode, size, key).save(out, "PNG", transparency=key)
        assert Image.open(io.BytesIO(out.getvalue())).info["transparency"] == key
        return out.getvalue()

    return make


# 1 MiB over (decoded bytes + copies) per pixel: RGBA 4 + 4, P 1 + 8, RGB 4 + 8, L 1 + 8, 16-bit grey 2 + 12.
TRANSPARENT_CASES = [
    ("RGBA", rgba_png, (500, 500), (350, 350)),
    ("P+tRNS", palette_png, (400, 400), (340, 340)),
    ("RGB+tRNS", keyed_png("RGB", (0, 0, 0)), (300, 300), (290, 290)),
    ("L+tRNS", keyed_png("L", 0), (350, 350), (340, 340)),
    ("I;16+tRNS", keyed_png("I;16", 5), (280, 280), (270, 270)),
]
TRANSPARENT_IDS = [case[0] for case in TRANSPARENT_CASES]


@pytest.mark.parametrize(("name", "make", "refused", "accepted"), TRANSPARENT_CASES, ids=TRANSPARENT_IDS)
def test_the_budget_counts_the_copies_a_build_resizes_through(
    make_config, name: str, make, refused: tuple[int, int], accepted: tuple[int, int]
) -> None:
    """1 MiB decodes 500x500 RGBA (0.95 MiB) but not its premultiplied copy too; what is accepted is published."""
    config = make_config(images__max_decode_mb=1)
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "budget")
        with pytest.raises(BadImage, match=r"decoding and resizing .* at most 1 MiB are allowed"):
            put(config, conn, job, make(refused))
        assert nothing_stored(config, conn, job.id)
        stored = put(config, conn, job, make(accepted)).image
    master = storage.job_folder(config.paths.data, job.id) / stored.filename
    display = derivatives.load_display(master, 1024, images.Limits.from_config(config))
    assert display.image.size == accepted and display.image.mode in ("RGB", "L")
    if name != "RGBA":
        assert ImageStat.Stat(display.image).mean == [255] * len(display.image.mode)  # all transparent: on white


def test_a_48_megapixel_png_fits_the_default_budget(config, conn, job) -> None:
    image = put(config, conn, job, zero_png(8000, 6000)).image
    assert (image.width, image.height) == (8000, 6000)


BUDGET_CASES = [("PNG", (600, 500), (500, 500)), ("WEBP", (300, 300), (250, 250)), ("HEIF", (400, 400), (350, 350))]


@pytest.mark.parametrize(("fmt", "refused", "accepted"), BUDGET_CASES, ids=[c[0] for c in BUDGET_CASES])
def test_the_decode_budget_is_a_setting_and_counts_each_decoders_copies(
    make_config, fmt: str, refused: tuple[int, int], accepted: tuple[int, int]
) -> None:
    """1 MiB holds 500x500 RGB once (PNG), 250x250 four times (WebP), 350x350 twice (HEIC)."""
    config = make_config(images__max_decode_mb=1)
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "budget")
        with pytest.raises(BadImage, match="at most 1 MiB are allowed"):
            put(config, conn, job, photos.encoded(fmt, *refused))
        assert nothing_stored(config, conn, job.id)
        assert put(config, conn, job, photos.encoded(fmt, *accepted)).image.width == accepted[0]


def test_a_progressive_jpeg_counts_its_coefficients_while_a_baseline_one_streams(make_config) -> None:
    """libjpeg keeps a progressive 2000x1500 photo's 8.6 MiB of coefficients even at 1/8 scale."""
    config = make_config(images__max_decode_mb=8)
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "progressive")
        with pytest.raises(BadImage, match=r"JPEG image is too large: .* about 9 MiB"):
            put(config, conn, job, jpeg_of_size(2000, 1500, progressive=True))
        assert put(config, conn, job, jpeg_of_size(2000, 1500)).image.width == 2000


def jpeg_of_size(width: int, height: int, **options) -> bytes:
    out = io.BytesIO()
    photos.photo(width, height).save(out, "JPEG", **options)
    return out.getvalue()


def test_big_decodes_wait_for_the_budget_while_jpeg_drafts_go_on(config, tmp_path: Path) -> None:
    png = write(tmp_path / "big.png", zero_png(2000, 2000))  # 15.3 MiB decoded: over the free 8 MiB
    jpeg = write(tmp_path / "photo.jpg", photos.jpeg_bytes(2000, 1500))
    limits = images.Limits(config.images.max_pixels, 20)
    finished: dict[str, float] = {}

    def check(name: str, path: Path) -> None:
        images.inspect(path, limits)
        finished[name] = time.monotonic()

    threads = {name: threading.Thread(target=check, args=(name, path)) for name, path in [("png", png), ("jpeg", jpeg)]}
    with images.DECODES.hold(20 * images.MIB, 20 * images.MIB):
        for thread in threads.values():
            thread.start()
        threads["jpeg"].join(timeout=20)
        time.sleep(0.3)
        assert "jpeg" in finished and "png" not in finished
        released = time.monotonic()
    threads["png"].join(timeout=20)
    assert finished["png"] >= released


def test_an_upload_over_max_bytes_is_refused_while_streaming(config, conn, job) -> None:
    data = photos.jpeg_bytes(1600, 1200)
    with pytest.raises(TooLarge):
        put(config, conn, job, data, max_bytes=len(data) - 1)
    assert nothing_stored(config, conn, job.id)
    assert not put(config, conn, job, data, max_bytes=len(data)).duplicate


def test_unknown_and_archived_jobs_are_not_found(config, conn, job) -> None:
    with pytest.raises(NotFound):
        put(config, conn, db.Job(job.id + 1, "x", "x", "t", "now", None), photos.jpeg_bytes())
    db.set_archived(conn, job.id, db.now_iso())
    with pytest.raises(NotFound, match="archived"):
        put(config, conn, job, photos.jpeg_bytes())
    assert not storage.job_folder(config.paths.data, job.id).exists()


@pytest.mark.parametrize(
    "details",
    [
        {"description": "x" * 2001},
        {"description": "bell\x07"},
        {"tags": ",".join(f"t{i}" for i in range(21))},
        {"tags": "y" * 51},
    ],
    ids=["long-description", "control-character", "too-many-tags", "long-tag"],
)
def test_text_that_does_not_fit_is_refused(config, conn, job, details: dict) -> None:
    with pytest.raises(UsageError):
        put(config, conn, job, photos.jpeg_bytes(), **details)
    assert nothing_stored(config, conn, job.id)


def test_text_at_the_limits_is_kept(config, conn, job) -> None:
    tags = ",".join(f"tag {i:02d} " + "z" * 43 for i in range(20))
    image = put(config, conn, job, photos.jpeg_bytes(), description="line 1\r\nline 2" + "d" * 1985, tags=tags).image
    assert image.description.startswith("line 1\nline 2") and len(image.description) == 1998
    assert len(image.tag_list) == 20


def test_a_failed_row_insert_removes_the_published_file(config, conn, job) -> None:
    conn.execute("CREATE TEMP TRIGGER refuse BEFORE INSERT ON job_image BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(Exception, match="disk full"):
        put(config, conn, job, photos.jpeg_bytes())
    assert not conn.in_transaction
    assert nothing_stored(config, conn, job.id)


# ---------------------------------------------------------------- dedupe


def test_the_same_bytes_twice_store_one_photo(config, conn, job) -> None:
    data = photos.jpeg_bytes(seed=3)
    first = put(config, conn, job, data)
    second = put(config, conn, job, data, description="again")
    assert not first.duplicate and second.duplicate
    assert second.image == first.image
    assert job_files(config, job.id) == [first.image.filename]


def test_dedupe_is_per_job(config, conn, job) -> None:
    other = db.create_job(conn, "Other")
    data = photos.jpeg_bytes(seed=4)
    assert not put(config, conn, job, data).duplicate
    assert not put(config, conn, other, data).duplicate


# ---------------------------------------------------------------- smaller masters


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "HEIF"])
def test_master_max_px_shrinks_the_master_and_keeps_its_exif(make_config, fmt: str) -> None:
    config = make_config(images__master_max_px=400)
    out = io.BytesIO()
    photos.photo(1200, 900).save(out, fmt, exif=photos.make_exif(6, "2024:01:02 03:04:05", (1.5, 2.5)))
    data = out.getvalue()
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "card")
        image = put(config, conn, job, data).image
        assert put(config, conn, job, data).duplicate
    master = storage.master_path(config.paths.data, job.id, image.filename)
    assert image.sha256 == hashlib.sha256(data).hexdigest() and image.byte_size == master.stat().st_size
    with Image.open(master) as stored:
        assert stored.format == fmt and stored.size == (400, 300)
        assert stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    turned = fmt != "HEIF"  # HEIF carries rotation in its container; pillow-heif applies it on decode
    assert (image.width, image.height) == ((300, 400) if turned else (400, 300))
    assert (image.taken_at, image.location) == ("2024-01-02T03:04:05", "1.500000,2.500000")
    assert job_files(config, job.id) == [image.filename]


@pytest.mark.parametrize(("size", "max_px"), [((1200, 900), 600), ((1200, 900), 300), ((1600, 400), 200)])
def test_a_master_max_px_the_jpeg_decoder_reaches_by_itself_is_stored_too(make_config, size, max_px) -> None:
    """At 1/2, 1/4 or 1/8 of the photo the decode alone gives the size: the master is still written whole."""
    config = make_config(images__master_max_px=max_px)
    data = photos.jpeg_bytes(*size)
    with db.open_db(config.db_path) as conn:
        image = put(config, conn, db.create_job(conn, "exact"), data).image
    with Image.open(storage.master_path(config.paths.data, image.job_id, image.filename)) as stored:
        assert max(stored.size) == max_px
        stored.load()


def test_a_shrunk_master_keeps_orientation_but_drops_the_exif_thumbnail(make_config) -> None:
    config = make_config(images__master_max_px=300)
    data = with_app1(photos.jpeg_bytes(900, 600), exif_with_thumbnail(8, photos.jpeg_bytes(60, 40)))
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif().get_ifd(ExifTags.IFD.IFD1)
    with db.open_db(config.db_path) as conn:
        image = put(config, conn, db.create_job(conn, "thumbs"), data).image
    with Image.open(storage.master_path(config.paths.data, image.job_id, image.filename)) as stored:
        assert stored.size == (300, 200)
        assert stored.getexif()[ExifTags.Base.Orientation] == 8
        assert not stored.getexif().get_ifd(ExifTags.IFD.IFD1)
    assert (image.width, image.height) == (200, 300)


def test_small_photos_are_kept_as_uploaded_even_with_master_max_px(make_config) -> None:
    config = make_config(images__master_max_px=1000)
    data = photos.jpeg_bytes(640, 480)
    with db.open_db(config.db_path) as conn:
        image = put(config, conn, db.create_job(conn, "small"), data).image
    assert storage.master_path(config.paths.data, image.job_id, image.filename).read_bytes() == data


# ---------------------------------------------------------------- concurrency


def ingest_in_threads(config, job_id: int, payloads: list[bytes]) -> list[ingest.IngestResult]:
    """One thread and one database connection per payload, all released at the same moment."""
    barrier = threading.Barrier(len(payloads))
    results: list = [None] * len(payloads)

    def run(index: int) -> None:
        with db.open_db(config.db_path) as own:
            barrier.wait(timeout=30)
            results[index] = ingest.ingest_stream(config, own, job_id, io.BytesIO(payloads[index]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(r is not None for r in results), "a thread failed"
    return results


def test_sixteen_threads_store_sixteen_photos(config, conn, job) -> None:
    results = ingest_in_threads(config, job.id, [photos.jpeg_bytes(800, 600, seed=i) for i in range(16)])
    names = {r.image.filename for r in results}
    assert len(names) == 16 and not any(r.duplicate for r in results)
    assert len(db.list_images(conn, job.id)) == 16
    assert job_files(config, job.id) == sorted(names)


def test_the_same_bytes_at_once_store_one_photo(config, conn, job) -> None:
    results = ingest_in_threads(config, job.id, [photos.jpeg_bytes(seed=5)] * 8)
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.image.id for r in results}) == 1
    assert job_files(config, job.id) == [results[0].image.filename]


def outcomes_at_once(config, job_id: int, payloads: list[bytes]) -> list:
    """Ingest every payload in its own thread, all released together; each result or the error it raised."""
    barrier = threading.Barrier(len(payloads))
    outcome: list = [None] * len(payloads)

    def run(index: int) -> None:
        with db.open_db(config.db_path) as own:
            barrier.wait(timeout=30)
            try:
                outcome[index] = ingest.ingest_stream(config, own, job_id, io.BytesIO(payloads[index]))
            except Exception as exc:
                outcome[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcome


def test_refused_and_good_uploads_at_once_into_a_new_job_all_end_right(config, conn) -> None:
    """A refused upload removing the new folder must never make a good one beside it fail."""
    for round_number in range(3):
        job = db.create_job(conn, f"round {round_number}")
        good = [photos.jpeg_bytes(160, 120, seed=100 + 4 * round_number + i) for i in range(4)]
        outcome = outcomes_at_once(config, job.id, good + [HTML] * 4)
        assert all(isinstance(r, ingest.IngestResult) for r in outcome[:4]), outcome
        assert all(isinstance(r, UnsupportedImage) for r in outcome[4:]), outcome
        assert job_files(config, job.id) == sorted(r.image.filename for r in outcome[:4])


def test_an_upload_never_fails_because_refused_ones_remove_the_new_folder(config) -> None:
    """Refused uploads into a new job remove its folder as fast as they come; every upload beside them still stages."""
    folder = storage.job_folder(config.paths.data, 1)
    storage.ensure_dir(folder.parent)
    stop = threading.Event()

    def refused_uploads() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                folder.mkdir()
            ingest.remove_folder_if_empty(folder)
            time.sleep(0.0001)

    churn = threading.Thread(target=refused_uploads)
    churn.start()
    try:
        for _ in range(500):
            ingest.discard(ingest.stage(folder, io.BytesIO(b"photo bytes")).temp)
    finally:
        stop.set()
        churn.join(timeout=10)


# ---------------------------------------------------------------- a crash mid-upload

CHILD = """
import sys
from jobgallery import db, ingest
from jobgallery.config import load_config

config = load_config(sys.argv[1])
with db.open_db(config.db_path) as conn:
    ingest.ingest_stream(config, conn, int(sys.argv[2]), sys.stdin.buffer)
"""


def test_a_process_killed_mid_ingest_leaves_only_a_temp_file(config, conn, job) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(config.source), str(job.id)], stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        # More than one chunk: the child stores the first, then blocks reading the rest we never send.
        data = photos.jpeg_bytes(1600, 1200) + bytes(ingest.CHUNK)
        child.stdin.write(data[: ingest.CHUNK + 1000])
        child.stdin.flush()
        deadline = time.monotonic() + 20
        while not [n for n in job_files(config, job.id) if storage.is_temp(n)] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert child.poll() is None, child.stderr.read().decode()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdin.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    left = job_files(config, job.id)
    assert len(left) == 1 and storage.is_temp(left[0])
    assert db.list_images(conn, job.id) == []
