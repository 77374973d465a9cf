"""The photo report: made by the real CLI and build, parsed back with pypdf, its QR code read by zxing."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import cli_command, require_binary
from maintenance_support import add_photos, job_with_photos, run_cli
from PIL import Image
from pypdf import PdfReader

from jobgallery import db


@pytest.fixture
def site(make_config, conn):
    config = make_config(gallery__site_url="https://photos.example.com/")
    job = job_with_photos(config, conn, count=3, title="Roof, 12 Elm St")
    for n, image in enumerate(db.list_images(conn, job.id)):
        conn.execute(
            "UPDATE job_image SET description = ?, tags = ? WHERE id = ?",
            (f"Ridge cap {n} ✓ Łódź", "roof,before", image.id),
        )
    return config, job


def report(config, tmp_path, *args: str) -> PdfReader:
    target = tmp_path / "report.pdf"
    result = run_cli(config, "report", *args, "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout
    return PdfReader(target)


def text_of(pdf: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in pdf.pages)


def test_a_report_has_a_cover_each_photo_and_its_words(site, tmp_path):
    config, job = site
    pdf = report(config, tmp_path, str(job.id), "--per-page", "2")
    assert len(pdf.pages) == 1 + 2
    cover = pdf.pages[0].extract_text()
    assert "Roof, 12 Elm St" in cover and "3 photos" in cover and "Job galleries" in cover
    text = text_of(pdf)
    for n in range(3):
        assert f"Ridge cap {n} ✓ Łódź" in text and f"#{n + 1} ·" in text
    assert "Tags: roof, before" in text and "page 3 of 3" in text
    assert sum(len(page.images) for page in pdf.pages) == 3
    assert pdf.metadata.title == "Roof, 12 Elm St"


def test_locations_only_on_request(site, tmp_path):
    config, job = site
    plain = text_of(report(config, tmp_path, str(job.id)))
    assert "52.5" not in plain and "Location" not in plain
    located = tmp_path / "located.pdf"
    assert run_cli(config, "report", str(job.id), "--with-location", "-o", str(located)).returncode == 0
    assert "Location: 52.500000, 13.400000" in text_of(PdfReader(located))
    assert located.stat().st_mode & 0o077 == 0


def test_the_same_job_gives_the_same_bytes(site, tmp_path):
    config, job = site
    first, second = tmp_path / "1.pdf", tmp_path / "2.pdf"
    for target in (first, second):
        assert run_cli(config, "report", str(job.id), "-o", str(target)).returncode == 0
    assert first.read_bytes() == second.read_bytes()


def published(config, job) -> list:
    folder = config.paths.output / job.gallery_path()
    return sorted(folder.glob("*-report-*.pdf"))


def test_the_published_report_is_rebuilt_only_when_the_job_changes(site, conn):
    config, job = site
    assert run_cli(config, "build").returncode == 0
    [first] = published(config, job)
    data, stamp = first.read_bytes(), first.stat().st_mtime_ns
    assert run_cli(config, "build", "--full").returncode == 0
    [again] = published(config, job)
    assert again == first and again.read_bytes() == data
    assert run_cli(config, "build").returncode == 0
    assert first.stat().st_mtime_ns >= stamp
    text = text_of(PdfReader(first))
    assert "52.5" not in text and "Location" not in text
    add_photos(config, conn, job.id, 1, seed=40)
    assert run_cli(config, "build", "--job", str(job.id)).returncode == 0
    [changed] = published(config, job)
    assert changed != first and len(PdfReader(changed).pages) == 1 + 2
    page = (config.paths.output / job.gallery_path() / "index.html").read_text()
    assert f'href="{changed.name}"' in page


def test_big_jobs_end_with_an_index(make_config, conn, tmp_path):
    config = make_config()
    job = job_with_photos(config, conn, count=51, size=(64, 48))
    pdf = report(config, tmp_path, str(job.id), "--per-page", "6")
    assert len(pdf.pages) == 1 + 9 + 2
    last = pdf.pages[-1].extract_text()
    assert "Index of photos" in pdf.pages[-2].extract_text() and "#51" in last and "page 10" in last


def test_the_cover_code_leads_to_the_page(site, tmp_path):
    pdftoppm = require_binary("pdftoppm")
    import zxingcpp

    config, job = site
    report(config, tmp_path, str(job.id))
    subprocess.run(
        [pdftoppm, "-r", "100", "-png", "-f", "1", "-l", "1", str(tmp_path / "report.pdf"), str(tmp_path / "cover")],
        check=True,
    )
    [png] = tmp_path.glob("cover*.png")
    [code] = zxingcpp.read_barcodes(Image.open(png))
    assert code.text == f"https://photos.example.com/{job.gallery_path()}"


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--per-page", "3"], 2, "1, 2, 4 or 6"),
        (["--per-page", "two"], 2, "1, 2, 4 or 6"),
        (["-o", "."], 2, "is a folder"),
    ],
)
def test_bad_arguments_are_refused(site, args, status, message):
    config, job = site
    result = run_cli(config, "report", str(job.id), *args)
    assert result.returncode == status and message in result.stderr


def test_unknown_and_archived_jobs_have_no_report(site, tmp_path):
    config, job = site
    assert run_cli(config, "report", "999", "-o", str(tmp_path / "x.pdf")).returncode == 1
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    result = run_cli(config, "report", str(job.id), "-o", str(tmp_path / "x.pdf"))
    assert result.returncode == 1 and "archived" in result.stderr
    assert not (tmp_path / "x.pdf").exists()


def test_the_default_file_is_named_by_the_slug(site, tmp_path):
    config, job = site
    result = subprocess.run(
        [*cli_command(), "--config", str(config.source), "report", str(job.id)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "roof-12-elm-st.pdf").read_bytes().startswith(b"%PDF")
    assert re.match(r"wrote roof-12-elm-st\.pdf: 3 photos", result.stdout)


def test_the_logo_setting_puts_a_logo_on_the_cover(make_config, conn, tmp_path, instance):
    logo = instance / "logo.png"
    Image.new("RGB", (300, 100), "navy").save(logo)
    config = make_config(gallery__report_logo="logo.png")
    job = job_with_photos(config, conn, count=1)
    pdf = report(config, tmp_path, str(job.id))
    assert len(pdf.pages[0].images) == 1 and len(pdf.pages[1].images) == 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"gallery__report_logo": "missing.png"}, "not a file"),
        ({"gallery__report_per_page": 3}, "1, 2, 4 or 6"),
        ({"gallery__site_url": "javascript:alert(1)"}, "site_url"),
        ({"gallery__site_url": "https://"}, "site_url"),
        ({"gallery__share_days": -1}, "share_days"),
    ],
)
def test_bad_report_and_share_settings_stop_every_command(make_config, settings, message, instance):
    with pytest.raises(Exception) as refused:
        make_config(**settings)
    assert message in str(refused.value)


def words_in_bounds(pdf_path) -> list[tuple[float, float, float, float, str]]:
    """Every word's box (x min, y min, x max, y max from the top, in points) as pdftotext -bbox sees it."""
    result = subprocess.run(
        [require_binary("pdftotext"), "-bbox", str(pdf_path), "-"], capture_output=True, text=True, check=True
    )
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    return [(*map(float, found[:4]), found[4]) for found in re.findall(pattern, result.stdout)]


