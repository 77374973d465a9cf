"""Archive and restore: verified tars, nothing live changed by a failed write, strict and idempotent restore."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pty
import shutil
import subprocess
import tarfile
from pathlib import Path

import photos
import pytest
import yaml
from conftest import IN_CI, cli_command
from maintenance_support import add_photos, job_with_photos, master, master_hashes, old_stamp, run_cli

from jobgallery import db, storage
from jobgallery.config import load_config
from jobgallery.errors import ArchiveError
from jobgallery.maintenance import archive_format
from jobgallery.maintenance.archive import archive_path, idle_jobs, written_archive
from jobgallery.maintenance.archive_format import check_members


def index_html(config) -> str:
    return (config.paths.output / "index.html").read_text(encoding="utf-8")


def job_page(config, job: db.Job) -> str:
    return (config.paths.output / job.gallery_path() / "index.html").read_text(encoding="utf-8")


@pytest.fixture
def built_job(config, conn):
    """A live job with three real photos, on a built site."""
    job = job_with_photos(config, conn, count=3, title="Roof, 12 Elm St")
    result = run_cli(config, "build")
    assert result.returncode == 0, result.stderr
    return job


# ---------------------------------------------------------------- archive


def test_archive_moves_the_job_off_the_box_and_the_site(config, conn, built_job, tmp_path):
    job = built_job
    hashes = master_hashes(config, conn, job.id)
    assert 'href="jobs/' in index_html(config) and "Roof, 12 Elm St" in index_html(config)

    result = run_cli(config, "archive", "--job", str(job.id))

    assert result.returncode == 0, result.stderr
    target = archive_path(config, job.id)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"archived job {job.id} (3 photos, ") and lines[0].endswith(f"to {target}")
    assert lines[-1].startswith("archive: 1 job archived, 3 photos archived, ")
    assert not storage.job_folder(config.paths.data, job.id).exists()
    assert db.get_job(conn, job.id).archived
    assert "Roof, 12 Elm St" not in index_html(config)
    stub = job_page(config, job)
    assert "archived on" in stub and "<img" not in stub
    contents = archive_format.verify_archive(target)
    assert {name: digest for name, digest in contents.sums.items() if name.startswith("images/")} == {
        f"images/{name}": digest for name, digest in hashes.items()
    }
    assert os.listdir(config.paths.archive) == [target.name]
    checked_with_standard_tools(target, tmp_path / "unpacked")


def dead_pid() -> int:
    """The id of a process that has already exited."""
    process = subprocess.Popen(["true"])
    process.wait(timeout=10)
    return process.pid


def test_archive_also_removes_a_deleted_photos_master_and_crash_leftovers(config, conn, built_job):
    """A photo deleted over the API keeps its file until cleanup's grace period; archive takes it too."""
    job = built_job
    deleted = db.delete_image(conn, db.list_images(conn, job.id)[0].id)
    folder = storage.job_folder(config.paths.data, job.id)
    orphan = folder / deleted.filename
    leftover = folder / f"{storage.TEMP_PREFIX}{dead_pid()}-0a1b2c.jpg"
    leftover.write_bytes(b"half an upload")

    result = run_cli(config, "archive", "--job", str(job.id))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"removed orphan file {orphan}" in lines and f"removed temp file {leftover}" in lines
    assert lines[-1].startswith("archive: 1 job archived, 2 photos archived, ")
    assert "1 orphan file removed" in lines[-1] and "1 temp file removed" in lines[-1]
    assert not folder.exists()
    names = {name for name in archive_format.verify_archive(archive_path(config, job.id)).sums if "images/" in name}
    assert f"images/{deleted.filename}" not in names and len(names) == 2


