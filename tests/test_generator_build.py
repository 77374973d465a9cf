"""The incremental build: what it writes, what it leaves alone, what it removes."""

from __future__ import annotations

import json
import re
import shutil

import photos
import pytest
from generator_support import add_photo, age_files, changed, img_tags, job_page, snapshot

from generator.build import build_site
from generator.derivatives import KINDS
from generator.manifest import MANIFEST_NAME
from generator.render import TemplateProblem, ink_on
from jobgallery import db
from jobgallery.errors import JobGalleryError, NotFound


@pytest.fixture
def site(make_config):
    """Two live jobs with three photos each, built once; workers=1 keeps small builds in-process."""
    config = make_config(build__workers=1)
    with db.open_db(config.db_path) as conn:
        jobs = [db.create_job(conn, title) for title in ("Roof, 12 Elm St", "Kitchen")]
        for number, job in enumerate(jobs):
            for i in range(3):
                taken = f"2024-05-0{3 - i}T10:00:00"
                add_photo(config, conn, job.id, seed=10 * number + i, description=f"photo {i}", taken_at=taken)
    report = build_site(config)
    assert report.ok and report.processed == 6
    age_files(config.paths.output)
    return config, jobs


def derivatives(config, job) -> set[str]:
    folder = config.paths.output / job.gallery_path(config.gallery.public_index)
    return {p.name for p in folder.iterdir() if p.suffix in (".jpg", ".webp")}


def test_first_build_publishes_pages_assets_and_derivatives(site) -> None:
    config, jobs = site
    output = config.paths.output
    assert (output / "index.html").is_file() and (output / MANIFEST_NAME).is_file()
    for job in jobs:
        html = job_page(config, job).read_text()
        assert len(img_tags(html)) == 3
        assert len(derivatives(config, job)) == 18
    static = sorted(p.name for p in (output / "static").iterdir())
    published = sorted(re.fullmatch(r"([a-z-]+)\.[0-9a-f]{12}\.(css|js|txt)", name).group(1, 2) for name in static)
    wanted = [("gallery", "css"), ("gallery", "js"), ("photoswipe", "css"), ("photoswipe", "js")]
    assert published == [*wanted, ("photoswipe-licence", "txt")]
    # every file but HTML (and the dot-named manifest) has a content-addressed name (a report's: of what it shows)
    for path in snapshot(output):
        if not path.endswith(".html") and path != MANIFEST_NAME:
            assert re.fullmatch(
                r"(static/[a-z-]+\.[0-9a-f]{12}\.(css|js|txt))|(jobs/[^/]+/\d+-((display|thumb|thumb2x|zoom)-[0-9a-f]{20}\.jpg|(thumb|thumb2x)-webp-[0-9a-f]{20}\.webp))"
                r"|(jobs/[^/]+/[a-z0-9-]+-report-[0-9a-f]{16}\.pdf)",
                path,
            ), path


def test_photos_in_taken_order_with_text_shown(site) -> None:
    config, jobs = site
    html = job_page(config, jobs[0]).read_text()
    assert html.index("photo 2") < html.index("photo 1") < html.index("photo 0")
    assert 'datetime="2024-05-01T10:00:00"' in html


def test_noop_build_writes_nothing(site) -> None:
    config, _ = site
    before = snapshot(config.paths.output)
    report = build_site(config)
    assert (report.processed, report.skipped, report.pages_written, report.files_removed) == (0, 6, 0, 0)
    assert changed(before, snapshot(config.paths.output)) == set()


def test_deleted_output_rebuilds_to_the_same_bytes(site) -> None:
    config, _ = site
    before = {path: data for path, (_, data) in snapshot(config.paths.output).items()}
    shutil.rmtree(config.paths.output)
    assert build_site(config).processed == 6
    assert {path: data for path, (_, data) in snapshot(config.paths.output).items()} == before


def test_lost_manifest_gives_a_correct_build(site) -> None:
    config, _ = site
    before = {path: data for path, (_, data) in snapshot(config.paths.output).items()}
    (config.paths.output / MANIFEST_NAME).write_text("{not json")
    assert build_site(config).ok
    assert {path: data for path, (_, data) in snapshot(config.paths.output).items()} == before


def test_full_build_remakes_derivatives_and_keeps_unchanged_pages(site) -> None:
    config, _ = site
    before = snapshot(config.paths.output)
    report = build_site(config, full=True)
    assert report.processed == 6 and report.pages_written == 0
    after = snapshot(config.paths.output)
    assert {path for path in changed(before, after) if path.endswith(".html")} == set()
    assert {path: data for path, (_, data) in after.items()} == {path: data for path, (_, data) in before.items()}