def body_text(pdf: PdfReader) -> str:
    """The text drawn above the footers, in drawing order, without whitespace or appendix headings."""
    pieces: list[str] = []
    for page in pdf.pages:
        page.extract_text(visitor_text=lambda text, cm, tm, *_: pieces.append(text) if tm[5] > 40 else None)
    return re.sub(r"\s+", "", "".join(pieces)).replace("Descriptionsinfull", "")


@pytest.mark.parametrize("per_page", ["1", "6"])
def test_long_words_wrap_inside_the_margins_and_no_description_is_lost(make_config, conn, tmp_path, per_page):
    config = make_config()
    title = "Roof " + "Q" * 190
    job = job_with_photos(config, conn, count=3, title=title)
    unbroken = "W" * 1999
    spaced = " ".join(f"crack{n}" for n in range(400))[:1985] + " END"
    tags = ",".join(f"tag{n}" for n in range(60))
    for image, (description, tag_text) in zip(
        db.list_images(conn, job.id), [(unbroken, ""), (spaced, tags), ("Ridge cap", "roof")], strict=True
    ):
        conn.execute("UPDATE job_image SET description = ?, tags = ? WHERE id = ?", (description, tag_text, image.id))
    target = tmp_path / "long.pdf"
    assert run_cli(config, "report", str(job.id), "--per-page", per_page, "-o", str(target)).returncode == 0
    pdf = PdfReader(target)
    text = body_text(pdf)
    for whole in (unbroken, spaced, "Ridgecap", "Tags:" + tags):
        assert re.sub(r"\s+", "", whole) in text
    assert re.sub(r"\s+", "", title) in re.sub(r"\s+", "", pdf.pages[0].extract_text())
    assert f"page {len(pdf.pages)} of {len(pdf.pages)}" in pdf.pages[-1].extract_text()
    width, height = (float(value) for value in pdf.pages[0].mediabox[2:])
    margin = 15 / 25.4 * 72
    words = words_in_bounds(target)
    assert any(word.startswith("WWWW") for *_, word in words)
    for x_min, y_min, x_max, y_max, word in words:
        assert margin - 1 <= x_min and x_max <= width - margin + 1, word[:40]
        assert margin - 2 <= y_min and y_max <= height - 20, word[:40]