def test_archive_keeps_the_temp_file_of_an_upload_still_running(config, conn, built_job):
    folder = storage.job_folder(config.paths.data, built_job.id)
    running = folder / f"{storage.TEMP_PREFIX}{os.getpid()}-0a1b2c"
    running.write_bytes(b"arriving")

    result = run_cli(config, "archive", "--job", str(built_job.id))

    assert result.returncode == 0, result.stderr
    assert f"kept {running}: the upload writing it is still running" in result.stdout.splitlines()
    assert os.listdir(folder) == [running.name]
    running.unlink()
    again = run_cli(config, "archive", "--job", str(built_job.id))
    assert again.returncode == 1 and "already archived" in again.stderr


def checked_with_standard_tools(archive: Path, folder: Path) -> None:
    """``tar`` and ``sha256sum -c`` alone can check an archive, years later, without jobgallery."""
    folder.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(folder)], check=True)
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_older_than_picks_idle_jobs_and_due_uses_the_setting(make_config):
    config = make_config(**{"maintenance.archive_after_days": 0})
    with db.open_db(config.db_path) as conn:
        first = job_with_photos(config, conn, count=1, title="First")
        second = job_with_photos(config, conn, count=1, title="Second", seed=10)
    assert run_cli(config, "archive", "--older-than", "30").stdout == "archive: nothing to do\n"

    result = run_cli(config, "archive", "--due")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("archive: 2 jobs archived, 2 photos archived")
    assert archive_path(config, first.id).is_file() and archive_path(config, second.id).is_file()


def test_progress_bar_on_a_terminal(config, conn, built_job):
    controller, terminal = pty.openpty()
    command = [*cli_command(), "--config", str(config.source), "archive", "--job", str(built_job.id)]
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=terminal, timeout=60)
        os.close(terminal)
        shown = read_all(controller)
    finally:
        os.close(controller)
    assert result.returncode == 0
    assert b"archive [" in shown and b"3/3" in shown


def read_all(fd: int) -> bytes:
    chunks = []
    with contextlib.suppress(OSError):
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_missing_master_fails_that_job_and_changes_nothing(config, conn, built_job):
    images = db.list_images(conn, built_job.id)
    master(config, images[0]).unlink()

    result = run_cli(config, "archive", "--job", str(built_job.id))

    assert result.returncode == 1
    assert f"job {built_job.id}: master " in result.stderr and "is missing" in result.stderr
    assert not db.get_job(conn, built_job.id).archived
    assert all(master(config, image).exists() for image in images[1:])
    assert not config.paths.archive.exists() or os.listdir(config.paths.archive) == []


def test_an_upload_during_the_write_keeps_the_job_live(config, conn):
    job = job_with_photos(config, conn, count=2)
    archived_set = {image.id for image in db.list_images(conn, job.id)[:1]}
    assert not db.archive_if_unchanged(conn, job.id, archived_set, db.now_iso())
    assert not db.get_job(conn, job.id).archived


# ---------------------------------------------------------------- a write that fails


@contextlib.contextmanager
def failing_folder(path: Path, kind: str):
    """A folder where writing fails: a 64 KiB tmpfs (full disk) or a read-only one; needs root to mount."""
    path.mkdir()
    options = "size=64k" if kind == "full" else "size=64k,ro"
    mount = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)]
    mounted = os.geteuid() == 0 and subprocess.run(mount).returncode == 0
    if not mounted and kind == "read-only":
        path.chmod(0o555)
    elif not mounted and IN_CI:
        pytest.fail("mounting a tiny tmpfs needs root")
    elif not mounted:
        pytest.skip("mounting a tiny tmpfs needs root")
    try:
        yield path
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], check=True)
        path.chmod(0o755)