def test_one_new_photo_changes_only_its_job_page_index_and_derivatives(site) -> None:
    config, jobs = site
    before = snapshot(config.paths.output)
    with db.open_db(config.db_path) as conn:
        image = add_photo(config, conn, jobs[1].id, seed=99, taken_at="2024-05-09T10:00:00")
    report = build_site(config, job_id=jobs[1].id)
    assert (report.processed, report.skipped, report.pages_written) == (1, 3, 2), "the other job is not looked at"
    path = jobs[1].gallery_path()
    touched = changed(before, snapshot(config.paths.output))
    derivatives_written = {p for p in touched if p.endswith((".jpg", ".webp"))}
    assert {p.rsplit("-", 1)[0] for p in derivatives_written} == {f"{path}{image.id}-{kind}" for kind in KINDS}
    reports = {p for p in touched if p.endswith(".pdf")}
    assert len(reports) == 2 and all(p.startswith(path) for p in reports)  # the old report went, a new one came
    assert touched - derivatives_written - reports == {"index.html", f"{path}index.html", MANIFEST_NAME}


def test_a_whole_site_build_finds_the_new_photo_too(site) -> None:
    config, jobs = site
    with db.open_db(config.db_path) as conn:
        add_photo(config, conn, jobs[0].id, seed=98)
    report = build_site(config)
    assert (report.processed, report.skipped, report.pages_written) == (1, 6, 2)


def test_thumb_size_change_regenerates_only_thumbnails(site, make_config) -> None:
    config, jobs = site
    before = snapshot(config.paths.output)
    bigger = make_config(build__workers=1, images__thumb_size=200)
    report = build_site(bigger)
    assert report.processed == 6
    touched = changed(before, snapshot(config.paths.output))
    kinds = {path.rsplit("/", 1)[1].split("-")[1] for path in touched if path.endswith(".jpg")}
    assert kinds == {"thumb", "thumb2x"}
    assert not any("-display-" in path for path in touched)
    pages = {path for path in touched if path.endswith(".html")}
    assert pages == {"index.html"} | {f"{job.gallery_path()}index.html" for job in jobs}
    html = job_page(bigger, jobs[0]).read_text()
    assert 'width="200" height="150"' in html


def test_display_quality_change_leaves_thumbnails(site, make_config) -> None:
    config, _ = site
    before = snapshot(config.paths.output)
    build_site(make_config(build__workers=1, images__display_quality=60))
    touched = changed(before, snapshot(config.paths.output))
    assert not any("-thumb" in path for path in touched)
    assert any("-display-" in path for path in touched)


def test_zoom_size_change_remakes_every_derivative_and_a_name_keeps_its_bytes(make_config) -> None:
    """Each kind is made from the zoom image's pixels: a 1600 x 1200 JPEG decodes at 7/8 for a zoom size
    of 1400 and at 6/8 for 1200, so its display image and thumbnails differ too, under new names."""
    config = make_config(build__workers=1, images__zoom_size=1400)
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Zoom")
        add_photo(config, conn, job.id, seed=3, size=(1600, 1200))
    build_site(config)
    before = derivative_bytes(config, job)
    smaller = make_config(build__workers=1, images__zoom_size=1200)
    build_site(smaller)
    after = derivative_bytes(config, job)
    assert len(after) == len(KINDS) and not before.keys() & after.keys(), "every kind has a new name"
    build_site(smaller, full=True)
    assert derivative_bytes(config, job) == after, "an incremental build and a full one agree, name by name"


def derivative_bytes(config, job) -> dict[str, bytes]:
    folder = job_page(config, job).parent
    return {name: (folder / name).read_bytes() for name in derivatives(config, job)}


def test_deleted_photo_leaves_output(site) -> None:
    config, jobs = site
    with db.open_db(config.db_path) as conn:
        image = db.list_images(conn, jobs[0].id)[0]
        db.delete_image(conn, image.id)
    report = build_site(config)
    assert report.files_removed == 6 + 1  # its derivatives and the job's old report
    assert not any(name.startswith(f"{image.id}-") for name in derivatives(config, jobs[0]))
    assert len(img_tags(job_page(config, jobs[0]).read_text())) == 2
    manifest = json.loads((config.paths.output / MANIFEST_NAME).read_text())
    assert str(image.id) not in manifest["photos"]


