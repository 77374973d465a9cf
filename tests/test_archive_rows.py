"""Hostile rows inside a well-formed archive, and crafted rows in the database: nothing leaves its folder.

Each archive here is a real one made by ``jobgallery archive``, with one field
of its manifest changed and its checksums recomputed, so only the row is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest
import yaml
from maintenance_support import job_with_photos, run_cli

from jobgallery import db
from jobgallery.config import load_config
from jobgallery.maintenance.archive import archive_path

ESCAPE = "x/../../../data"


def real_archive(config) -> Path:
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=1)
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    return archive_path(config, job.id)


def recomputed(source: Path, target: Path, change) -> Path:
    """Copy an archive with ``change(manifest)`` applied to its manifest and SHA256SUMS made to match again."""
    with tarfile.open(source) as old:
        manifest = json.loads(old.extractfile("manifest.json").read())
        masters = [old.extractfile(f"images/{image['filename']}").read() for image in manifest["images"]]
    change(manifest)
    members = {f"images/{image['filename']}": data for image, data in zip(manifest["images"], masters, strict=True)}
    members["manifest.json"] = json.dumps(manifest).encode()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in members.items())
    members["SHA256SUMS"] = sums.encode()
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return target


def set_job(field: str, value):
    return lambda manifest: manifest["job"].__setitem__(field, value)


def set_photo(field: str, value):
    return lambda manifest: manifest["images"][0].__setitem__(field, value)


HOSTILE_ROWS = {
    "token upward": set_job("token", ESCAPE),
    "token absolute": set_job("token", "/etc"),
    "token with NUL": set_job("token", "a" * 23 + "\0"),
    "token over-long": set_job("token", "a" * 5000),
    "token fullwidth digits": set_job("token", "０" * 24),
    "slug upward": set_job("slug", "../../../data"),
    "slug into another job's masters": set_job("slug", "x/../../../data/images/job_2"),
    "slug with slash": set_job("slug", "a/b"),
    "slug dot-dot alone": set_job("slug", ".."),
    "slug division slash": set_job("slug", "a\u2215b"),
    "slug not text": set_job("slug", ["a"]),
    "job id text": set_job("id", "1"),
    "job id bool": set_job("id", True),
    "job id negative": set_job("id", -4),
    "title empty": set_job("title", "   "),
    "title control": set_job("title", "Roof\x1b[2J"),
    "title bidi override": set_job("title", "Roof \u202egpj.exe"),
    "title over-long": set_job("title", "R" * 10_000),
    "created_at not a date": set_job("created_at", "yesterday"),
    "archived_at not a date": lambda m: m.__setitem__("archived_at", "<script>"),
    "filename upward": set_photo("filename", "../../../x.jpg"),
    "filename absolute": set_photo("filename", "/tmp/x.jpg"),
    "filename hidden": set_photo("filename", ".tmp-1-x.jpg"),
    "filename unicode slash": set_photo("filename", "a\u2215b.jpg"),
    "filename NUL": set_photo("filename", "a\0.jpg"),
    "filename over-long": set_photo("filename", "a" * 300 + ".jpg"),
    "description control": set_photo("description", "ok\x07"),
    "description over-long": set_photo("description", "d" * 100_000),
    "tags too many": set_photo("tags", ",".join(f"t{n}" for n in range(500))),
    "tag control": set_photo("tags", "roof,\x1bred"),
    "sha256 not hex": set_photo("sha256", "z" * 64),
    "width negative": set_photo("width", -1),
    "byte_size text": set_photo("byte_size", "10"),
    "taken_at not a date": set_photo("taken_at", "1'; DROP TABLE job; --"),
    "location not a place": set_photo("location", "<img src=x>"),
    "uploaded_by with colon": set_photo("uploaded_by", "crew:admin"),
    "photo of another job": set_photo("job_id", 999),
    "photo id huge": set_photo("id", 2**70),
}


def fresh_box(tmp_path: Path):
    """A second box with private job paths (``public_index: false``) and an empty database."""
    folder = tmp_path / "fresh-box"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({"gallery": {"public_index": False}}), encoding="utf-8")
    config = load_config(str(folder / "config.yaml"))
    assert run_cli(config, "build").returncode == 0
    return config


@pytest.mark.parametrize("case", sorted(HOSTILE_ROWS))
def test_restore_refuses_a_hostile_row_and_changes_nothing(make_config, tmp_path, case):
    crafted = recomputed(real_archive(make_config()), tmp_path / "crafted.tar", HOSTILE_ROWS[case])
    fresh = fresh_box(tmp_path)
    before = snapshot(fresh.paths.data.parent)

    result = run_cli(fresh, "restore", str(crafted))

    assert result.returncode == 1, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert snapshot(fresh.paths.data.parent) == before
    assert run_cli(fresh, "build").returncode == 0 and fresh.db_path.is_file()


def test_an_untouched_recomputed_archive_still_restores(make_config, tmp_path):
    """The rewriting above changes nothing by itself: the refusals are about the rows."""
    copy = recomputed(real_archive(make_config()), tmp_path / "same.tar", lambda manifest: None)
    fresh = fresh_box(tmp_path)
    result = run_cli(fresh, "restore", str(copy))
    assert result.returncode == 0, result.stderr
    assert run_cli(fresh, "build").returncode == 0 and fresh.db_path.is_file()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the archive drive aside) and its bytes, the database's rows included."""
    files = {}
    for path in sorted(folder.rglob("*")):
        skipped = path.suffix in (".db-wal", ".db-shm", ".tar", ".lock")
        if path.is_file() and not skipped:
            files[str(path.relative_to(folder))] = path.read_bytes() if path.suffix != ".db" else b"db"
    with sqlite3.connect(folder / "data" / "jobgallery.db") as conn:
        files["rows"] = repr(conn.execute("SELECT * FROM job").fetchall()).encode()
        files["photos"] = repr(conn.execute("SELECT * FROM job_image").fetchall()).encode()
    return files


# ---------------------------------------------------------------- rows crafted straight into SQLite


def crafted_row(config, column: str, value: str) -> db.Job:
    """A live job with a photo whose ``column`` is set to ``value`` behind the program's back."""
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=1)
    with sqlite3.connect(config.db_path) as raw:
        raw.execute(f"UPDATE job SET {column} = ? WHERE id = ?", (value, job.id))
    return job


@pytest.mark.parametrize(
    ("column", "value", "public"),
    [
        ("token", ESCAPE, False),
        ("slug", ESCAPE, True),
        ("slug", "x/../../../data/images/job_1", True),
        ("token", "/etc", False),
        ("slug", "x\0y", True),
    ],
)
def test_the_build_never_leaves_output_whatever_a_row_says(make_config, column, value, public):
    config = make_config(gallery__public_index=public)
    crafted_row(config, column, value)
    other = job_with_photos_in(config)
    before = data_files(config)

    result = run_cli(config, "build", "--full")

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "refused" in result.stderr or "not a plain name" in result.stderr
    assert config.db_path.is_file()
    assert data_files(config) == before and storage_job_folder(config, other).is_dir()
    assert not any(path.name == "index.html" for path in config.paths.data.rglob("*"))


def data_files(config) -> dict[Path, bytes]:
    """The masters under ``data/`` and their bytes (the database and its lock are checked apart)."""
    return {path: path.read_bytes() for path in (config.paths.data / "images").rglob("*") if path.is_file()}


def job_with_photos_in(config) -> int:
    with db.open_db(config.db_path) as conn:
        return job_with_photos(config, conn, count=1, title="Other job").id


def storage_job_folder(config, job_id: int) -> Path:
    return config.paths.data / "images" / f"job_{job_id}"