@pytest.mark.parametrize("kind", ["full", "read-only"])
def test_failed_archive_write_changes_nothing_live(make_config, tmp_path, kind):
    with failing_folder(tmp_path / "usb", kind) as usb:
        config = make_config(**{"paths.archive": str(usb)})
        with db.open_db(config.db_path) as conn:
            job = job_with_photos(config, conn, count=3, size=(800, 600))
            rows = db.list_images(conn, job.id)
            hashes = master_hashes(config, conn, job.id)
            assert run_cli(config, "build").returncode == 0
            page = job_page(config, job)

            result = run_cli(config, "archive", "--job", str(job.id))

            assert result.returncode == 1
            expected = "No space left on device" if kind == "full" else "Read-only file system"
            if not (kind == "read-only" and os.geteuid() != 0):
                assert expected in result.stderr, result.stderr
            assert os.listdir(usb) == [], "no partial or temp file is left on the drive"
            assert not db.get_job(conn, job.id).archived
            assert db.list_images(conn, job.id) == rows
            assert master_hashes(config, conn, job.id) == hashes
            assert job_page(config, job) == page and "Roof, 12 Elm St" in index_html(config)


# ---------------------------------------------------------------- restore


def test_restore_brings_back_identical_masters_and_rows(config, conn, built_job):
    job = built_job
    hashes = master_hashes(config, conn, job.id)
    rows = db.list_images(conn, job.id)
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0

    result = run_cli(config, "restore", str(archive_path(config, job.id)))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "restore: 1 job restored, 3 masters written"
    assert master_hashes(config, conn, job.id) == hashes
    assert db.list_images(conn, job.id) == rows
    assert not db.get_job(conn, job.id).archived
    assert "Roof, 12 Elm St" in index_html(config)
    assert job_page(config, job).count('loading="lazy"') == 3


def test_restoring_twice_is_harmless(config, conn, built_job):
    job = built_job
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    archive = str(archive_path(config, job.id))
    assert run_cli(config, "restore", archive).returncode == 0
    folder = storage.job_folder(config.paths.data, job.id)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    rows = db.list_images(conn, job.id)

    again = run_cli(config, "restore", archive)

    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "restore: 1 job restored, 3 masters already present"
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert db.list_images(conn, job.id) == rows


def other_box(tmp_path: Path):
    folder = tmp_path / "other-box"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({"paths": {"data": "data"}}), encoding="utf-8")
    return load_config(str(folder / "config.yaml"))


def test_restore_on_a_new_box_keeps_the_original_ids(make_config, tmp_path):
    config = make_config()
    with db.open_db(config.db_path) as conn:
        db.create_job(conn, "Stays here")
        job = job_with_photos(config, conn, count=2, title="Moves away")
        rows = db.list_images(conn, job.id)
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    fresh = other_box(tmp_path)

    result = run_cli(fresh, "restore", str(archive_path(config, job.id)))

    assert result.returncode == 0, result.stderr
    with db.open_db(fresh.db_path) as conn:
        assert db.list_images(conn, job.id) == rows
        assert db.get_job(conn, job.id).title == "Moves away"
        assert db.create_job(conn, "Next").id == job.id + 1


def test_restore_refuses_to_overwrite_a_different_job(make_config, tmp_path):
    config = make_config()
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=1, title="Archived here")
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    fresh = other_box(tmp_path)
    with db.open_db(fresh.db_path) as conn:
        db.create_job(conn, "Someone else's job")

    result = run_cli(fresh, "restore", str(archive_path(config, job.id)))

    assert result.returncode == 1 and "is another job" in result.stderr
    assert not storage.job_folder(fresh.paths.data, job.id).exists()


def test_finishing_an_archive_interrupted_after_the_mark(config, conn, built_job):
    """A crash after the job was marked archived left its masters: cleanup says so, archive finishes."""
    job = built_job
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    folder = storage.job_folder(config.paths.data, job.id)
    folder.mkdir()
    with tarfile.open(archive_path(config, job.id)) as tar:
        for member in tar.getmembers():
            if member.name.startswith("images/"):
                (folder / Path(member.name).name).write_bytes(tar.extractfile(member).read())
    assert "run 'jobgallery archive --job" in run_cli(config, "cleanup", "--dry-run").stdout

    result = run_cli(config, "archive", "--job", str(job.id))

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"finished archiving job {job.id}: removed 3 masters")
    assert not folder.exists()
    again = run_cli(config, "archive", "--job", str(job.id))
    assert again.returncode == 1 and "already archived" in again.stderr