def test_archived_job_becomes_a_stub_and_leaves_the_index(site) -> None:
    config, jobs = site
    with db.open_db(config.db_path) as conn:
        db.set_archived(conn, jobs[0].id, "2025-01-31T12:00:00+00:00")
    report = build_site(config, job_id=jobs[0].id)
    assert report.files_removed == 18 + 1  # the derivatives and the report
    stub = job_page(config, jobs[0]).read_text()
    assert "archived on 2025-01-31" in stub and "<img" not in stub
    assert derivatives(config, jobs[0]) == set()
    index = (config.paths.output / "index.html").read_text()
    assert jobs[0].gallery_path() not in index and jobs[1].gallery_path() in index
    assert len(derivatives(config, jobs[1])) == 18
    before = snapshot(config.paths.output)
    build_site(config)
    assert changed(before, snapshot(config.paths.output)) == set()


def test_restored_job_comes_back(site) -> None:
    config, jobs = site
    with db.open_db(config.db_path) as conn:
        db.set_archived(conn, jobs[0].id, "2025-01-31T12:00:00+00:00")
        build_site(config)
        db.set_archived(conn, jobs[0].id, None)
    report = build_site(config, job_id=jobs[0].id)
    assert report.processed == 3
    assert len(img_tags(job_page(config, jobs[0]).read_text())) == 3
    assert jobs[0].gallery_path() in (config.paths.output / "index.html").read_text()


def test_building_another_job_still_takes_an_archived_one_off_the_index(site) -> None:
    config, jobs = site
    with db.open_db(config.db_path) as conn:
        db.set_archived(conn, jobs[0].id, "2025-01-31T12:00:00+00:00")
    build_site(config, job_id=jobs[1].id)
    assert jobs[0].gallery_path() not in (config.paths.output / "index.html").read_text()
    assert derivatives(config, jobs[0]) == set()


def jpeg_bytes_by_name(output) -> dict[str, bytes]:
    return {path.rsplit("/", 1)[1]: data for path, (_, data) in snapshot(output).items() if path.endswith(".jpg")}


def test_private_site_lists_no_jobs_and_uses_token_paths(site, make_config) -> None:
    config, jobs = site
    before = jpeg_bytes_by_name(config.paths.output)
    private = make_config(build__workers=1, gallery__public_index=False)
    report = build_site(private)
    assert report.ok and (report.processed, report.skipped) == (0, 6), "derivatives move, they are not made again"
    index = (private.paths.output / "index.html").read_text()
    assert "jobs/" not in index and "<img" not in index
    for job in jobs:
        path = job.gallery_path(False)
        assert job.token in path
        assert (private.paths.output / path / "index.html").is_file()
        assert not (private.paths.output / job.gallery_path(True)).exists()
        html = (private.paths.output / path / "index.html").read_text()
        assert 'name="robots" content="noindex"' in html and "Kitchen" not in html.replace(job.title, "")
    assert sorted(p.name for p in (private.paths.output / "jobs").iterdir()) == sorted(
        job.gallery_path(False).split("/")[1] for job in jobs
    )
    assert jpeg_bytes_by_name(private.paths.output) == before
    assert build_site(config).processed == 0
    assert sorted(p.name for p in (config.paths.output / "jobs").iterdir()) == sorted(
        job.gallery_path(True).split("/")[1] for job in jobs
    )
    assert jpeg_bytes_by_name(config.paths.output) == before


def test_empty_pages_are_neutral_for_viewers_with_a_relative_crew_link(make_config) -> None:
    config = make_config(build__workers=1)
    assert build_site(config).pages_written == 1
    index = (config.paths.output / "index.html").read_text()
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Fence")
    assert build_site(config).ok
    page = job_page(config, job).read_text()
    for html, link in ((index, "upload"), (page, "../../upload")):
        assert '<p class="empty">No photos yet.</p>' in html
        assert f'Crew members sign in to the <a href="{link}" rel="nofollow">upload form</a>' in html
        assert 'href="/upload"' not in html


def test_unknown_job_is_not_found(site) -> None:
    config, _ = site
    with pytest.raises(NotFound):
        build_site(config, job_id=999)


def test_a_broken_photo_is_reported_and_the_rest_builds(site) -> None:
    config, jobs = site
    with db.open_db(config.db_path) as conn:
        broken = add_photo(config, conn, jobs[0].id, data=photos.jpeg_bytes(seed=5)[:500], filename="cut.jpg")
        add_photo(config, conn, jobs[0].id, seed=77)
    report = build_site(config)
    assert report.processed == 1 and len(report.failed) == 1
    assert report.failed[0][0] == "cut.jpg" and report.failed[0][1]
    html = job_page(config, jobs[0]).read_text()
    assert len(img_tags(html)) == 4 and f"photo-{broken.id}" not in html
    assert "1 failed" in report.summary()
    # it is tried again next time, and fails again without rewriting anything
    before = snapshot(config.paths.output)
    assert len(build_site(config).failed) == 1
    assert changed(before, snapshot(config.paths.output)) == set()


