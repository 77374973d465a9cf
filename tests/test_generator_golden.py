"""Golden test: a sample site from the photos in tests/samples/ against the HTML in tests/golden/.

A change to a template, the CSS/JS (their hashed names) or the derivative
pipeline shows up here as a reviewable diff. After checking that a change is
intended, regenerate the expected files with::

    UPDATE_GOLDEN=1 pytest tests/test_generator_golden.py

and commit tests/golden/ with the change.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from generator_support import add_photo

from generator.build import build_site
from generator.manifest import MANIFEST_NAME
from jobgallery import db

HERE = Path(__file__).parent
SAMPLES = HERE / "samples"
GOLDEN = HERE / "golden"
LISTING = "files.txt"

# job title -> photos as (sample file, description, tags, capture time)
SITE = {
    "Roof, 12 Elm St": [
        ("roof-east.jpg", "East slope: flashing lifted near the valley", "roof,flashing", "2024-05-02T09:15:00"),
        ("ridge.jpg", "Ridge cap <cracked> & loose", "roof", "2024-05-01T16:40:00"),
        ("attic.heic", "", "", None),
    ],
    'Gutter "repair" & paint': [
        ("gutter.png", "Outlet blocked", "gutter", "2024-04-20T11:00:00"),
        ("chimney.webp", 'Chimney crown needs "sealing"', "chimney,masonry", "2024-04-21T08:30:00"),
    ],
    "Old shed": [("ridge.jpg", "kept only in the archive", "", "2023-01-01T00:00:00")],
    "Fence": [],
}
ARCHIVED = {"Old shed": "2025-02-01T09:00:00+00:00"}


def build_sample_site(make_config):
    config = make_config(build__workers=1, images__display_size=320, images__thumb_size=120)
    with db.open_db(config.db_path) as conn:
        for title, shots in SITE.items():
            job = db.create_job(conn, title)
            for name, description, tags, taken in shots:
                data = (SAMPLES / name).read_bytes()
                add_photo(config, conn, job.id, data, filename=name, description=description, tags=tags, taken_at=taken)
            if title in ARCHIVED:
                shutil.rmtree(config.paths.data / "images" / f"job_{job.id}")
                db.set_archived(conn, job.id, ARCHIVED[title])
    return config


def published(output: Path) -> dict[str, str]:
    """Every page's text, and the list of every published file's path."""
    paths = sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file())
    pages = {path: (output / path).read_text(encoding="utf-8") for path in paths if path.endswith(".html")}
    pages[LISTING] = "".join(f"{path}\n" for path in paths if path != MANIFEST_NAME)
    return pages


def expected() -> dict[str, str]:
    return {p.relative_to(GOLDEN).as_posix(): p.read_text(encoding="utf-8") for p in GOLDEN.rglob("*") if p.is_file()}


def write_golden(pages: dict[str, str]) -> None:
    shutil.rmtree(GOLDEN, ignore_errors=True)
    for path, text in pages.items():
        target = GOLDEN / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def test_sample_site_matches_the_golden_files(make_config) -> None:
    config = build_sample_site(make_config)
    report = build_site(config)
    assert report.ok and report.processed == 5
    actual = published(config.paths.output)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        write_golden(actual)
    golden = expected()
    assert sorted(actual) == sorted(golden), "pages differ; see the module docstring to regenerate"
    for path, text in golden.items():
        assert actual[path] == text, f"{path} differs from tests/golden/{path}"
