"""Bulk import: the folder walk, the per-file report, and the real ``jobgallery import`` command."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import photos
import pytest
from conftest import cli_command
from ingest_support import HTML, job_files, write, zero_png
from PIL import Image

from jobgallery import db, importer, ingest, storage
from jobgallery.errors import NotFound, UsageError

BUILD_SUMMARY = re.compile(
    r"build: \d+ photos processed, \d+ skipped, 0 failed; \d+ pages written, \d+ files removed in [\d.]+ s"
)


def jobgallery(config, *args: str) -> subprocess.CompletedProcess:
    """Run the installed console script as a user would."""
    return subprocess.run(
        [*cli_command(), "--config", str(config.source), *args], capture_output=True, text=True, timeout=120
    )


def import_lines(stdout: str) -> list[str]:
    """The import's own lines: the summary of the build it runs after storing photos is checked and dropped."""
    lines = stdout.splitlines()
    assert BUILD_SUMMARY.fullmatch(lines[-1]), stdout
    return lines[:-1]


def card(folder: Path, photos_count: int, first_seed: int = 0) -> list[Path]:
    """A camera card: DCIM/100CANON/IMG_nnnn.JPG plus a PNG screenshot."""
    paths = [
        write(folder / "DCIM" / "100CANON" / f"IMG_{i:04d}.JPG", photos.jpeg_bytes(320, 240, seed=first_seed + i))
        for i in range(photos_count - 1)
    ]
    return [*paths, write(folder / "Screenshot.png", photos.encoded("PNG", seed=first_seed + 500))]


def mixed_card(folder: Path) -> None:
    """Good photos, one copy of a photo, bad files, hidden files and a sidecar."""
    card(folder, 9)
    write(folder / "copy" / "IMG_0000.JPG", (folder / "DCIM" / "100CANON" / "IMG_0000.JPG").read_bytes())
    write(folder / "notes.txt", b"roof is leaking\n")
    write(folder / "index.jpg", HTML)
    write(folder / "DCIM" / "cut.jpg", photos.jpeg_bytes(800, 600)[:3000])
    write(folder / "DCIM" / "100CANON" / "IMG_0001.XMP", b"<x:xmpmeta/>")
    write(folder / ".Trashes" / "old.jpg", photos.jpeg_bytes(seed=90))
    write(folder / "._IMG_0002.JPG", b"\0\5\26\7 AppleDouble")


# ---------------------------------------------------------------- the walk


def test_scan_skips_hidden_files_and_sidecars_and_refuses_what_is_no_file(tmp_path: Path) -> None:
    mixed_card(tmp_path)
    os.mkfifo(tmp_path / "pipe.jpg")
    found = importer.scan(tmp_path)
    assert [found.name(p) for p in found.files] == [
        "Screenshot.png",
        "index.jpg",
        "DCIM/cut.jpg",
        *(f"DCIM/100CANON/IMG_{i:04d}.JPG" for i in range(8)),
        "copy/IMG_0000.JPG",
    ]
    assert found.skipped == [("notes.txt", "a text file"), ("DCIM/100CANON/IMG_0001.XMP", "a sidecar file")]
    assert found.refused == [("pipe.jpg", "not a regular file")]


def test_scan_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        importer.scan(tmp_path / "nowhere")


# ---------------------------------------------------------------- importing, in this process


def run_import(config, conn, job, folder: Path, **details) -> importer.ImportReport:
    calls = []
    found = importer.scan(folder)
    report = importer.import_files(
        config,
        conn,
        job.id,
        found,
        ingest.clean_details(details.get("description"), details.get("tags")),
        lambda: calls.append(1),
    )
    assert len(calls) == len(found.files)
    return report


