"""The database: migrations, records, and two processes writing at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import cli_command

from jobgallery import db
from jobgallery.errors import NotFound


def test_migrates_an_empty_file_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "data" / "jobgallery.db"
    path.parent.mkdir()
    path.touch()
    with db.open_db(path) as conn:
        assert db.schema_version(conn) == len(db.MIGRATIONS)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"job", "job_image", "user"} <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        job = db.create_job(conn, "Roof")
    with db.open_db(path) as conn:
        assert db.schema_version(conn) == len(db.MIGRATIONS)
        assert db.get_job(conn, job.id).title == "Roof"


def test_job_image_has_the_seed_columns_and_the_product_ones(conn: sqlite3.Connection) -> None:
    columns = {row["name"] for row in conn.execute("PRAGMA table_info(job_image)")}
    seed = {"id", "job_id", "filename", "description", "timestamp", "location", "tags"}
    product = {"sha256", "byte_size", "width", "height", "taken_at", "uploaded_by", "compressed_at"}
    assert seed | product <= columns


def add_image(conn: sqlite3.Connection, job_id: int, name: str, **extra) -> db.Image:
    values = {"sha256": name * 8, "byte_size": 10, "width": 4, "height": 3} | extra
    return db.insert_image(conn, job_id=job_id, filename=f"{name}.jpg", **values)


def test_images_order_by_capture_time_then_id(conn: sqlite3.Connection) -> None:
    job = db.create_job(conn, "Kitchen")
    late = add_image(conn, job.id, "b", taken_at="2026-05-02T10:00:00")
    early = add_image(conn, job.id, "a", taken_at="2026-05-01T10:00:00")
    assert [i.id for i in db.list_images(conn, job.id)] == [early.id, late.id]
    assert db.get_job(conn, job.id).image_count == 2


def test_same_bytes_twice_in_one_job_is_refused_by_the_schema(conn: sqlite3.Connection) -> None:
    job = db.create_job(conn, "Deck")
    add_image(conn, job.id, "a")
    with pytest.raises(sqlite3.IntegrityError):
        add_image(conn, job.id, "other", sha256="a" * 8)
    assert db.find_by_hash(conn, job.id, "a" * 8).filename == "a.jpg"


def test_tags_are_normalized(conn: sqlite3.Connection) -> None:
    job = db.create_job(conn, "Fence")
    image = add_image(conn, job.id, "a", tags=" north , , gate,north ")
    assert image.tags == "north,gate"
    assert image.tag_list == ["north", "gate"]


def test_archived_jobs_are_not_live(conn: sqlite3.Connection) -> None:
    job = db.create_job(conn, "Old barn")
    db.set_archived(conn, job.id, db.now_iso())
    assert db.get_job(conn, job.id).archived
    with pytest.raises(NotFound, match="archived"):
        db.get_job(conn, job.id, live=True)
    assert db.list_jobs(conn, live_only=True) == []
    with pytest.raises(NotFound, match="does not exist"):
        db.get_job(conn, 999)


def test_gallery_path_hides_the_job_behind_a_token_when_the_index_is_private(conn: sqlite3.Connection) -> None:
    job = db.create_job(conn, "Garage, 12 Elm St")
    assert job.gallery_path(True) == f"jobs/{job.id}-garage-12-elm-st/"
    private = job.gallery_path(False)
    assert private.startswith(f"jobs/{job.id}-") and private.endswith("/")
    assert job.token in private and len(job.token) >= 24


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from jobgallery import db
    conn = db.connect(Path(sys.argv[1]))
    for n in range(int(sys.argv[2])):
        job = db.create_job(conn, f"writer {n}")
        db.insert_image(conn, job_id=job.id, filename=f"{n}.jpg", sha256=f"{n:064x}", byte_size=1, width=1, height=1)
    """
)


def test_cli_and_another_process_write_at_once_without_lock_errors(config, tmp_path: Path) -> None:
    with db.open_db(config.db_path):
        pass
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(config.db_path), "60"], stderr=subprocess.PIPE)
    cli = [*cli_command(), "--config", str(config.source), "job", "add"]
    results = [subprocess.run([*cli, f"cli {n}"], capture_output=True, text=True) for n in range(15)]
    _, writer_errors = writer.communicate(timeout=120)
    assert writer.returncode == 0, writer_errors.decode()
    assert all(r.returncode == 0 and r.stdout.strip().isdigit() for r in results), [r.stderr for r in results]
    with db.open_db(config.db_path) as conn:
        assert len(db.list_jobs(conn)) == 75
        assert conn.execute("SELECT COUNT(*) FROM job_image").fetchone()[0] == 60


@pytest.mark.parametrize("huge", [0, -1, 2**63, 10**40])
def test_ids_sqlite_cannot_hold_name_nothing(conn: sqlite3.Connection, huge: int) -> None:
    with pytest.raises(NotFound):
        db.get_job(conn, huge)
    with pytest.raises(NotFound):
        db.get_image(conn, huge)
