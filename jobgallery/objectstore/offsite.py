"""``backup s3://BUCKET/PREFIX``: the folder backup's snapshot, kept in object storage.

Layout under the prefix::

    masters/<sha256>           each master once, named by the SHA-256 of its bytes
    databases/<sha256>.db      SQLite's online backup, named by its own SHA-256, so a run never
                               replaces a database object that a catalog already names
    archives/<sha256>          each tar of ``paths.archive`` (an archived job) once, by its SHA-256
    catalogs/<YYYY-MM-DD>.json which master (``images/job_<id>/<name>``) is which object, and the
                               database's SHA-256 and size: written last, it is what makes a day
                               restorable (one write switches the day to the new snapshot)

The snapshot is the folder backup's (``maintenance.backup``): the database
through SQLite's backup API under the maintenance lock, then the masters its
rows name. A master whose SHA-256 is already a key is not sent again, so a
night with three new photos sends three masters and one database. A local
cache (``data/.offsite-hashes.json``: path, size, mtime -> SHA-256) spares
re-reading unchanged masters; ``--verify`` ignores it.

A run in which any master could not be read or sent writes no catalog and
removes nothing: the last complete snapshot stays the newest, whole, and the
run fails so the admin hears of it. A store that stops part way leaves the
same: objects sent before the catalog are only named once it is written.

After a catalog is written, days older than ``backup.keep_days`` lose their
catalog, and any master or database no kept catalog names is deleted; when a
kept catalog cannot be read, nothing but old catalogs is deleted that night.

``--verify`` downloads every object the new catalog names and checks its
SHA-256 against the live master, read again from the disk. A bad object is
sent again and the run still fails, so the admin hears of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from datetime import date, timedelta
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from jobgallery import storage
from jobgallery.config import Config
from jobgallery.errors import StoreError, UsageError
from jobgallery.locks import maintenance_lock
from jobgallery.maintenance.backup import copy_database, hash_uncached, relative_master, snapshot_images
from jobgallery.maintenance.reports import Report, human_size
from jobgallery.objectstore import catalog as catalogs
from jobgallery.objectstore.client import BOTO_ERRORS, Location, describe, make_client, store_errors
from jobgallery.objectstore.listing import SHA256, SHA_META, Stored, list_objects
from jobgallery.objectstore.mirror import MIB, hash_file
from jobgallery.progress import Progress

HASH_CACHE = ".offsite-hashes.json"


def offsite_backup(
    config: Config, conn: sqlite3.Connection, location: Location, verify: bool = False, progress: bool = False
) -> Report:
    """Back the box up into ``location``; StoreError when the store fails, UsageError for the public bucket."""
    if config.publish.bucket and location.bucket == config.publish.bucket:
        raise UsageError("back up into another bucket than publish.bucket: that one is served to the public")
    report = Report("backup")
    with maintenance_lock(config.paths.data):
        run = Offsite(config, location, report)
        with store_errors(location):
            catalog = run.snapshot(conn, progress)
            if catalog is not None:
                run.prune(catalog)
                if verify:
                    run.verify(catalog, progress)
    return report


class Offsite:
    """One off-site backup run."""

    def __init__(self, config: Config, location: Location, report: Report) -> None:
        self.config = config
        self.location = location
        self.report = report
        self.client = make_client(config)
        part = config.publish.multipart_mb * MIB
        self.transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=2)
        self.today = date.today().isoformat()
        self.cache: dict[str, dict] = {}
        self.hashes: dict[str, dict] = {}

    # ------------------------------------------------------------ snapshot

    def snapshot(self, conn: sqlite3.Connection, progress: bool) -> dict | None:
        """Database copy, masters, database upload, then the catalog that ties them together.

        None, with the failures in the report, when any master was not sent:
        no catalog is written, so the newest one still restores a whole box.
        """
        data = self.config.paths.data
        snapshot = storage.temp_path(data, ".db")
        try:
            copy_database(conn, snapshot)
            images = snapshot_images(snapshot)
            self.cache = read_cache(data / HASH_CACHE)
            masters = self.send_masters([relative_master(image) for image in images], progress)
            archives = self.send_archives()
            write_cache(data / HASH_CACHE, self.hashes)
            if not self.report.ok:
                self.report.failed(
                    catalogs.catalog_key(self.today), "not written, and nothing removed: the last whole snapshot stays"
                )
                return None
            database = self.send_database(snapshot)
        finally:
            with contextlib.suppress(FileNotFoundError):
                snapshot.unlink()
        catalog = catalogs.make(self.today, database, masters, archives)
        self.put(catalogs.catalog_key(self.today), catalogs.encode(catalog), "application/json")
        self.report.did("database{s} copied", f"copied the database ({len(images)} photo rows) to {self.location}")
        return catalog

    def send_masters(self, names: list[str], progress: bool) -> dict[str, dict]:
        """Upload each master not already stored under its hash; return name -> {sha256, size, mtime_ns}."""
        stored = list_objects(self.client, self.location, catalogs.MASTERS)
        masters: dict[str, dict] = {}
        with Progress(len(names) if progress else 0, "backup") as bar:
            for name in names:
                try:
                    masters[name] = self.send_file(self.config.paths.data / name, name, stored, catalogs.master_key)
                except (OSError, *BOTO_ERRORS) as exc:
                    self.report.failed(name, describe(exc, self.location) if isinstance(exc, BOTO_ERRORS) else exc)
                bar.advance()
        return masters

    def send_archives(self) -> dict[str, dict]:
        """Upload each tar of ``paths.archive`` not already stored; return name -> entry.

        The last catalog's archives are carried over, so an archive stays in
        the backup after its file left the drive (or while the drive is
        unplugged): it may be the only copy of that job.
        """
        archives = self.previous_archives()
        folder = self.config.paths.archive
        names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        stored = list_objects(self.client, self.location, catalogs.ARCHIVES)
        for name in names:
            path = folder / name
            if not catalogs.ARCHIVE_NAME.fullmatch(name) or path.is_symlink() or not path.is_file():
                continue
            try:
                archives[name] = self.send_file(path, f"archive/{name}", stored, catalogs.archive_key, "archive")
            except (OSError, *BOTO_ERRORS) as exc:
                self.report.failed(str(path), describe(exc, self.location) if isinstance(exc, BOTO_ERRORS) else exc)
        return archives

    def previous_archives(self) -> dict[str, dict]:
        days = catalogs.stored_days(self.client, self.location)
        if not days:
            return {}
        try:
            return dict(catalogs.fetch(self.client, self.location, days[-1])["archives"])
        except StoreError as exc:
            self.report.failed(catalogs.catalog_key(days[-1]), f"{exc}; its archives cannot be carried over")
            return {}

    def send_file(self, path: Path, name: str, stored: dict[str, Stored], key_of, kind: str = "master") -> dict:
        """One file under its hash's key, unless an object of its size is there; its catalog entry."""
        info = path.stat()
        sha = cached_hash(self.cache.get(name), info) or hash_file(path)[1]
        entry = {"sha256": sha, "size": info.st_size, "mtime_ns": info.st_mtime_ns}
        self.hashes[name] = entry
        key = key_of(sha)
        there = stored.get(key)
        if there is not None and there.size == info.st_size:
            self.report.did(f"{kind}{{s}} unchanged")
            return entry
        self.upload(path, key, sha)
        stored[key] = Stored(info.st_size, "")
        self.report.did(f"{kind}{{s}} copied", f"copied {path} ({human_size(info.st_size)})")
        self.report.add_size("copied", info.st_size)
        return entry

    def send_database(self, snapshot: Path) -> dict:
        _, sha = hash_file(snapshot)
        size = snapshot.stat().st_size
        self.upload(snapshot, catalogs.database_key(sha), sha)
        return {"sha256": sha, "size": size}

    def upload(self, path: Path, relative: str, sha: str) -> None:
        """A private object (no ACL given: the bucket's own, which should be private) with its SHA-256."""
        extra = {"ContentType": "application/octet-stream", "Metadata": {SHA_META: sha}}
        self.client.upload_file(
            str(path), self.location.bucket, self.location.key(relative), ExtraArgs=extra, Config=self.transfer
        )

    def put(self, relative: str, body: bytes, kind: str) -> None:
        key = self.location.key(relative)
        self.client.put_object(Bucket=self.location.bucket, Key=key, Body=body, ContentType=kind)

    # ------------------------------------------------------------ old days

    def prune(self, catalog: dict) -> None:
        """Drop catalogs older than ``backup.keep_days``, then masters and databases no kept catalog names."""
        cutoff = (date.fromisoformat(self.today) - timedelta(days=self.config.backup.keep_days)).isoformat()
        days = catalogs.stored_days(self.client, self.location)
        old = [day for day in days if day < cutoff and day != self.today]
        self.delete([catalogs.catalog_key(day) for day in old])
        self.report.did("old snapshot{s} removed", None, len(old))
        named = catalogs.named_keys(catalog)
        for day in days:
            if day >= cutoff and day != self.today:
                try:
                    named |= catalogs.named_keys(catalogs.fetch(self.client, self.location, day))
                except StoreError as exc:
                    self.report.failed(catalogs.catalog_key(day), f"{exc}; no master or database was removed")
                    return
        for folder, kind in (
            (catalogs.MASTERS, "old master{s}"),
            (catalogs.DATABASES, "old database{s}"),
            (catalogs.ARCHIVES, "old archive{s}"),
        ):
            stored = list_objects(self.client, self.location, folder)
            unused = sorted(key for key in stored if key not in named)
            self.delete(unused)
            self.report.did(f"{kind} removed", None, len(unused))

    def delete(self, relatives: list[str]) -> None:
        for start in range(0, len(relatives), 1000):
            objects = [{"Key": self.location.key(rel)} for rel in relatives[start : start + 1000]]
            answer = self.client.delete_objects(Bucket=self.location.bucket, Delete={"Objects": objects, "Quiet": True})
            for error in answer.get("Errors") or []:
                self.report.failed(str(error.get("Key")), f"not deleted: {error.get('Code')}")

    # ------------------------------------------------------------ verify

    def verify(self, catalog: dict, progress: bool) -> None:
        """Download every object the catalog names and check it against the live data."""
        database = catalog["database"]
        key = catalogs.database_key(database["sha256"])
        got = catalogs.download_hash(self.client, self.location, key, database["size"])
        if got != database["sha256"]:
            self.report.failed(key, "the stored database differs from the snapshot")
        with Progress(len(catalog["masters"]) if progress else 0, "verify") as bar:
            for name, entry in sorted(catalog["masters"].items()):
                self.verify_object(self.config.paths.data / name, entry, catalogs.master_key(entry["sha256"]))
                bar.advance()
        for name, entry in sorted(catalog["archives"].items()):
            path = self.config.paths.archive / name
            if path.is_file():
                self.verify_object(path, entry, catalogs.archive_key(entry["sha256"]), "archive")

    def verify_object(self, path: Path, entry: dict, key: str, kind: str = "master") -> None:
        """Check one stored object against the live file; send it again when it differs."""
        name = str(path)
        live = hash_uncached(path)
        if live != entry["sha256"]:
            self.report.failed(name, "the live file changed while it was backed up; run backup again")
            return
        try:
            stored = catalogs.download_hash(self.client, self.location, key, entry["size"])
        except StoreError as exc:
            stored = str(exc)
        if stored == live:
            self.report.did(f"{kind}{{s}} verified")
            return
        self.upload(path, key, live)
        self.report.failed(key, f"did not match {name}; sent again")


def read_cache(path: Path) -> dict[str, dict]:
    """The last run's hashes; anything unreadable just means hashing again."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def cached_hash(known: object, info: os.stat_result) -> str | None:
    """The cached SHA-256 when the file's size and mtime are those it was taken at (and it looks like one)."""
    if not isinstance(known, dict) or (known.get("size"), known.get("mtime_ns")) != (info.st_size, info.st_mtime_ns):
        return None
    sha = str(known.get("sha256"))
    return sha if SHA256.fullmatch(sha) else None


def write_cache(path: Path, masters: dict[str, dict]) -> None:
    storage.atomic_write(path, json.dumps(masters, sort_keys=True).encode("utf-8"), storage.PRIVATE_FILE)
