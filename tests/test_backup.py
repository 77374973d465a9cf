"""Backup: a consistent database snapshot plus the masters it names, copied incrementally, checkable."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import photos
from daemon_support import FilePart, basic, running_daemon, upload
from maintenance_support import add_photos, job_with_photos, master, run_cli, sha256

from jobgallery import db, users
from jobgallery.maintenance.backup import relative_master


def backup_rows(dest: Path) -> list[db.Image]:
    conn = sqlite3.connect(f"file:{dest / 'jobgallery.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete", "a standalone file, no WAL beside it"
        return db.live_images(conn)
    finally:
        conn.close()


def backed_up_masters(dest: Path) -> set[str]:
    return {p.relative_to(dest).as_posix() for p in (dest / "images").rglob("*") if p.is_file()}


def assert_backup_matches(config, dest: Path) -> list[db.Image]:
    """Every row in the copied database has its master in the copy, byte for byte; nothing else is there."""
    rows = backup_rows(dest)
    for image in rows:
        copy = dest / relative_master(image)
        assert copy.stat().st_size == image.byte_size
        assert sha256(copy) == sha256(master(config, image))
    assert backed_up_masters(dest) == {relative_master(image) for image in rows}
    return rows


def test_incremental_copies_only_what_changed(make_config, tmp_path):
    config = make_config(**{"maintenance.orphan_grace_minutes": 0})
    dest = tmp_path / "usb" / "backups" / "box"
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=3, quality=95)

        first = run_cli(config, "backup", str(dest))
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines()[-1].startswith("backup: 3 masters copied, 1 database copied, ")
        assert len(assert_backup_matches(config, dest)) == 3
        stamps = {name: (dest / name).stat().st_mtime_ns for name in backed_up_masters(dest)}

        second = run_cli(config, "backup", str(dest))
        assert second.stdout.splitlines()[-1] == "backup: 3 masters unchanged, 1 database copied"
        assert {name: (dest / name).stat().st_mtime_ns for name in stamps} == stamps

        added = add_photos(config, conn, job.id, 1, seed=50)[0]
        third = run_cli(config, "backup", str(dest))
        assert f"copied {master(config, added)} (" in third.stdout
        assert third.stdout.splitlines()[-1].startswith("backup: 3 masters unchanged, 1 master copied, ")

        assert run_cli(config, "compress", "--older-than", "0").returncode == 0
        gone = db.list_images(conn, job.id)[0]
        db.delete_image(conn, gone.id)
        assert run_cli(config, "cleanup").returncode == 0
        fourth = run_cli(config, "backup", str(dest), "--verify")
        assert fourth.returncode == 0, fourth.stderr
        assert fourth.stdout.splitlines()[-1].startswith(
            "backup: 3 masters copied, 1 database copied, 1 old master removed, 3 masters verified, "
        )
        assert len(assert_backup_matches(config, dest)) == 3


def test_verify_finds_a_copy_that_rotted_on_the_drive(config, conn, tmp_path):
    job_with_photos(config, conn, count=2)
    dest = tmp_path / "backup"
    assert run_cli(config, "backup", str(dest)).returncode == 0
    victim = dest / sorted(backed_up_masters(dest))[0]
    info = victim.stat()
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(info.st_atime_ns, info.st_mtime_ns))  # same size and mtime: the copy looks unchanged

    result = run_cli(config, "backup", str(dest), "--verify")

    assert result.returncode == 1
    live = config.paths.data / victim.relative_to(dest)
    assert (
        f"jobgallery: {victim}: checksum differs from the one recorded when it was copied; repaired from {live}\n"
        in result.stderr
    )
    assert f"repaired {victim} from {live}" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == (
        "backup: 2 masters unchanged, 1 database copied, 1 master repaired, 1 master verified; 1 failed"
    )
    assert sha256(victim) == sha256(live)
    assert_backup_matches(config, dest)
    again = run_cli(config, "backup", str(dest), "--verify")
    assert again.returncode == 0, again.stderr
    assert "2 masters unchanged" in again.stdout and "2 masters verified" in again.stdout


def test_backup_while_the_daemon_takes_uploads_is_consistent(config, conn, tmp_path):
    job = db.create_job(conn, "Busy day")
    users.add_user(conn, "crew", "crew-pass-1", admin=False)
    dest = tmp_path / "backup"
    stop = threading.Event()
    answers: list[int] = []

    def keep_uploading(url: str) -> None:
        seed = 0
        while not stop.is_set() and seed < 400:
            part = FilePart(f"p{seed}.jpg", photos.jpeg_bytes(320, 240, seed=1000 + seed), content_type="image/jpeg")
            answers.append(upload(f"{url}/api/jobs/{job.id}/images", [part], basic("crew", "crew-pass-1")).status)
            seed += 1

    with running_daemon(config.source) as daemon:
        uploader = threading.Thread(target=keep_uploading, args=(daemon.url,))
        uploader.start()
        try:
            seen = []
            for _ in range(3):
                while len(answers) < 5 + 5 * len(seen):
                    time.sleep(0.02)
                result = run_cli(config, "backup", str(dest))
                assert result.returncode == 0, result.stderr
                seen.append(len(assert_backup_matches(config, dest)))
        finally:
            stop.set()
            uploader.join(timeout=60)
        assert set(answers) == {201}
        assert seen == sorted(seen) and seen[0] >= 5, "each backup holds what was uploaded before it"
        final = run_cli(config, "backup", str(dest), "--verify")
        assert final.returncode == 0, final.stderr
        assert len(assert_backup_matches(config, dest)) == len(answers)


def test_refuses_a_destination_inside_the_live_folders(config):
    for dest in (config.paths.data, config.paths.data / "backup", config.paths.output / "b"):
        result = run_cli(config, "backup", str(dest))
        assert result.returncode == 2 and "must be outside" in result.stderr
    assert not (config.paths.data / "backup").exists()
