"""Hostile rows inside a well-formed archive, and crafted rows in the database: nothing leaves its folder.

Each archive here is a real one made by ``jobgallery archive``, with one field
of its manifest changed and its checksums recomputed, so only the row is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import subprocess
import tarfile
import time
from pathlib import Path

import photos
import pytest
import structure_support
import yaml
from maintenance_support import job_with_photos, run_cli

from jobgallery import db, storage
from jobgallery.config import load_config
from jobgallery.ingest import ingest_path
from jobgallery.maintenance.archive import archive_path

ESCAPE = "x/../../../data"


def real_archive(config) -> Path:
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=1)
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    return archive_path(config, job.id)


def recomputed(source: Path, target: Path, change, master: bytes | None = None) -> Path:
    """Copy an archive with ``change(manifest)`` applied to its manifest and SHA256SUMS made to match again.

    ``master`` replaces the first photo's master bytes (its checksum is recomputed too).
    """
    with tarfile.open(source) as old:
        manifest = json.loads(old.extractfile("manifest.json").read())
        masters = [old.extractfile(f"images/{image['filename']}").read() for image in manifest["images"]]
    change(manifest)
    if master is not None:
        masters[0] = master
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
    "location source script": set_photo("location_source", "<script>" + "x" * 100_000),
    "location source without location": lambda m: m["images"][0].update(location=None, location_source="camera"),
    "location accuracy text": lambda m: m["images"][0].update(location_source="browser", location_accuracy_m="10"),
    "location accuracy negative": lambda m: m["images"][0].update(location_source="browser", location_accuracy_m=-1),
    "location accuracy beyond Earth": lambda m: m["images"][0].update(
        location_source="browser", location_accuracy_m=1e12
    ),
    "location accuracy bool": lambda m: m["images"][0].update(location_source="browser", location_accuracy_m=True),
    "location accuracy on camera GPS": set_photo("location_accuracy_m", 5.0),
    "latitude out of range": set_photo("location", "99.000000,13.400000"),
    "longitude out of range": set_photo("location", "52.500000,-181.000000"),
    "byte_size under the master's": set_photo("byte_size", 0),
    "timestamp before year 1 in UTC": set_photo("timestamp", "0001-01-01T00:00:00+05:00"),
    "timestamp after year 9999 in UTC": set_photo("timestamp", "9999-12-31T23:00:00-05:00"),
    "created_at before year 1 in UTC": set_job("created_at", "0001-01-01T00:00:00+14:00"),
}


def fresh_box(tmp_path: Path, **sections):
    """A second box with private job paths (``public_index: false``), ``sections`` of settings, an empty database."""
    folder = tmp_path / "fresh-box"
    folder.mkdir()
    settings = {"gallery": {"public_index": False}, **sections}
    (folder / "config.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
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


def refused_unchanged(fresh, crafted: Path) -> str:
    """Restore ``crafted`` on ``fresh``: exit 1, one line on stderr, nothing changed; return that line."""
    before = snapshot(fresh.paths.data.parent)
    result = run_cli(fresh, "restore", str(crafted))
    assert result.returncode == 1, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert snapshot(fresh.paths.data.parent) == before
    assert not any(storage.is_temp(path.name) for path in fresh.paths.data.rglob("*"))
    return result.stderr


def restored_rows(fresh) -> list[db.Image]:
    with db.open_db(fresh.db_path) as conn:
        return [image for job in db.list_jobs(conn) for image in db.list_images(conn, job.id)]


# ---------------------------------------------------------------- what a row says of its master


@pytest.mark.parametrize(
    "claims",
    [{"byte_size": 2**31 - 1}, {"width": 0, "height": 0}, {"width": 2**31 - 1, "height": 1}],
    ids=["byte_size huge", "no pixels", "width huge"],
)
def test_restore_recomputes_size_and_pixels_from_the_master(make_config, tmp_path, claims):
    config = make_config()
    crafted = recomputed(real_archive(config), tmp_path / "crafted.tar", lambda m: m["images"][0].update(claims))
    (original,) = restored_rows(config)
    fresh = fresh_box(tmp_path)

    assert run_cli(fresh, "restore", str(crafted)).returncode == 0
    (row,) = restored_rows(fresh)
    master = storage.master_path(fresh.paths.data, row.job_id, row.filename)
    assert (row.byte_size, row.width, row.height) == (master.stat().st_size, original.width, original.height)
    assert (row.width, row.height) == (480, 640)  # 640 x 480 stored, EXIF orientation 6


def test_a_row_claiming_another_photos_hash_cannot_turn_that_photo_away(make_config, tmp_path):
    """The forged hash is replaced by the master's: the real photo, uploaded later, is stored."""
    victim = photos.encoded("PNG", seed=7)
    claimed = hashlib.sha256(victim).hexdigest()
    crafted = recomputed(real_archive(make_config()), tmp_path / "crafted.tar", set_photo("sha256", claimed))
    fresh = fresh_box(tmp_path)

    result = run_cli(fresh, "restore", str(crafted))

    assert result.returncode == 0, result.stderr
    assert "master's hash" in result.stdout
    (row,) = restored_rows(fresh)
    assert (
        row.sha256
        == hashlib.sha256(storage.master_path(fresh.paths.data, row.job_id, row.filename).read_bytes()).hexdigest()
    )
    upload = tmp_path / "victim.png"
    upload.write_bytes(victim)
    with db.open_db(fresh.db_path) as conn:
        assert not ingest_path(fresh, conn, row.job_id, upload).duplicate
        assert len(db.list_images(conn, row.job_id)) == 2