def test_user_text_is_escaped_everywhere(make_config) -> None:
    config = make_config(gallery__title="<i>Site</i>")
    attack = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, f"Roof {attack}")
        add_photo(config, conn, job.id, description=f"desc {attack}", tags=f"t{attack},plain")
    build_site(config)
    for page in (job_page(config, job), config.paths.output / "index.html"):
        html = page.read_text()
        assert "<script>alert" not in html and "<img src=x" not in html and "<i>Site" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        scripts = html.split("<script")[1:]
        assert all("alert" not in script.split("</script>")[0] for script in scripts)
    assert len(img_tags(job_page(config, job).read_text())) == 1


def test_user_templates_override_ours_and_edits_rerender(site, make_config, instance) -> None:
    _, jobs = site
    custom = instance / "my-templates"
    (custom / "static").mkdir(parents=True)
    (custom / "index.html").write_text(
        '{% extends "base.html" %}{% block content %}custom {{ jobs|length }}{% endblock %}'
    )
    (custom / "static" / "gallery.css").write_text("body { background: #000; }")
    themed = make_config(build__workers=1, gallery__templates=str(custom))
    report = build_site(themed)
    assert report.processed == 0 and report.pages_written == 3
    assert "custom 2" in (themed.paths.output / "index.html").read_text()
    css = sorted((themed.paths.output / "static").glob("gallery.*.css"))
    assert len(css) == 1 and css[0].read_text() == "body { background: #000; }"
    assert css[0].name in job_page(themed, jobs[0]).read_text()
    (custom / "index.html").write_text('{% extends "base.html" %}{% block content %}edited{% endblock %}')
    report = build_site(themed)
    assert report.pages_written == 1 and "edited" in (themed.paths.output / "index.html").read_text()


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("<p>{% if jobs %}\n{{ jobs|length }</p>", r"template .*index\.html, line 2: unexpected '}'"),
        ("<p>\n\n{{ no_such_thing.title }}</p>", r"template .*index\.html, line 3: 'no_such_thing' is undefined"),
        ('<p>\n{% include "missing.html" %}</p>', r"template .*index\.html, line 2: template 'missing.html' not found"),
    ],
)
def test_broken_user_template_is_one_line_naming_file_and_line(site, make_config, instance, template, problem) -> None:
    custom = instance / "broken-templates"
    custom.mkdir()
    (custom / "index.html").write_text(template)
    themed = make_config(build__workers=1, gallery__templates=str(custom))
    with pytest.raises(TemplateProblem) as caught:
        build_site(themed)
    message = str(caught.value)
    assert isinstance(caught.value, JobGalleryError) and "\n" not in message
    assert re.fullmatch(problem, message), message
    assert str(custom / "index.html") in message


def test_dates_are_capture_dates_when_any_photo_has_one(make_config) -> None:
    config = make_config(build__workers=1)
    with db.open_db(config.db_path) as conn:
        mixed = db.create_job(conn, "Mixed")
        add_photo(config, conn, mixed.id, seed=1, taken_at="2023-05-11T09:00:00")
        add_photo(config, conn, mixed.id, seed=2, taken_at="2023-05-14T09:00:00")
        add_photo(config, conn, mixed.id, data=photos.encoded("PNG", 64, 48, seed=3), filename="screen.png")
        uploads = db.create_job(conn, "Screenshots")
        add_photo(config, conn, uploads.id, data=photos.encoded("PNG", 64, 48, seed=4), filename="one.png")
    assert build_site(config).ok
    index = (config.paths.output / "index.html").read_text()
    for html in (job_page(config, mixed).read_text(), index):
        assert '<span class="dates">2023-05-11 – 2023-05-14</span>' in html
    assert '<span class="dates">2024-06-01</span>' in job_page(config, uploads).read_text()
    assert '<span class="dates">2024-06-01</span>' in index


def test_failed_thumbnail_alt_text_contrasts_with_its_placeholder() -> None:
    def contrast(a: str, b: str) -> float:
        def luminance(color: str) -> float:
            channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
            linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
            return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

        light, dark = sorted((luminance(a), luminance(b)), reverse=True)
        return (light + 0.05) / (dark + 0.05)

    colors = [f"#{v:02x}{v:02x}{v:02x}" for v in range(0, 256, 5)] + ["#0b5cad", "#90928d", "#ff0000", "#00ff00"]
    for color in colors:
        assert contrast(color, ink_on(color)) >= 4.5, color
    assert (ink_on("#ffffff"), ink_on("#000000")) == ("#000000", "#ffffff")
