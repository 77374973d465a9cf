"""``backup s3://...`` and ``restore-box``: a whole box into a real S3-compatible server (moto) and back.

The round trip must give the same rows and the same masters byte for byte,
and a build from the restored folder the same site. Every byte read back
from the bucket is treated as hostile: each kind of tampering below must
stop the restore with one line and leave the target folder empty.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from maintenance_support import add_photos, job_with_photos, run_cli
from s3_support import bucket_objects, publish_settings

from generator.build import build_site
from jobgallery import db, users

TODAY = date.today().isoformat()


@pytest.fixture
def box(s3, make_config):
    """A box with two jobs of photos, a user and a built site, publishing to a bucket of the test server."""
    config = make_config(**publish_settings(s3, s3.new_bucket("site")))
    with db.open_db(config.db_path) as conn:
        job_with_photos(config, conn, count=3)
        job_with_photos(config, conn, count=2, title="Kitchen, 4 Oak Rd", seed=10)
        users.add_user(conn, "maria", "a long enough password", admin=True)
    build_site(config)
    return config


@pytest.fixture
def vault(s3) -> str:
    """The backup's own bucket."""
    return s3.new_bucket("vault")


def backup(config, vault: str, *args: str) -> str:
    result = run_cli(config, "backup", f"s3://{vault}/depot-north", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


def restore(config, vault: str, target: Path):
    return run_cli(config, "restore-box", f"s3://{vault}/depot-north", str(target))


def rows(path: Path) -> list[str]:
    """Every row, but the record of runs: the backup's own is written after its snapshot (jobgallery/runs.py)."""
    conn = sqlite3.connect(path)
    try:
        return [line for line in conn.iterdump() if not line.startswith('INSERT INTO "run"') and "('run'," not in line]
    finally:
        conn.close()


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_backup_and_restore_give_the_same_rows_masters_and_site(s3, box, vault, make_config, tmp_path):
    assert backup(
        box, vault, "--verify"
    ) == "backup: 5 masters copied, 1 database copied, 5 masters verified" + backup_size(box)
    target = tmp_path / "new-box" / "data"

    result = restore(box, vault, target)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("restore-box: 5 masters restored")
    assert rows(target / "jobgallery.db") == rows(box.db_path)
    assert files(target / "images") == files(box.paths.data / "images")
    original = box.paths.output
    rebuilt = make_config(paths__data=str(target), paths__output=str(tmp_path / "new-box" / "output"))
    build_site(rebuilt)
    assert files(rebuilt.paths.output) == files(original)


def backup_size(config) -> str:
    """The summary's size part for every master of ``config``."""
    from jobgallery.maintenance.reports import human_size

    return f", {human_size(sum(len(data) for data in files(config.paths.data / 'images').values()))} copied"


def test_backup_is_incremental_and_keeps_masters_by_content(s3, box, vault):
    backup(box, vault)
    # each run records itself in the database, so today's earlier snapshot gives way to the new one
    assert backup(box, vault) == "backup: 5 masters unchanged, 1 database copied, 1 old database removed"
    with db.open_db(box.db_path) as conn:
        add_photos(box, conn, 1, 1, seed=70)
    assert backup(box, vault).startswith("backup: 5 masters unchanged, 1 master copied, 1 database copied")
    keys = bucket_objects(s3.client(), vault, "depot-north/")
    masters = {key.rsplit("/", 1)[1] for key in keys if "/masters/" in key}
    live = {hashlib.sha256(data).hexdigest() for data in files(box.paths.data / "images").values()}
    assert masters == live
    database = read_catalog(s3.client(), vault)["database"]["sha256"]
    assert {key for key in keys if "/masters/" not in key} == {
        f"depot-north/databases/{database}.db",
        f"depot-north/catalogs/{TODAY}.json",
    }


def test_a_tampered_hash_cache_is_not_believed(s3, box, vault):
    backup(box, vault)
    cache_path = box.paths.data / ".offsite-hashes.json"
    cache = json.loads(cache_path.read_text())
    for entry in cache.values():
        entry["sha256"] = "../../not-a-hash"
    cache_path.write_text(json.dumps(cache))
    # each run records itself in the database, so today's earlier snapshot gives way to the new one
    assert backup(box, vault) == "backup: 5 masters unchanged, 1 database copied, 1 old database removed"
    keys = bucket_objects(s3.client(), vault, "depot-north/")
    assert not [key for key in keys if "not-a-hash" in key]


def test_verify_finds_a_damaged_object_and_sends_it_again(s3, box, vault):
    backup(box, vault)
    client = s3.client()
    key = next(k for k in bucket_objects(client, vault, "depot-north/masters/"))
    good = client.get_object(Bucket=vault, Key=key)["Body"].read()
    client.put_object(Bucket=vault, Key=key, Body=bytes(len(good)))

    result = run_cli(box, "backup", f"s3://{vault}/depot-north", "--verify")

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "sent again" in result.stderr
    assert client.get_object(Bucket=vault, Key=key)["Body"].read() == good
    assert run_cli(box, "backup", f"s3://{vault}/depot-north", "--verify").returncode == 0


def test_old_days_and_the_masters_only_they_named_are_removed(s3, box, vault):
    backup(box, vault)
    client = s3.client()
    catalog = json.loads(client.get_object(Bucket=vault, Key=f"depot-north/catalogs/{TODAY}.json")["Body"].read())
    kept_day, old_day = (date.today() - timedelta(days=3)).isoformat(), "2000-01-01"
    for day in (kept_day, old_day):
        master, database = (hashlib.sha256(f"{what} of {day}".encode()).hexdigest() for what in ("master", "db"))
        client.put_object(Bucket=vault, Key=f"depot-north/masters/{master}", Body=b"m" * 9)
        client.put_object(Bucket=vault, Key=f"depot-north/databases/{database}.db", Body=b"d" * 9)
        named = dict(
            catalog,
            database={"sha256": database, "size": 9},
            masters={"images/job_9/x.jpg": {"sha256": master, "size": 9, "mtime_ns": 1}},
        )
        client.put_object(Bucket=vault, Key=f"depot-north/catalogs/{day}.json", Body=json.dumps(named).encode())

    assert backup(box, vault) == (
        "backup: 5 masters unchanged, 1 database copied, 1 old snapshot removed, 1 old master removed, "
        "2 old databases removed"  # the old day's and today's earlier snapshot
    )

    keys = set(bucket_objects(client, vault, "depot-north/"))
    for day, kept in ((kept_day, True), (old_day, False)):
        master, database = (hashlib.sha256(f"{what} of {day}".encode()).hexdigest() for what in ("master", "db"))
        assert (f"depot-north/catalogs/{day}.json" in keys) is kept
        assert (f"depot-north/masters/{master}" in keys) is kept
        assert (f"depot-north/databases/{database}.db" in keys) is kept


def test_a_master_that_cannot_be_read_keeps_the_last_whole_snapshot(s3, box, vault, tmp_path):
    backup(box, vault)
    client = s3.client()
    before = {key: client.get_object(Bucket=vault, Key=key)["Body"].read() for key in bucket_objects(client, vault)}
    old_rows, old_masters = rows(box.db_path), files(box.paths.data / "images")
    with db.open_db(box.db_path) as conn:
        users.add_user(conn, "piet", "another long password", admin=False)
    gone = sorted((box.paths.data / "images").rglob("*.*"))[0]
    gone.unlink()

    result = run_cli(box, "backup", f"s3://{vault}/depot-north")

    assert result.returncode == 1
    assert gone.name in result.stderr and "the last whole snapshot stays" in result.stderr
    after = {key: client.get_object(Bucket=vault, Key=key)["Body"].read() for key in bucket_objects(client, vault)}
    assert {key: after[key] for key in before} == before
    target = tmp_path / "data"
    assert restore(box, vault, target).returncode == 0
    assert rows(target / "jobgallery.db") == old_rows
    assert files(target / "images") == old_masters


def test_a_recompressed_master_is_restored(s3, box, vault, tmp_path):
    compressed = run_cli(box, "compress", "--older-than", "0")
    assert compressed.returncode == 0 and "recompressed" in compressed.stdout, compressed.stdout + compressed.stderr
    backup(box, vault)
    target = tmp_path / "data"
    assert restore(box, vault, target).returncode == 0
    assert files(target / "images") == files(box.paths.data / "images")


def test_archived_jobs_are_backed_up_once_kept_and_restored(s3, box, vault, tmp_path):
    archived = run_cli(box, "archive", "--job", "2")
    assert archived.returncode == 0, archived.stderr
    tar = box.paths.archive / "job_2.tar"
    assert "1 archive copied" in backup(box, vault, "--verify")
    assert "1 archive unchanged" in backup(box, vault)
    keys = bucket_objects(s3.client(), vault, "depot-north/archives/")
    assert set(keys) == {f"depot-north/archives/{hashlib.sha256(tar.read_bytes()).hexdigest()}"}
    data = tar.read_bytes()
    tar.unlink()  # the drive lost it: the backup keeps its copy
    backup(box, vault)
    assert set(bucket_objects(s3.client(), vault, "depot-north/archives/")) == set(keys)

    target, archives = tmp_path / "data", tmp_path / "archive"
    result = run_cli(box, "restore-box", f"s3://{vault}/depot-north", str(target), "--archive-dir", str(archives))

    assert result.returncode == 0, result.stderr
    assert "1 archive restored" in result.stdout.splitlines()[-1]
    assert files(archives) == {"job_2.tar": data}
    assert files(target / "images") == files(box.paths.data / "images")


def test_a_damaged_archive_stops_the_restore_and_changes_nothing(s3, box, vault, tmp_path):
    assert run_cli(box, "archive", "--job", "2").returncode == 0
    backup(box, vault)
    client = s3.client()
    (key, stored), *_ = bucket_objects(client, vault, "depot-north/archives/").items()
    client.put_object(Bucket=vault, Key=key, Body=b"x" * stored["size"])
    target, archives = tmp_path / "data", tmp_path / "archive"

    result = run_cli(box, "restore-box", f"s3://{vault}/depot-north", str(target), "--archive-dir", str(archives))

    assert result.returncode == 1 and "does not match its catalog entry" in result.stderr
    assert list(target.iterdir()) == [] and list(archives.iterdir()) == []


def test_backup_refuses_the_public_bucket(box, vault):
    result = run_cli(box, "backup", f"s3://{box.publish.bucket}/private")
    assert result.returncode == 2 and "publish.bucket" in result.stderr


@pytest.mark.parametrize("address", ["s3://", "s3://a/../b", "s3:/x/y", "s3://UPPER_/x", "s3://ok-bucket/.hidden"])
def test_bad_addresses_are_usage_errors(box, vault, address):
    result = run_cli(box, "backup", address)
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_restore_box_refuses_a_folder_that_is_not_empty(box, vault, tmp_path):
    backup(box, vault)
    target = tmp_path / "data"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = restore(box, vault, target)
    assert result.returncode == 2 and "must be an empty folder" in result.stderr
    assert files(target) == {"keep.txt": b"mine"}


# ---------------------------------------------------------------- hostile bucket contents


def read_catalog(client, vault: str) -> dict:
    return json.loads(client.get_object(Bucket=vault, Key=f"depot-north/catalogs/{TODAY}.json")["Body"].read())


def write_catalog(client, vault: str, catalog: dict | bytes) -> None:
    body = catalog if isinstance(catalog, bytes) else json.dumps(catalog).encode()
    client.put_object(Bucket=vault, Key=f"depot-north/catalogs/{TODAY}.json", Body=body)


def replace_database(client, vault: str, data: bytes) -> None:
    """Put other bytes in as the database, with a catalog that vouches for them."""
    sha = hashlib.sha256(data).hexdigest()
    client.put_object(Bucket=vault, Key=f"depot-north/databases/{sha}.db", Body=data)
    catalog = read_catalog(client, vault)
    catalog["database"] = {"sha256": sha, "size": len(data)}
    write_catalog(client, vault, catalog)


def database_with(box, tmp_path: Path, statement: str) -> bytes:
    """A copy of the box's database with one more statement applied."""
    copy = tmp_path / "tampered.db"
    source = sqlite3.connect(box.db_path)
    target = sqlite3.connect(copy)
    source.backup(target)
    target.execute(statement)
    target.commit()
    target.execute("PRAGMA journal_mode = DELETE")
    target.close()
    source.close()
    return copy.read_bytes()


def climbing_name(client, vault, box, tmp_path):
    catalog = read_catalog(client, vault)
    entry = next(iter(catalog["masters"].values()))
    catalog["masters"]["images/job_1/../../../etc/evil"] = entry
    write_catalog(client, vault, catalog)


def wrong_bytes(client, vault, box, tmp_path):
    key = next(iter(bucket_objects(client, vault, "depot-north/masters/")))
    size = bucket_objects(client, vault, key)[key]["size"]
    client.put_object(Bucket=vault, Key=key, Body=b"x" * size)


def oversized(client, vault, box, tmp_path):
    key = next(iter(bucket_objects(client, vault, "depot-north/masters/")))
    client.put_object(Bucket=vault, Key=key, Body=b"x" * (2 << 20))


def not_sqlite(client, vault, box, tmp_path):
    replace_database(client, vault, b"not a database at all" * 100)


def extra_trigger(client, vault, box, tmp_path):
    trigger = "CREATE TRIGGER spy AFTER INSERT ON job_image BEGIN DELETE FROM job; END"
    replace_database(client, vault, database_with(box, tmp_path, trigger))


def newer_schema(client, vault, box, tmp_path):
    replace_database(client, vault, database_with(box, tmp_path, "PRAGMA user_version = 9999"))


def row_names_a_path(client, vault, box, tmp_path):
    statement = "UPDATE job_image SET filename = '../../x' || id || '.jpg'"
    replace_database(client, vault, database_with(box, tmp_path, statement))


def missing_master(client, vault, box, tmp_path):
    catalog = read_catalog(client, vault)
    catalog["masters"].pop(next(iter(catalog["masters"])))
    write_catalog(client, vault, catalog)


def swapped_masters(client, vault, box, tmp_path):
    catalog = read_catalog(client, vault)
    first, second = sorted(catalog["masters"])[:2]
    catalog["masters"][first], catalog["masters"][second] = catalog["masters"][second], catalog["masters"][first]
    write_catalog(client, vault, catalog)


def master_of_another_size(client, vault, box, tmp_path):
    """A catalog entry and object that agree with each other, one byte longer than the row says."""
    catalog = read_catalog(client, vault)
    name = sorted(catalog["masters"])[0]
    data = (box.paths.data / name).read_bytes() + b"\x00"
    sha = hashlib.sha256(data).hexdigest()
    client.put_object(Bucket=vault, Key=f"depot-north/masters/{sha}", Body=data)
    catalog["masters"][name] = dict(catalog["masters"][name], sha256=sha, size=len(data))
    write_catalog(client, vault, catalog)


def climbing_archive(client, vault, box, tmp_path):
    catalog = read_catalog(client, vault)
    catalog["archives"] = {"../job_1.tar": next(iter(catalog["masters"].values()))}
    write_catalog(client, vault, catalog)


def garbage_catalog(client, vault, box, tmp_path):
    write_catalog(client, vault, b"\xff{not json")


def catalog_of_another_format(client, vault, box, tmp_path):
    write_catalog(client, vault, dict(read_catalog(client, vault), format=2))


def negative_size(client, vault, box, tmp_path):
    catalog = read_catalog(client, vault)
    next(iter(catalog["masters"].values()))["size"] = -1
    write_catalog(client, vault, catalog)


TAMPERING = {
    climbing_name: "names a master it may not",
    wrong_bytes: "does not match its catalog entry",
    oversized: "is larger than it may be",
    not_sqlite: "is not an SQLite file",
    extra_trigger: "tables, views or triggers that jobgallery does not make",
    newer_schema: "schema version 9999",
    row_names_a_path: "names a master it may not: '../../x",
    missing_master: "the backup has no copy of images/job_1/",
    swapped_masters: "is not the photo its database row describes",
    master_of_another_size: "is not the photo its database row describes",
    climbing_archive: "names an archive it may not",
    garbage_catalog: "is not a catalog written by backup",
    catalog_of_another_format: "is not a catalog written by backup",
    negative_size: "names a master it may not",
}


@pytest.mark.parametrize("tamper", TAMPERING, ids=[t.__name__ for t in TAMPERING])
def test_restore_box_refuses_tampered_backups_and_leaves_the_folder_empty(s3, box, vault, tmp_path, tamper):
    backup(box, vault)
    tamper(s3.client(), vault, box, tmp_path)
    target = tmp_path / "data"
    target.mkdir()

    result = restore(box, vault, target)

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and TAMPERING[tamper] in result.stderr
    assert list(target.iterdir()) == []
