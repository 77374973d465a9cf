"""The office's changes below the pages: audit rows, trash and its days, moves, renames, users.

Real SQLite, real JPEG masters ingested as uploads arrive, real builds of ``output/``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from maintenance_support import add_photos, job_with_photos, master

from generator.build import build_site
from jobgallery import audit, db, jobs, trash, users
from jobgallery.errors import Conflict, JobGalleryError, NotFound
from jobgallery.maintenance.cleanup import cleanup
from jobgallery.photo_edits import DetailsChange, edit_details, move_photo

BOSS = "boss"


def audit_rows(conn) -> list[tuple]:
    return [tuple(row) for row in conn.execute("SELECT user_name, action, job_id, image_id, subject FROM audit")]


def snapshot(conn) -> tuple:
    """Everything a refused change must leave as it was."""
    return (
        [tuple(row) for row in conn.execute("SELECT * FROM job ORDER BY id")],
        [tuple(row) for row in conn.execute("SELECT * FROM job_image ORDER BY id")],
        [tuple(row) for row in conn.execute("SELECT name, is_admin, disabled_at FROM user ORDER BY name")],
        audit.count(conn),
    )


# ---------------------------------------------------------------- every change writes an audit row


def test_every_change_writes_an_audit_row_naming_who_and_what(config, conn):
    users.add_user(conn, BOSS, "boss-password-1", admin=True)
    roof = job_with_photos(config, conn, 3)
    kitchen = jobs.create_job(conn, "Kitchen", BOSS)
    first, second, third = db.list_images(conn, roof.id)
    changes = [
        (lambda: jobs.rename_job(conn, roof.id, "Roof, 14 Elm St", BOSS), ("rename", roof.id, None, None)),
        (
            lambda: edit_details(conn, [first.id], DetailsChange("Ridge", "set", "roof"), BOSS),
            ("edit", roof.id, first.id, None),
        ),
        (lambda: move_photo(config, conn, second.id, kitchen.id, BOSS), ("move", kitchen.id, second.id, None)),
        (lambda: trash.trash_photos(conn, [third.id], BOSS), ("trash", roof.id, third.id, None)),
        (lambda: trash.untrash_photos(conn, [third.id], BOSS), ("untrash", roof.id, third.id, None)),
        (lambda: users.add_generated(conn, "sam", False, BOSS), ("user-add", None, None, "sam")),
        (lambda: users.reset_password(conn, "sam", BOSS), ("user-reset", None, None, "sam")),
        (lambda: users.set_role(conn, "sam", True, BOSS), ("user-role", None, None, "sam")),
        (lambda: users.disable_user(conn, "sam", BOSS), ("user-disable", None, None, "sam")),
        (lambda: users.enable_user(conn, "sam", BOSS), ("user-enable", None, None, "sam")),
        (lambda: users.remove_by(conn, "sam", BOSS), ("user-remove", None, None, "sam")),
    ]
    assert audit_rows(conn)[-1] == (BOSS, "create", kitchen.id, None, None)
    for change, (action, job_id, image_id, subject) in changes:
        before = audit.count(conn)
        change()
        added = audit_rows(conn)[before:]
        assert added, f"{action} wrote no audit row"
        assert (BOSS, action, job_id, image_id, subject) in added
    moved = audit.of_photo(conn, second.id)
    assert {entry.job_id for entry in moved} == {roof.id, kitchen.id}  # both jobs' trails show the move
    assert all(entry.at.endswith("+00:00") for entry in audit.recent(conn))


def test_a_refused_change_writes_no_audit_row_and_changes_nothing(config, conn):
    users.add_user(conn, BOSS, "boss-password-1", admin=True)
    roof = job_with_photos(config, conn, 2)
    other = job_with_photos(config, conn, 0, title="Kitchen")
    photo = db.list_images(conn, roof.id)[0]
    refusals = [
        lambda: jobs.rename_job(conn, roof.id, "", BOSS),
        lambda: jobs.rename_job(conn, roof.id, "x" * 201, BOSS),
        lambda: jobs.rename_job(conn, roof.id, "bad\x07title", BOSS),
        lambda: jobs.rename_job(conn, roof.id, "evil \u202egpj.exe", BOSS),
        lambda: jobs.rename_job(conn, roof.id, roof.title, BOSS),
        lambda: jobs.rename_job(conn, 999, "Nowhere", BOSS),
        lambda: edit_details(conn, [photo.id], DetailsChange("x" * 5000, "keep", ""), BOSS),
        lambda: edit_details(conn, [photo.id], DetailsChange(None, "set", ",".join(f"t{n}" for n in range(99))), BOSS),
        lambda: edit_details(conn, [photo.id], DetailsChange(None, "set", "a\x00b"), BOSS),
        lambda: edit_details(conn, [photo.id], DetailsChange(None, "shuffle", "a"), BOSS),
        lambda: edit_details(conn, [photo.id], DetailsChange(None, "keep", ""), BOSS),
        lambda: edit_details(conn, [photo.id, 10**6], DetailsChange("all or none", "keep", ""), BOSS),
        lambda: edit_details(conn, [], DetailsChange("none chosen", "keep", ""), BOSS),
        lambda: move_photo(config, conn, photo.id, roof.id, BOSS),
        lambda: move_photo(config, conn, photo.id, 10**6, BOSS),
        lambda: trash.trash_photos(conn, [photo.id, 10**6], BOSS),
        lambda: trash.untrash_photos(conn, [photo.id], BOSS),
        lambda: users.add_generated(conn, "no spaces please", False, BOSS),
        lambda: users.add_generated(conn, BOSS, False, BOSS),
        lambda: users.disable_user(conn, BOSS, BOSS),
        lambda: users.remove_by(conn, BOSS, BOSS),
        lambda: users.set_role(conn, BOSS, False, "(command line)"),
        lambda: users.disable_user(conn, "nobody", BOSS),
    ]
    before = snapshot(conn)
    for refuse in refusals:
        with pytest.raises(JobGalleryError) as refused:
            refuse()
        message = str(refused.value)
        assert message and "\n" not in message and "Traceback" not in message
        assert snapshot(conn) == before, message
    assert other.image_count == 0


def test_tags_change_on_many_photos_at_once_each_keeping_its_own(config, conn):
    job = job_with_photos(config, conn, 3)
    ids = [image.id for image in db.list_images(conn, job.id)]
    edit_details(conn, ids[:1], DetailsChange("Gutter", "set", "gutter, leak"), BOSS)
    changed, touched = edit_details(conn, ids, DetailsChange(None, "add", "roof, leak"), BOSS)
    assert (changed, touched) == (3, {job.id})
    by_id = {image.id: image for image in db.list_images(conn, job.id)}
    assert by_id[ids[0]].tags == "gutter,leak,roof" and by_id[ids[0]].description == "Gutter"
    assert by_id[ids[1]].tags == "roof,leak" and by_id[ids[1]].description == ""
    edit_details(conn, ids, DetailsChange(None, "remove", "leak"), BOSS)
    assert [db.get_image(conn, i).tags for i in ids] == ["gutter,roof", "roof", "roof"]


# ---------------------------------------------------------------- the trash


def test_a_trashed_photo_leaves_every_listing_the_site_is_made_from(config, conn):
    job = job_with_photos(config, conn, 3)
    gone = db.list_images(conn, job.id)[1]
    trash.trash_photos(conn, [gone.id], BOSS)
    assert gone.id not in [image.id for image in db.list_images(conn, job.id)]
    assert gone.id not in [image.id for image in db.images_by_job(conn, [job.id])[job.id]]
    assert db.get_job(conn, job.id).image_count == 2
    assert db.known_hashes(conn, job.id, [gone.sha256]) == []
    assert master(config, gone).is_file()  # kept for undo
    build_site(config)
    page = (config.paths.output / db.get_job(conn, job.id).gallery_path() / "index.html").read_text()
    assert page.count("<img") == 2
    trash.untrash_photos(conn, [gone.id], BOSS)
    build_site(config, job_id=job.id)
    page = (config.paths.output / db.get_job(conn, job.id).gallery_path() / "index.html").read_text()
    assert page.count("<img") == 3


def test_the_trash_is_emptied_only_after_its_days(make_config):
    config = make_config(**{"maintenance.trash_days": 30, "maintenance.orphan_grace_minutes": 0})
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, 3)
        old, recent, kept = db.list_images(conn, job.id)
        trash.trash_photos(conn, [old.id, recent.id], BOSS)
        deleted = lambda days: (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")  # noqa: E731
        with db.write(conn):
            conn.execute("UPDATE job_image SET deleted_at = ? WHERE id = ?", (deleted(31), old.id))
            conn.execute("UPDATE job_image SET deleted_at = ? WHERE id = ?", (deleted(29), recent.id))
        report = cleanup(config, conn)
        assert report.ok, report.failures
        assert report.counts["photo{s} removed from the trash"] == 1
        with pytest.raises(NotFound):
            db.get_image(conn, old.id)
        assert not master(config, old).exists()
        assert db.get_image(conn, recent.id).trashed and master(config, recent).is_file()
        assert not db.get_image(conn, kept.id).trashed and master(config, kept).is_file()
        assert ("cleanup", "purge", job.id, old.id, None) in audit_rows(conn)
        # a day and a half later the second one's time is up too
        later = datetime.now(UTC) + timedelta(days=1, hours=12)
        report = cleanup(config, conn)
        assert report.counts["photo{s} removed from the trash"] == 0
        from jobgallery.maintenance.reports import Report

        late = Report("cleanup")
        trash.empty_trash(config, conn, late, now=later)
        assert late.counts["photo{s} removed from the trash"] == 1
        assert not master(config, recent).exists() and master(config, kept).is_file()


def test_a_dry_run_cleanup_only_lists_what_the_trash_would_lose(make_config):
    config = make_config(**{"maintenance.trash_days": 0})
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, 1)
        photo = db.list_images(conn, job.id)[0]
        trash.trash_photos(conn, [photo.id], BOSS)
        report = cleanup(config, conn, dry_run=True)
        assert report.counts["photo{s} to remove from the trash"] == 1
        assert db.get_image(conn, photo.id).trashed and master(config, photo).is_file()


def test_uploading_a_trashed_photo_again_brings_it_back(config, conn):
    job = job_with_photos(config, conn, 1)
    photo = db.list_images(conn, job.id)[0]
    trash.trash_photos(conn, [photo.id], BOSS)
    again = add_photos(config, conn, job.id, 1)[0]
    assert again.id == photo.id and not again.trashed
    assert db.get_job(conn, job.id).image_count == 1


def test_archiving_a_job_takes_its_trash_with_it(config, conn):
    from jobgallery.maintenance.archive import archive_jobs

    job = job_with_photos(config, conn, 2)
    gone = db.list_images(conn, job.id)[0]
    trash.trash_photos(conn, [gone.id], BOSS)
    report = archive_jobs(config, conn, [job.id])
    assert report.ok, report.failures
    assert db.get_job(conn, job.id).archived
    assert [row[0] for row in conn.execute("SELECT id FROM job_image WHERE job_id = ?", (job.id,))] != [gone.id]
    assert not master(config, gone).exists()


# ---------------------------------------------------------------- moving a photo


def test_a_move_carries_master_and_row_and_both_pages_change(config, conn):
    roof = job_with_photos(config, conn, 2)
    kitchen = job_with_photos(config, conn, 1, title="Kitchen", seed=10)
    build_site(config)
    photo = db.list_images(conn, roof.id)[0]
    before = master(config, photo).read_bytes()
    move_photo(config, conn, photo.id, kitchen.id, BOSS)
    moved = db.get_image(conn, photo.id)
    assert moved.job_id == kitchen.id and moved.filename == photo.filename
    assert master(config, moved).read_bytes() == before
    assert not master(config, photo).exists()
    build_site(config)
    pages = {job.id: (config.paths.output / job.gallery_path() / "index.html").read_text() for job in (roof, kitchen)}
    assert pages[roof.id].count("<img") == 1 and pages[kitchen.id].count("<img") == 2


def test_a_move_into_a_job_that_has_the_photo_is_refused(config, conn):
    roof = job_with_photos(config, conn, 1)
    twin = job_with_photos(config, conn, 1, title="Kitchen")  # the same bytes (seed 0)
    photo = db.list_images(conn, roof.id)[0]
    with pytest.raises(Conflict, match="already has this photo"):
        move_photo(config, conn, photo.id, twin.id, BOSS)
    trash.trash_photos(conn, [db.list_images(conn, twin.id)[0].id], BOSS)
    with pytest.raises(Conflict, match="in its trash"):
        move_photo(config, conn, photo.id, twin.id, BOSS)
    assert db.get_image(conn, photo.id).job_id == roof.id and master(config, photo).is_file()
    names = sorted(path.name for path in master(config, photo).parent.parent.rglob("*.jpg"))
    assert len(names) == 2  # no stray link left in the target's folder


def test_moving_to_an_archived_job_or_a_trashed_photo_is_refused(config, conn):
    from jobgallery.maintenance.archive import archive_jobs

    roof = job_with_photos(config, conn, 2)
    old = job_with_photos(config, conn, 1, title="Old", seed=20)
    assert archive_jobs(config, conn, [old.id]).ok
    first, second = db.list_images(conn, roof.id)
    with pytest.raises(NotFound, match="archived"):
        move_photo(config, conn, first.id, old.id, BOSS)
    trash.trash_photos(conn, [second.id], BOSS)
    with pytest.raises(Conflict, match="trash"):
        move_photo(config, conn, second.id, old.id, BOSS)


# ---------------------------------------------------------------- renaming a job


def test_a_renamed_job_moves_its_gallery_and_its_old_path_links_to_the_new(config, conn):
    job = job_with_photos(config, conn, 2)
    build_site(config)
    old_path = job.gallery_path()
    _, after = jobs.rename_job(conn, job.id, "Roof, 14 Elm St", BOSS)
    build_site(config, job_id=job.id)
    new_path = after.gallery_path()
    assert new_path != old_path and new_path == f"jobs/{job.id}-roof-14-elm-st/"
    assert (config.paths.output / new_path / "index.html").read_text().count("<img") == 2
    stub = config.paths.output / old_path
    assert sorted(p.name for p in stub.iterdir()) == ["index.html"]  # the old derivatives went
    assert f'href="../../{new_path}"' in (stub / "index.html").read_text()
    # renamed again: both old paths answer; back to the first title: its path is the gallery again
    jobs.rename_job(conn, job.id, "Roof, 16 Elm St", BOSS)
    build_site(config)
    third = db.get_job(conn, job.id).gallery_path()
    for path in (old_path, new_path):
        assert f'href="../../{third}"' in (config.paths.output / path / "index.html").read_text()
    jobs.rename_job(conn, job.id, "Roof, 12 Elm St", BOSS)
    build_site(config)
    assert (config.paths.output / old_path / "index.html").read_text().count("<img") == 2
    assert f'href="../../{old_path}"' in (config.paths.output / third / "index.html").read_text()
    index = (config.paths.output / "index.html").read_text()
    assert old_path in index and new_path not in index


def test_a_private_site_keeps_the_path_when_the_title_changes(make_config):
    config = make_config(**{"gallery.public_index": False})
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, 1)
        path = job.gallery_path(False)
        jobs.rename_job(conn, job.id, "Something else", BOSS)
        build_site(config)
        assert db.get_job(conn, job.id).gallery_path(False) == path
        assert [p.name for p in (config.paths.output / "jobs").iterdir()] == [path.split("/")[1]]


# ---------------------------------------------------------------- users


def test_a_disabled_user_cannot_sign_in_and_its_sessions_are_gone(conn):
    users.add_user(conn, BOSS, "boss-password-1", admin=True)
    users.add_user(conn, "sam", "sam-password-1", admin=False)
    row = db.SessionRow("a" * 64, "sam", db.now_iso(), db.now_iso(), "2999-01-01T00:00:00+00:00", "", "")
    db.add_session(conn, row)
    assert db.find_session(conn, "a" * 64, db.now_iso()) is not None
    assert users.disable_user(conn, "sam", BOSS) == 1
    assert db.find_session(conn, "a" * 64, db.now_iso()) is None
    assert users.authenticate(conn, "sam", "sam-password-1") is None
    users.enable_user(conn, "sam", BOSS)
    assert users.authenticate(conn, "sam", "sam-password-1") is not None


def test_the_last_admin_cannot_be_disabled_demoted_or_removed(conn):
    users.add_user(conn, BOSS, "boss-password-1", admin=True)
    for change in (
        lambda: users.disable_user(conn, BOSS, "(command line)"),
        lambda: users.set_role(conn, BOSS, False, "(command line)"),
        lambda: users.remove_by(conn, BOSS, "(command line)"),
    ):
        with pytest.raises(Conflict, match="last admin"):
            change()
    users.add_user(conn, "deputy", "deputy-password", admin=True)
    users.disable_user(conn, BOSS, "deputy")
    assert db.get_user(conn, BOSS).disabled


# ---------------------------------------------------------------- previews of masters


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_a_preview_is_small_upright_and_made_from_any_accepted_master(tmp_path, fmt):
    import io

    import photos
    from PIL import Image

    from jobgallery import images, previews

    path = tmp_path / "master"
    if fmt == "JPEG":
        path.write_bytes(photos.jpeg_bytes(640, 480, seed=1, orientation=6))
        expected = (240, 320)  # turned a quarter by its EXIF orientation
    else:
        path.write_bytes(photos.encoded(fmt, 640, 480, seed=1))
        expected = (320, 240)
    data = previews.preview_jpeg(path, images.Limits(100_000_000, 384), 320)
    with Image.open(io.BytesIO(data)) as shown:
        assert (shown.format, shown.size) == ("JPEG", expected)
        assert not shown.getexif()


def test_a_damaged_master_gives_a_clear_refusal_not_a_crash(tmp_path):
    import photos

    from jobgallery import images, previews
    from jobgallery.errors import BadImage, UnsupportedImage

    whole = photos.jpeg_bytes(640, 480, seed=2)
    for name, data in (("cut", whole[: len(whole) // 2]), ("text", b"not a photo at all")):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises((BadImage, UnsupportedImage)) as refused:
            previews.preview_jpeg(path, images.Limits(100_000_000, 384), 320)
        assert str(refused.value)