def test_a_shrunk_master_comes_back_under_its_own_hash(make_config, tmp_path):
    """``master_max_px`` keeps the upload's hash on a smaller master: restore keeps the master's, and says so."""
    config = make_config(images__master_max_px=200)
    archive = real_archive(config)
    with tarfile.open(archive) as tar:
        (row,) = json.loads(tar.extractfile("manifest.json").read())["images"]
        master = tar.extractfile(f"images/{row['filename']}").read()
    assert row["sha256"] != hashlib.sha256(master).hexdigest() and row["byte_size"] == len(master)
    fresh = fresh_box(tmp_path)

    result = run_cli(fresh, "restore", str(archive))

    assert result.returncode == 0, result.stderr
    assert "master's hash" in result.stdout
    (restored,) = restored_rows(fresh)
    assert restored.sha256 == hashlib.sha256(master).hexdigest()
    assert (restored.width, restored.height) == (row["width"], row["height"]) == (150, 200)


# ---------------------------------------------------------------- masters are checked like uploads


def renamed(extension: str):
    return lambda m: m["images"][0].update(filename=m["images"][0]["filename"].rsplit(".", 1)[0] + extension)


def claiming_png(manifest) -> None:
    renamed(".png")(manifest)
    manifest["images"][0]["sha256"] = hashlib.sha256(photos.encoded("PNG", seed=7)).hexdigest()


HOSTILE_MASTERS = {
    "HTML as evil.png claiming a real PNG's hash": (claiming_png, b"<html><script>alert(1)</script></html>" * 40),
    "JPEG cut short": (lambda m: None, photos.jpeg_bytes(seed=3)[:4000]),
    "3000 JPEG scans": (lambda m: None, structure_support.scan_flood(3000, 1600, 1200)),
    "PNG named .jpg": (lambda m: None, photos.encoded("PNG", seed=3)),
    "empty": (lambda m: None, b""),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MASTERS))
def test_restore_refuses_a_master_that_is_no_image(make_config, tmp_path, case):
    change, master = HOSTILE_MASTERS[case]
    crafted = recomputed(real_archive(make_config()), tmp_path / "crafted.tar", change, master)
    fresh = fresh_box(tmp_path)

    line = refused_unchanged(fresh, crafted)

    assert "images/img_" in line


def test_restore_checks_masters_with_the_configs_limits(make_config, tmp_path):
    """The untouched archive of a 1200 x 900 photo, on a box that allows only 1,000,000 pixels."""
    config = make_config()
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=1, size=(1200, 900))
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    fresh = fresh_box(tmp_path, images={"max_pixels": 1_000_000})

    line = refused_unchanged(fresh, archive_path(config, job.id))

    assert "images/img_" in line and "pixels" in line


# ---------------------------------------------------------------- member sizes, before reading


@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_restore_refuses_a_sparse_member_before_reading_it(make_config, tmp_path, fmt):
    """10 KB of archive declaring a 100 MB master: refused from its header, nothing written."""
    source = real_archive(make_config())
    with tarfile.open(source) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    folder = tmp_path / "sparse"
    member = folder / "images" / manifest["images"][0]["filename"]
    member.parent.mkdir(parents=True)
    declared = 100 << 20
    with open(member, "wb") as handle:
        handle.write(photos.jpeg_bytes(seed=1))
        handle.truncate(declared)
    manifest["images"][0]["byte_size"] = declared
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    names = [f"images/{member.name}", "manifest.json"]
    sums = "".join(f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n" for name in names)
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8")
    crafted = tmp_path / "sparse.tar"
    subprocess.run(
        ["tar", "--sparse", f"--format={fmt}", "-C", folder, "-cf", crafted, *names, "SHA256SUMS"], check=True
    )
    assert crafted.stat().st_size < 64 << 10
    fresh = fresh_box(tmp_path)

    assert "sparse" in refused_unchanged(fresh, crafted)


def test_restore_refuses_a_master_larger_than_an_upload_before_reading_it(make_config, tmp_path):
    padded = photos.jpeg_bytes(seed=1) + bytes(2 << 20)
    crafted = recomputed(real_archive(make_config()), tmp_path / "big.tar", set_photo("byte_size", len(padded)), padded)
    fresh = fresh_box(tmp_path, server={"max_upload_mb": 1})

    assert "larger than an upload" in refused_unchanged(fresh, crafted)


# ---------------------------------------------------------------- the build walks a master's structure first


def test_a_stored_master_with_thousands_of_scans_fails_its_photo_quickly(make_config):
    """An old master (or one restored before these checks) with 3,000 scans: the build names why, in seconds."""
    config = make_config()
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=2)
        flooded = db.list_images(conn, job.id)[0]
    storage.master_path(config.paths.data, job.id, flooded.filename).write_bytes(structure_support.scan_flood(3000))

    started = time.monotonic()
    result = run_cli(config, "build", "--full")
    elapsed = time.monotonic() - started

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert flooded.filename in result.stderr + result.stdout and "scans" in result.stderr + result.stdout
    assert elapsed < 15, f"build took {elapsed:.1f} s"


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
