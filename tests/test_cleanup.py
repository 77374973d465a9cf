"""Orphan cleanup: old orphans go, young ones and anything whose row commits during the run stay."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import photos
from maintenance_support import HOUR, add_photos, age, job_with_photos, master, old_stamp, run_cli

from jobgallery import db, storage
from jobgallery.maintenance.cleanup import cleanup, find_orphans, remove_orphans
from jobgallery.maintenance.reports import Report


def stray(config, job_id: int, name: str, seconds_old: float, data: bytes | None = None):
    """A master-looking file that no row names, ``seconds_old`` old."""
    path = storage.job_folder(config.paths.data, job_id) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data or photos.jpeg_bytes(64, 48))
    return age(path, seconds_old)


def row_without_file(conn, job_id: int, filename: str, hours_old: float) -> db.Image:
    return db.insert_image(
        conn,
        job_id=job_id,
        filename=filename,
        sha256=filename.ljust(64, "0"),
        byte_size=10,
        width=1,
        height=1,
        timestamp=old_stamp(hours_old),
    )


def test_old_orphans_go_young_ones_stay(config, conn):
    job = job_with_photos(config, conn, count=2)
    kept_masters = [master(config, image) for image in db.list_images(conn, job.id)]
    for path in kept_masters:
        age(path, 5 * HOUR)
    old_file = stray(config, job.id, "img_old.jpg", 2 * HOUR)
    young_file = stray(config, job.id, "img_young.jpg", 10 * 60)
    old_temp = stray(config, job.id, f"{storage.TEMP_PREFIX}crashed.jpg", 2 * HOUR)
    young_temp = stray(config, job.id, f"{storage.TEMP_PREFIX}uploading.jpg", 5)
    old_row = row_without_file(conn, job.id, "img_lost_old.jpg", 3)
    young_row = row_without_file(conn, job.id, "img_lost_young.jpg", 0.1)

    report = cleanup(config, conn)

    assert report.ok, report.failures
    assert not old_file.exists() and not old_temp.exists()
    assert young_file.exists() and young_temp.exists()
    assert all(path.exists() for path in kept_masters)
    ids = {image.id for image in db.list_images(conn, job.id)}
    assert old_row.id not in ids and young_row.id in ids
    assert report.counts == {"orphan file{s} removed": 1, "temp file{s} removed": 1, "row{s} without file removed": 1}
    assert report.summary() == "cleanup: 1 temp file removed, 1 orphan file removed, 1 row without file removed"
    assert f"removed orphan file {old_file}" in report.lines


def test_temp_file_of_a_running_writer_stays_however_old(config, conn):
    """Seen five hours on: a writer that started before its file and still runs keeps it."""
    job = db.create_job(conn, "Slow upload")
    writing = stray(config, job.id, f"{storage.TEMP_PREFIX}{os.getpid()}-abc.jpg", 0)
    dead = stray(config, job.id, f"{storage.TEMP_PREFIX}{exited_pid()}-def.jpg", 0)

    report = cleanup(config, conn, now=time.time() + 5 * HOUR)

    assert writing.exists() and not dead.exists()
    assert report.counts == {"temp file{s} removed": 1}


def exited_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_dry_run_lists_and_changes_nothing(config, conn):
    job = job_with_photos(config, conn, count=1)
    old_file = stray(config, job.id, "img_old.jpg", 2 * HOUR)
    row = row_without_file(conn, job.id, "img_lost.jpg", 3)

    report = cleanup(config, conn, dry_run=True)

    assert old_file.exists() and db.get_image(conn, row.id)
    assert f"would remove orphan file {old_file}" in report.lines
    assert report.summary() == "cleanup (dry run): 1 orphan file to remove, 1 row without file to remove"


def test_file_whose_row_commits_after_the_plan_stays(config, conn):
    """The plan saw an old file without a row; the row commits before removal: the file stays."""
    job = db.create_job(conn, "Late row")
    path = stray(config, job.id, "img_late.jpg", 2 * HOUR)
    report = Report("cleanup")
    plan = find_orphans(config, conn, report)
    assert [orphan.path for orphan in plan] == [path]

    db.insert_image(conn, job_id=job.id, filename=path.name, sha256="a" * 64, byte_size=1, width=64, height=48)
    remove_orphans(config, conn, plan, report)

    assert path.exists()
    assert report.counts == {} and f"kept orphan file {path}: it changed during cleanup" in report.lines


def test_file_whose_row_is_committing_while_cleanup_deletes_stays(config, conn):
    """Ingest publishes a master and commits its row in one write transaction: cleanup waits for it."""
    job = db.create_job(conn, "Upload in flight")
    path = stray(config, job.id, "img_inflight.jpg", 2 * HOUR)
    plan = find_orphans(config, conn, Report("cleanup"))
    report = Report("cleanup")
    with db.open_db(config.db_path) as cleaner, db.open_db(config.db_path) as uploader:
        with db.write(uploader):
            worker = threading.Thread(target=remove_orphans, args=(config, cleaner, plan, report))
            worker.start()
            time.sleep(0.3)
            assert worker.is_alive(), "cleanup should wait for the upload's transaction"
            db.add_image(uploader, job_id=job.id, filename=path.name, sha256="b" * 64, byte_size=1, width=1, height=1)
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert path.exists()
    assert report.ok and not report.counts


def test_new_upload_is_never_touched(config, conn):
    """A photo ingested right now (fresh mtime, fresh row) survives a cleanup with the default grace."""
    job = db.create_job(conn, "Fresh")
    image = add_photos(config, conn, job.id, 1)[0]
    report = cleanup(config, conn)
    assert master(config, image).exists() and db.get_image(conn, image.id)
    assert report.summary() == "cleanup: nothing to do"


def test_archived_jobs_rows_are_not_orphans_and_leftover_masters_are_reported(config, conn):
    job = job_with_photos(config, conn, count=1)
    image = db.list_images(conn, job.id)[0]
    age(master(config, image), 2 * HOUR)
    db.set_archived(conn, job.id, db.now_iso())

    report = cleanup(config, conn)

    assert master(config, image).exists() and db.get_image(conn, image.id)
    assert any("is archived but masters remain" in line for line in report.lines)


def test_empty_folder_of_a_deleted_job_goes(config, conn):
    job = db.create_job(conn, "Gone")
    stray(config, job.id, "img_a.jpg", 2 * HOUR)
    other = storage.job_folder(config.paths.data, 999)
    other.mkdir(parents=True)
    db.set_archived(conn, job.id, db.now_iso())

    report = cleanup(config, conn)

    assert not storage.job_folder(config.paths.data, job.id).exists() and not other.exists()
    assert report.counts["empty folder{s} removed"] == 2


def test_cli_prints_actions_and_prunes_output_of_deleted_photos(make_config):
    config = make_config(**{"maintenance.orphan_grace_minutes": 0})
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=2)
        assert run_cli(config, "build").returncode == 0
        gone = db.list_images(conn, job.id)[0]
        db.delete_image(conn, gone.id)
    page_folder = config.paths.output / job.gallery_path()
    before = {p.name for p in page_folder.iterdir()}
    assert any(name.startswith(f"{gone.id}-") for name in before)

    result = run_cli(config, "cleanup")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"removed orphan file {master(config, gone)}"
    assert lines[-1] == "cleanup: 1 orphan file removed"
    assert not master(config, gone).exists()
    assert not any(p.name.startswith(f"{gone.id}-") for p in page_folder.iterdir())


def test_cli_dry_run_and_nothing_to_do(config):
    result = run_cli(config, "cleanup", "--dry-run")
    assert result.returncode == 0 and result.stdout == "cleanup (dry run): nothing to do\n"


# ---------------------------------------------------------------- the masters look unmounted

MOUNT_HINT = "check that the data folder is mounted"


def test_a_missing_images_folder_stops_cleanup_and_keeps_every_row(make_config, tmp_path):
    config = make_config(**{"maintenance.orphan_grace_minutes": 0})
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=3, size=(64, 48))
        rows = db.list_images(conn, job.id)
    images = storage.masters_root(config.paths.data)
    away = tmp_path / "unmounted"
    images.rename(away)

    stopped = run_cli(config, "cleanup")

    assert stopped.returncode == 1
    assert stopped.stderr == f"jobgallery: cleanup: stopped, nothing removed: {images} is missing; {MOUNT_HINT}" + (
        " (or restore it from a backup), then run cleanup again\n"
    )
    assert stopped.stdout == "cleanup: nothing to do; 1 failed\n"
    images.mkdir()  # an empty mount point
    empty = run_cli(config, "cleanup")
    assert empty.returncode == 1 and f"the folder of job {job.id} (3 photos) is missing; {MOUNT_HINT}" in empty.stderr
    images.rmdir()
    away.rename(images)

    back = run_cli(config, "cleanup")

    assert back.returncode == 0, back.stderr
    assert back.stdout.splitlines()[-1] == "cleanup: nothing to do"
    with db.open_db(config.db_path) as conn:
        assert db.list_images(conn, job.id) == rows
    assert all(master(config, image).is_file() for image in rows)


def test_many_masters_missing_at_once_stops_cleanup(make_config):
    config = make_config(**{"maintenance.orphan_grace_minutes": 0})
    with db.open_db(config.db_path) as conn:
        big = job_with_photos(config, conn, count=8, size=(64, 48))
        pair = job_with_photos(config, conn, count=2, size=(64, 48), seed=20)
        single = job_with_photos(config, conn, count=1, size=(64, 48), seed=30)
        for image in db.list_images(conn, pair.id):
            master(config, image).unlink()
        report = cleanup(config, conn)
        assert not report.ok and f"all 2 masters of job {pair.id} are missing" in report.failures[0]
        assert len(db.list_images(conn, pair.id)) == 2
        lost = db.list_images(conn, single.id)[0]
        master(config, lost).unlink()
        for image in db.list_images(conn, big.id)[:5]:
            master(config, image).unlink()
        for image in db.list_images(conn, pair.id):
            db.delete_image(conn, image.id)

        report = cleanup(config, conn)

        assert report.failures == [
            f"cleanup: stopped, nothing removed: 6 of 9 masters are missing; {MOUNT_HINT}"
            " (or restore it from a backup), then run cleanup again"
        ]
        assert len(db.list_images(conn, big.id)) == 8 and db.list_images(conn, single.id) == [lost]
        master(config, db.list_images(conn, big.id)[0]).write_bytes(b"back")
        for image in db.list_images(conn, big.id)[1:5]:
            db.delete_image(conn, image.id)

        single_loss = cleanup(config, conn)

        assert single_loss.ok, single_loss.failures
        assert single_loss.counts["row{s} without file removed"] == 1
        assert db.list_images(conn, single.id) == []


def test_cleanup_removes_dead_writers_temp_files_from_the_archive_folder(config, conn):
    config.paths.archive.mkdir(parents=True, exist_ok=True)
    dead = config.paths.archive / f"{storage.TEMP_PREFIX}{exited_pid()}-0a1b.tar"
    dead.write_bytes(b"half an archive")
    kept = config.paths.archive / "job_1.tar"
    kept.write_bytes(b"not a temp file")

    report = cleanup(config, conn, now=time.time() + 5 * HOUR)

    assert report.ok and not dead.exists() and kept.exists()
    assert report.lines == [f"removed temp file {dead}"]


def test_a_failure_reason_names_the_file_only_when_it_is_not_the_item() -> None:
    from jobgallery.maintenance.reports import reason

    exc = FileNotFoundError(2, "No such file or directory", "/data/images/job_3/a.jpg")
    assert reason(exc, "/data/images/job_3/a.jpg") == "No such file or directory"
    assert reason(exc, "job 3") == "No such file or directory (/data/images/job_3/a.jpg)"