# ---------------------------------------------------------------- hostile archives


def real_archive(config, conn) -> Path:
    job = job_with_photos(config, conn, count=1)
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    return archive_path(config, job.id)


def rewrite(source: Path, target: Path, extra: tarfile.TarInfo, data: bytes = b"") -> Path:
    """Copy an archive's members, add ``extra``, and list it in SHA256SUMS so only its nature is wrong."""
    with tarfile.open(source) as old, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as new:
        sums = old.extractfile("SHA256SUMS").read()
        for member in old.getmembers():
            if member.name != "SHA256SUMS":
                new.addfile(member, old.extractfile(member))
        if extra.isreg():
            extra.size = len(data)
            new.addfile(extra, io.BytesIO(data))
        else:
            new.addfile(extra)
        sums += f"{'0' * 64}  {extra.name}\n".encode()
        listing = tarfile.TarInfo("SHA256SUMS")
        listing.size = len(sums)
        new.addfile(listing, io.BytesIO(sums))
    return target


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


HOSTILE = {
    "upward": member("../../x"),
    "absolute": member("/tmp/jobgallery-evil"),
    "symlink": member("images/a.jpg", tarfile.SYMTYPE, "/etc/passwd"),
    "hardlink": member("images/b.jpg", tarfile.LNKTYPE, "manifest.json"),
    "device": member("images/c.jpg", tarfile.CHRTYPE),
    "hidden": member("images/.tmp-x.jpg"),
    "stray": member("notes.txt"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_are_refused(make_config, tmp_path, case):
    config = make_config()
    with db.open_db(config.db_path) as conn:
        source = real_archive(config, conn)
    fresh = other_box(tmp_path)
    bad = rewrite(source, tmp_path / f"{case}.tar", HOSTILE[case], b"evil")

    result = run_cli(fresh, "restore", str(bad))

    assert result.returncode == 1
    assert "refused" in result.stderr and "Traceback" not in result.stderr
    assert not fresh.paths.data.joinpath("images").exists()
    assert not (tmp_path / "x").exists() and not Path("/tmp/jobgallery-evil").exists()
    with db.open_db(fresh.db_path) as conn:
        assert db.list_jobs(conn) == []


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_are_refused_by_a_python_without_tarfiles_filter(case, monkeypatch):
    """Debian 12's Python 3.11.2 predates ``tarfile.data_filter`` (3.11.4): our own checks must hold alone."""
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    with pytest.raises(ArchiveError, match="refused"):
        check_members([member("manifest.json"), HOSTILE[case]])


def test_a_damaged_archive_is_refused(make_config, tmp_path):
    config = make_config()
    with db.open_db(config.db_path) as conn:
        source = real_archive(config, conn)
    damaged = tmp_path / "damaged.tar"
    shutil.copy(source, damaged)
    data = bytearray(damaged.read_bytes())
    data[2048] ^= 0xFF  # inside the first master's bytes
    damaged.write_bytes(bytes(data))
    fresh = other_box(tmp_path)

    result = run_cli(fresh, "restore", str(damaged))

    assert result.returncode == 1 and "checksum mismatch" in result.stderr
    assert not fresh.paths.data.joinpath("images").exists()


# ---------------------------------------------------------------- an archive file already there


def box(tmp_path: Path, name: str, archive: Path):
    """A box of its own whose archive folder is ``archive`` (a drive moved from box to box)."""
    folder = tmp_path / name
    folder.mkdir()
    settings = {"paths": {"data": "data", "output": "output", "archive": str(archive)}}
    (folder / "config.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return load_config(str(folder / "config.yaml"))


def test_an_archive_of_another_job_with_the_same_id_is_kept(tmp_path):
    drive = tmp_path / "usb"
    old_box, new_box = box(tmp_path, "old", drive), box(tmp_path, "rebuilt", drive)
    with db.open_db(old_box.db_path) as conn:
        old_job = job_with_photos(old_box, conn, count=1, title="Old roof")
    assert run_cli(old_box, "archive", "--job", str(old_job.id)).returncode == 0
    first = archive_path(old_box, old_job.id)
    kept = first.read_bytes()
    with db.open_db(new_box.db_path) as conn:
        new_job = job_with_photos(new_box, conn, count=2, title="New kitchen", seed=20)
    assert new_job.id == old_job.id

    result = run_cli(new_box, "archive", "--job", str(new_job.id))

    assert result.returncode == 0, result.stderr
    second = drive / f"job_{new_job.id}-2.tar"
    assert f"kept {first}: it holds another job ('Old roof'" in result.stdout
    assert f"writing job {new_job.id}'s archive to {second} instead" in result.stdout
    assert first.read_bytes() == kept
    assert archive_format.verify_archive(second).job.token == new_job.token
    assert sorted(os.listdir(drive)) == sorted([first.name, second.name])
    with db.open_db(new_box.db_path) as conn:
        assert written_archive(new_box, db.get_job(conn, new_job.id)) == second
    with db.open_db(old_box.db_path) as conn:
        assert written_archive(old_box, db.get_job(conn, old_job.id)) == first


def test_an_archive_with_photos_the_job_no_longer_has_is_kept(config, conn):
    job = job_with_photos(config, conn, count=4, title="Four photos")
    target = archive_path(config, job.id)
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    assert run_cli(config, "restore", str(target)).returncode == 0
    again = run_cli(config, "archive", "--job", str(job.id))
    assert again.returncode == 0, again.stderr
    assert "kept" not in again.stdout and os.listdir(config.paths.archive) == [target.name], "same photos: replaced"
    assert run_cli(config, "restore", str(target)).returncode == 0
    for image in db.list_images(conn, job.id)[:2]:
        db.delete_image(conn, image.id)  # as if the box came back from a backup older than two uploads
    four = target.read_bytes()

    result = run_cli(config, "archive", "--job", str(job.id))

    assert result.returncode == 0, result.stderr
    second = target.with_name(f"job_{job.id}-2.tar")
    assert f"kept {target}: it holds 2 photos this job no longer has; writing" in result.stdout
    assert target.read_bytes() == four and len(archive_format.verify_archive(target).images) == 4
    assert len(archive_format.verify_archive(second).images) == 2
    assert db.get_job(conn, job.id).archived


def test_archive_removes_temp_files_of_dead_writers_from_the_archive_folder(config, conn):
    job = job_with_photos(config, conn, count=1)
    config.paths.archive.mkdir(parents=True, exist_ok=True)
    dead = config.paths.archive / f"{storage.TEMP_PREFIX}{dead_pid()}-0a1b2c.tar"
    alive = config.paths.archive / f"{storage.TEMP_PREFIX}{os.getpid()}-3d4e5f.tar"
    for path in (dead, alive):
        path.write_bytes(b"half an archive")

    result = run_cli(config, "archive", "--job", str(job.id))

    assert result.returncode == 0, result.stderr
    assert f"removed temp file {dead}" in result.stdout.splitlines()
    assert not dead.exists() and alive.exists()
    assert sorted(os.listdir(config.paths.archive)) == sorted([alive.name, archive_path(config, job.id).name])


def test_a_restored_job_is_not_archived_again_by_the_next_due_run(make_config):
    config = make_config(**{"maintenance.archive_after_days": 30})
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=2, size=(64, 48))
        year_ago = old_stamp(24 * 365)
        conn.execute("UPDATE job SET created_at = ?", (year_ago,))  # a job last touched a year ago
        conn.execute("UPDATE job_image SET timestamp = ?", (year_ago,))
    first = run_cli(config, "archive", "--due")
    assert first.returncode == 0 and first.stdout.splitlines()[-1].startswith("archive: 1 job archived"), first.stderr
    assert run_cli(config, "restore", str(archive_path(config, job.id))).returncode == 0

    again = run_cli(config, "archive", "--due")

    assert again.returncode == 0, again.stderr
    assert again.stdout == "archive: nothing to do\n"
    with db.open_db(config.db_path) as conn:
        assert not db.get_job(conn, job.id).archived
        assert [idle.id for idle in idle_jobs(conn, 0)] == [job.id], "restored long enough ago, it is idle again"


def test_restore_after_the_box_came_back_from_an_older_backup(tmp_path):
    """Photo ids used again since the backup: clashing photos come back under fresh ids, known bytes are skipped."""
    drive = tmp_path / "usb"
    old_box = box(tmp_path, "old", drive)
    with db.open_db(old_box.db_path) as conn:
        job = job_with_photos(old_box, conn, count=2, title="Long job")
    assert run_cli(old_box, "backup", str(tmp_path / "backup")).returncode == 0
    with db.open_db(old_box.db_path) as conn:
        later = add_photos(old_box, conn, job.id, 2, seed=2)
        archived = master_hashes(old_box, conn, job.id)
    assert run_cli(old_box, "archive", "--job", str(job.id)).returncode == 0
    new_box = box(tmp_path, "rebuilt", drive)
    shutil.copytree(tmp_path / "backup", new_box.paths.data)
    with db.open_db(new_box.db_path) as conn:
        other = job_with_photos(new_box, conn, count=2, title="Other job", seed=50)
        taken = db.list_images(conn, other.id)
        again = add_photos(new_box, conn, job.id, 1, seed=3)[0]  # photo 4's bytes, uploaded once more
    assert {image.id for image in taken} == {image.id for image in later} and again.id != later[1].id

    result = run_cli(new_box, "restore", str(archive_path(old_box, job.id)))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    with db.open_db(new_box.db_path) as conn:
        rows = {image.filename: image for image in db.list_images(conn, job.id)}
        assert db.list_images(conn, other.id) == taken
        hashes = master_hashes(new_box, conn, job.id)
    moved = rows[later[0].filename]
    assert f"photo {later[0].id} ({later[0].filename}) comes back as photo {moved.id}: its id is another's now" in lines
    assert f"skipped photo {later[1].id} ({later[1].filename}): the job has it as photo {again.id}" in lines
    assert lines[-1] == (
        "restore: 1 photo already there, 1 photo given a new id, 1 job restored, 1 master written,"
        " 2 masters already present"
    )
    assert moved.id not in {image.id for image in [*taken, again]} and moved.sha256 == later[0].sha256
    assert set(rows) == set(archived) - {later[1].filename} | {again.filename} and rows[again.filename] == again
    assert all(hashes[name] == digest for name, digest in archived.items() if name != later[1].filename)


def test_restore_gives_a_photo_whose_name_was_taken_a_new_name(config, conn):
    job = job_with_photos(config, conn, count=1)
    photo = db.list_images(conn, job.id)[0]
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    other_bytes = photos.jpeg_bytes(64, 48, seed=99)
    db.delete_image(conn, photo.id)  # since the archive, another photo took its name
    storage.atomic_write(master(config, photo), other_bytes)
    namesake = db.insert_image(
        conn,
        job_id=job.id,
        filename=photo.filename,
        sha256=hashlib.sha256(other_bytes).hexdigest(),
        byte_size=len(other_bytes),
        width=64,
        height=48,
    )

    result = run_cli(config, "restore", str(archive_path(config, job.id)))

    assert result.returncode == 0, result.stderr
    renamed = photo.filename.removesuffix(".jpg") + "-2.jpg"
    assert f"photo {photo.id} ({photo.filename}) comes back as {renamed}: another photo of the job has its name" in (
        result.stdout.splitlines()
    )
    rows = {image.id: image for image in db.list_images(conn, job.id)}
    assert rows[namesake.id] == namesake and rows[photo.id].filename == renamed
    assert master(config, namesake).read_bytes() == other_bytes
    assert hashlib.sha256(master(config, rows[photo.id]).read_bytes()).hexdigest() == photo.sha256