def test_import_reports_each_file(config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Card")
    mixed_card(tmp_path / "card")
    report = run_import(config, conn, job, tmp_path / "card", description="day 1", tags="roof")
    assert len(report.imported) == 9
    assert report.duplicates == ["copy/IMG_0000.JPG"] or report.duplicates == ["DCIM/100CANON/IMG_0000.JPG"]
    assert sorted(name for name, _ in report.refused) == ["DCIM/cut.jpg", "index.jpg"]
    assert sorted(report.skipped) == [("DCIM/100CANON/IMG_0001.XMP", "a sidecar file"), ("notes.txt", "a text file")]
    rows = db.list_images(conn, job.id)
    assert len(rows) == 9 and {(r.description, r.tags) for r in rows} == {("day 1", "roof")}
    assert job_files(config, job.id) == sorted(r.filename for r in rows)


def test_worker_processes_shrink_masters_too(make_config, tmp_path: Path) -> None:
    config = make_config(images__master_max_px=200)
    card(tmp_path / "card", importer.POOL_MIN_FILES + 2)
    assert importer.worker_count(config, importer.POOL_MIN_FILES + 2) == 2
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Pool")
        report = run_import(config, conn, job, tmp_path / "card")
        rows = db.list_images(conn, job.id)
    assert len(report.imported) == len(rows) == importer.POOL_MIN_FILES + 2 and not report.refused
    for row in rows:
        with Image.open(storage.master_path(config.paths.data, job.id, row.filename)) as master:
            assert max(master.size) == 200 == max(row.width, row.height)
    assert job_files(config, job.id) == sorted(r.filename for r in rows)


def test_an_import_interrupted_half_way_leaves_no_temp_file(config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Ctrl-C")
    card(tmp_path / "card", 5)

    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        importer.import_files(config, conn, job.id, importer.scan(tmp_path / "card"), ingest.Details(), interrupt)
    left = job_files(config, job.id)
    assert len(left) == 1 and not storage.is_temp(left[0])
    assert [r.filename for r in db.list_images(conn, job.id)] == left


def test_a_job_archived_during_an_import_stops_it_cleanly(config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Archived mid-import")
    card(tmp_path / "card", 5)

    def archive() -> None:
        db.set_archived(conn, job.id, db.now_iso())

    with pytest.raises(NotFound, match="archived"):
        importer.import_files(config, conn, job.id, importer.scan(tmp_path / "card"), ingest.Details(), archive)
    left = job_files(config, job.id)
    assert len(left) == 1 and not storage.is_temp(left[0])
    assert [r.filename for r in db.list_images(conn, job.id)] == left


@pytest.mark.parametrize("count", [3, 10], ids=["in-process", "worker-processes"])
def test_an_import_that_stores_nothing_leaves_no_job_folder(config, conn, tmp_path: Path, count: int) -> None:
    job = db.create_job(conn, "Nothing good")
    for i in range(count):
        write(tmp_path / "card" / f"page-{i}.jpg", HTML)
    report = run_import(config, conn, job, tmp_path / "card")
    assert len(report.refused) == count and not report.imported
    assert not storage.job_folder(config.paths.data, job.id).exists()


# ---------------------------------------------------------------- the command


def test_import_command_with_bad_files_prints_the_summary_and_exits_1(config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Card")
    mixed_card(tmp_path / "card")
    result = jobgallery(config, "import", str(tmp_path / "card"), "--job", str(job.id), "--tags", "a,b")
    assert result.returncode == 1, result.stderr
    assert import_lines(result.stdout) == [
        "skipped DCIM/100CANON/IMG_0001.XMP: a sidecar file",
        "skipped notes.txt: a text file",
        "refused DCIM/cut.jpg: the JPEG image is damaged or cut short and cannot be decoded",
        "refused index.jpg: not a supported image: JPEG, PNG, WebP or HEIC expected",
        "imported 9, duplicates 1, refused 2, skipped 2 (not photos)",
    ]
    assert result.stderr == "jobgallery: 2 file(s) refused\n"
    assert {r.tags for r in db.list_images(conn, job.id)} == {"a,b"}


def test_import_command_on_good_photos_exits_0_and_again_finds_duplicates(config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Card")
    card(tmp_path / "card", 4)
    first = jobgallery(config, "import", str(tmp_path / "card"), "--job", str(job.id))
    assert (first.returncode, import_lines(first.stdout), first.stderr) == (
        0,
        ["imported 4, duplicates 0, refused 0"],
        "",
    )
    again = jobgallery(config, "import", str(tmp_path / "card"), "--job", str(job.id))
    assert (again.returncode, again.stdout) == (0, "imported 0, duplicates 4, refused 0\n")
    assert len(db.list_images(conn, job.id)) == 4


def test_import_command_into_an_unknown_job_says_so_in_one_line(config, tmp_path: Path) -> None:
    card(tmp_path / "card", 2)
    result = jobgallery(config, "import", str(tmp_path / "card"), "--job", "99")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "jobgallery: job 99 does not exist\n"


def test_import_command_refuses_a_missing_folder_as_usage(config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Card")
    result = jobgallery(config, "import", str(tmp_path / "nowhere"), "--job", str(job.id))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "is not a folder" in result.stderr


def test_a_description_that_is_not_utf8_is_refused_in_one_line(config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Porch")
    folder = tmp_path / "card"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(photos.jpeg_bytes(seed=41))
    command = [*cli_command(), "--config", str(config.source), "import", str(folder), "--job", str(job.id)]
    result = subprocess.run([*command, "--description", b"caf\xe9"], capture_output=True, text=True)
    assert result.returncode == 2 and "valid Unicode" in result.stderr and "Traceback" not in result.stderr
    assert db.list_images(conn, job.id) == []


# ---------------------------------------------------------------- symbolic links


def linked_card(tmp_path: Path) -> tuple[Path, Path]:
    """A card with one real photo and every kind of symbolic link: to files and folders, in and out of it."""
    elsewhere, folder = tmp_path / "elsewhere", tmp_path / "card"
    write(elsewhere / "secret.jpg", photos.jpeg_bytes(320, 240, seed=71))
    write(elsewhere / "private" / "IMG_0001.JPG", photos.jpeg_bytes(320, 240, seed=72))
    write(folder / "DCIM" / "IMG_0000.JPG", photos.jpeg_bytes(320, 240, seed=70))
    links = {
        "innocent.jpg": elsewhere / "secret.jpg",  # absolute, out of the folder
        "DCIM/relative.jpg": Path("../../elsewhere/secret.jpg"),  # relative, out of the folder
        "DCIM/again.jpg": Path("IMG_0000.JPG"),  # to a photo inside the folder
        "dangling.jpg": elsewhere / "nothing.jpg",
        "loop.jpg": Path("loop.jpg"),
        "DCIM/101PHONE": elsewhere / "private",  # a folder out of the folder
        "inside": Path("DCIM"),  # a folder inside the folder
    }
    for name, target in links.items():
        (folder / name).symlink_to(target)
    return folder, elsewhere


SYMLINK_NAMES = [
    "DCIM/101PHONE",
    "DCIM/again.jpg",
    "DCIM/relative.jpg",
    "dangling.jpg",
    "innocent.jpg",
    "inside",
    "loop.jpg",
]


def test_import_command_refuses_every_symbolic_link_and_reads_nothing_outside(config, conn, tmp_path: Path) -> None:
    """``ln -s /elsewhere/secret.jpg DIR/innocent.jpg`` was imported and published."""
    job = db.create_job(conn, "Card")
    folder, elsewhere = linked_card(tmp_path)
    result = jobgallery(config, "import", str(folder), "--job", str(job.id))
    assert result.returncode == 1, result.stderr
    assert import_lines(result.stdout) == [
        *(f"refused {name}: a symbolic link: not followed" for name in SYMLINK_NAMES),
        f"imported 1, duplicates 0, refused {len(SYMLINK_NAMES)}",
    ]
    assert result.stderr == f"jobgallery: {len(SYMLINK_NAMES)} file(s) refused\n"
    outside = {upload_hash(path) for path in elsewhere.rglob("*.jpg")}
    stored = [row.sha256 for row in db.list_images(conn, job.id)]
    assert stored == [upload_hash(folder / "DCIM" / "IMG_0000.JPG")] and not outside & set(stored)


def test_a_file_swapped_for_a_link_after_the_walk_is_not_followed(config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Card")
    folder, elsewhere = linked_card(tmp_path)
    found = importer.scan(folder)
    photo = folder / "DCIM" / "IMG_0000.JPG"
    photo.unlink()
    photo.symlink_to(elsewhere / "secret.jpg")
    report = importer.import_files(config, conn, job.id, found, ingest.clean_details("", ""))
    assert ("DCIM/IMG_0000.JPG", importer.SYMLINK_REASON) in report.refused
    assert report.imported == [] and db.list_images(conn, job.id) == [] and job_files(config, job.id) == []


def upload_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- what the names say: skipped, not refused


def iphone_card(folder: Path) -> dict[str, str]:
    """A phone's card: Live Photos (a HEIC or JPEG beside its .MOV), edits (.AAE), notes, a PDF, an SVG, sidecars.

    Returns the files that are not photos, each with what the import should call it.
    """
    write(folder / "DCIM" / "100APPLE" / "IMG_0001.HEIC", photos.encoded("HEIF", seed=301))
    write(folder / "DCIM" / "100APPLE" / "IMG_0002.JPG", photos.jpeg_bytes(320, 240, seed=302))
    others = {
        "DCIM/100APPLE/IMG_0001.MOV": (b"\0\0\0\x14ftypqt  ", "a video"),
        "DCIM/100APPLE/IMG_0002.mov": (b"\0\0\0\x14ftypqt  ", "a video"),
        "DCIM/100APPLE/IMG_0003.MP4": (b"\0\0\0\x18ftypmp42", "a video"),
        "DCIM/100APPLE/IMG_0001.AAE": (b"<?xml version='1.0'?><plist/>", "a sidecar file"),
        "DCIM/100APPLE/IMG_0002.xmp": (b"<x:xmpmeta/>", "a sidecar file"),
        "DCIM/100GOPRO/GOPR0001.THM": (photos.jpeg_bytes(160, 120, seed=303), "a sidecar file"),
        "notes.TXT": (b"roof is leaking\n", "a text file"),
        "quote.pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a document"),
        "logo.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "vector graphics"),
        "memo.m4a": (b"\0\0\0\x18ftypM4A ", "a sound recording"),
        "MISC/AUTPRINT.MRK": (b"[HDR]\nGEN REV = 01.00\n", importer.NO_IMAGE_REASON),
        "DCIM/100APPLE/IMG_0004": (b"\0\1\2\3 no image here", importer.NO_IMAGE_REASON),
    }
    for name, (data, _) in others.items():
        write(folder / name, data)
    return {name: kind for name, (_, kind) in others.items()}


def test_an_iphone_card_imports_its_photos_lists_the_rest_as_skipped_and_exits_0(config, conn, tmp_path) -> None:
    job = db.create_job(conn, "Phone")
    others = iphone_card(tmp_path / "card")
    result = jobgallery(config, "import", str(tmp_path / "card"), "--job", str(job.id))
    assert (result.returncode, result.stderr) == (0, "")
    lines = import_lines(result.stdout)
    assert lines == [
        *(f"skipped {name}: {others[name]}" for name in sorted(others)),
        f"imported 2, duplicates 0, refused 0, skipped {len(others)} (not photos)",
    ]
    assert sorted(row.filename.rsplit(".", 1)[1] for row in db.list_images(conn, job.id)) == ["heic", "jpg"]


def photo_named_impostors(folder: Path) -> list[str]:
    """Files named like photos that fail the checks: each must still be refused."""
    impostors = {
        "page.jpg": HTML,
        "drawing.JPEG": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        "notes.heic": b"roof is leaking\n",
        "cut.png": photos.encoded("PNG", seed=311)[:200],
        "cut.JPG": photos.jpeg_bytes(800, 600, seed=312)[:3000],
        "raw.CR2": b"II*\0\x10\0\0\0CR\2\0",
        "movie.webp": b"\0\0\0\x14ftypqt  ",
        "bomb.PNG": zero_png(12_000, 10_000),
    }
    for name, data in impostors.items():
        write(folder / name, data)
    return sorted(impostors)


def test_files_named_like_photos_that_fail_the_checks_are_still_refused_with_exit_1(config, conn, tmp_path) -> None:
    job = db.create_job(conn, "Impostors")
    iphone_card(tmp_path / "card")
    names = photo_named_impostors(tmp_path / "card")
    write(tmp_path / "card" / "DCIM" / "IMG_0009", photos.jpeg_bytes(800, 600, seed=313)[:3000])  # an image, cut
    result = jobgallery(config, "import", str(tmp_path / "card"), "--job", str(job.id))
    assert result.returncode == 1
    refused = [
        line.split(":")[0].removeprefix("refused ")
        for line in result.stdout.splitlines()
        if line.startswith("refused ")
    ]
    assert refused == sorted(["DCIM/IMG_0009", *names])
    assert result.stderr == f"jobgallery: {len(names) + 1} file(s) refused\n"
    assert len(db.list_images(conn, job.id)) == 2


def test_a_file_whose_name_says_nothing_is_imported_when_it_is_a_photo(config, conn, tmp_path) -> None:
    job = db.create_job(conn, "No extension")
    write(tmp_path / "card" / "IMG_0100", photos.jpeg_bytes(320, 240, seed=321))
    write(tmp_path / "card" / "IMG_0101.bin", photos.encoded("PNG", seed=322))
    report = run_import(config, conn, job, tmp_path / "card")
    assert sorted(report.imported) == ["IMG_0100", "IMG_0101.bin"] and not report.skipped and not report.refused
