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
    assert backup(box, vault) == "backup: 5 masters unchanged, 1 database copied"
    with db.open_db(box.db_path) as conn:
        add_photos(box, conn, 1, 1, seed=70)
    assert backup(box, vault).startswith("backup: 5 masters unchanged, 1 master copied, 1 database copied")
    keys = bucket_objects(s3.client(), vault, "depot-north/")
    masters = {key.rsplit("/", 1)[1] for key in keys if "/masters/" in key}
    live = {hashlib.sha256(data).hexdigest() for data in files(box.paths.data / "images").values()}
    assert masters == live
    assert {key for key in keys if "/masters/" not in key} == {
        f"depot-north/databases/{TODAY}.db",
        f"depot-north/catalogs/{TODAY}.json",
    }


def test_a_tampered_hash_cache_is_not_believed(s3, box, vault):
    backup(box, vault)
    cache_path = box.paths.data / ".offsite-hashes.json"
    cache = json.loads(cache_path.read_text())
    for entry in cache.values():
        entry["sha256"] = "../../not-a-hash"
    cache_path.write_text(json.dumps(cache))
    assert backup(box, vault) == "backup: 5 masters unchanged, 1 database copied"
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
    for day, data in ((kept_day, b"kept master"), (old_day, b"old master")):
        sha = hashlib.sha256(data).hexdigest()
        client.put_object(Bucket=vault, Key=f"depot-north/masters/{sha}", Body=data)
        named = dict(catalog, masters={"images/job_9/x.jpg": {"sha256": sha, "size": len(data), "mtime_ns": 1}})
        client.put_object(Bucket=vault, Key=f"depot-north/catalogs/{day}.json", Body=json.dumps(named).encode())
        client.put_object(Bucket=vault, Key=f"depot-north/databases/{day}.db", Body=b"old")

    assert (
        backup(box, vault)
        == "backup: 5 masters unchanged, 1 database copied, 1 old snapshot removed, 1 old master removed"
    )

    keys = set(bucket_objects(client, vault, "depot-north/"))
    assert f"depot-north/catalogs/{old_day}.json" not in keys and f"depot-north/databases/{old_day}.db" not in keys
    assert f"depot-north/catalogs/{kept_day}.json" in keys
    assert f"depot-north/masters/{hashlib.sha256(b'kept master').hexdigest()}" in keys
    assert f"depot-north/masters/{hashlib.sha256(b'old master').hexdigest()}" not in keys


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
    """Put other bytes where the database was, with a catalog that vouches for them."""
    client.put_object(Bucket=vault, Key=f"depot-north/databases/{TODAY}.db", Body=data)
    catalog = read_catalog(client, vault)
    catalog["database"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
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
