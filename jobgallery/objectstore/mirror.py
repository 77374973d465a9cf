"""``publish``: make a bucket prefix an exact mirror of ``output/``, sending only what changed.

The steps, in the order the build itself uses, so a viewer of the bucket (or
of a CDN in front of it) never meets a page whose images are not there yet:

1. list ``output/`` (dotfiles and temp files never leave the box) and the bucket;
2. upload new and changed files that are not pages (derivatives, CSS, JS);
3. upload new and changed pages, deepest first, so the index comes last;
4. delete what the bucket holds that ``output/`` no longer has, once it has
   been unreferenced for ``publish.page_max_age`` seconds (``published``):
   a viewer holding a cached old page still finds its images. A share
   link that no longer answers is the exception: its folder's page, report
   and photos (``s/<token>/``) go in the same run. At the
   bucket's root (an empty prefix) only keys this box recorded sending are
   ever deleted, and the run is refused when the root holds other boxes'
   sites or the ``publish --index`` page.

``output/`` is read (pages into memory) under the maintenance lock together
with the build's manifest; the network part runs without it, so a build is
never held up by the store. A content-named file a build removes meanwhile
leaves the pages for the next run.

A step that fails stops the run before the next one starts: the bucket then
still serves a consistent site (old pages, whose files are all there, plus
some new files nothing links to yet), and the next run, which compares with
a fresh listing, completes it.

Whether a file changed: a content-named file (``content_named``: the build's
manifest lists every derivative, and ``static/`` holds only hashed names) is
the same when an object of its size is there; for anything else the MD5 is
compared with the ETag, or, when the ETag is a multipart one, the SHA-256
with the one stored in the object's metadata. Either way the object must
also have been sent with the file's Cache-Control (the record says so, or
one HEAD request does), or it is sent again.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from jobgallery import db, shares, storage
from jobgallery.config import Config
from jobgallery.errors import StoreError, UsageError
from jobgallery.locks import maintenance_lock
from jobgallery.objectstore.client import (
    BOTO_ERRORS,
    DEFAULT_TIMEOUTS,
    Location,
    describe,
    make_client,
    store_errors,
)
from jobgallery.objectstore.headers import cache_control, content_type, is_page
from jobgallery.objectstore.listing import SHA_META, Stored, list_objects, object_sha256, stored_cache_control
from jobgallery.objectstore.prefixes import INDEX_KEY, is_prefix_index
from jobgallery.objectstore.published import read_record, write_record
from jobgallery.progress import Progress

MIB = 1 << 20
MAX_HELD_BYTES = 4 * MIB  # a page at most this large is held in memory from the listing to its upload
DELETE_BATCH = 1000  # the most one DeleteObjects request takes


@dataclass
class LocalFile:
    """One file of ``output/`` to publish."""

    relative: str  # with ``/`` separators, as in the key
    path: Path
    size: int
    content_named: bool
    sha256: str = ""
    md5: str = ""
    body: bytes | None = None  # a page's bytes as the build left them, read under the lock


@dataclass
class PublishReport:
    """What a publish did (or would do), for the one summary line."""

    dry_run: bool = False
    uploaded: int = 0
    deleted: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)
    changed: int = 0  # content-named files a build removed while they were being sent

    def summary(self) -> str:
        """``publish: 12 uploaded, 3 deleted, 4,110 unchanged in 1.9 s``."""
        if self.dry_run:
            done = f"{self.uploaded:,} to upload, {self.deleted:,} to delete"
            return f"publish (dry run): {done}, {self.unchanged:,} unchanged in {self.seconds:.1f} s"
        done = f"{self.uploaded:,} uploaded, {self.deleted:,} deleted"
        later = f"; output/ changed meanwhile ({self.changed:,} files gone), pages left for the next run"
        return f"publish: {done}, {self.unchanged:,} unchanged in {self.seconds:.1f} s{later if self.changed else ''}"


@dataclass
class Plan:
    files: list[LocalFile] = field(default_factory=list)
    pages: list[LocalFile] = field(default_factory=list)


def publish(
    config: Config,
    location: Location,
    content_named: Callable[[], set[str]],
    dry_run: bool = False,
    progress: bool = False,
    timeouts: tuple[float, float] = DEFAULT_TIMEOUTS,
) -> PublishReport:
    """Mirror ``output/`` into ``location``.

    ``content_named()``: paths relative to ``output/`` whose names change with
    their bytes; it is called, and ``output/`` read (pages into memory, every
    other file's size), under the maintenance lock, so a build cannot change
    the site between the two. The lock is then released: the network part
    never holds up a build. ``timeouts``: (connect, read) seconds per request.
    Raises StoreError when the store cannot be reached or refuses a request.
    """
    started = time.monotonic()
    with maintenance_lock(config.paths.data):
        if not (config.paths.output / "index.html").is_file():
            raise UsageError(f"{config.paths.output} holds no built site: run jobgallery build first")
        local = snapshot_output(config.paths.output, content_named())
    mirror = Mirror(config, location, progress, timeouts)
    report = mirror.run(local, dry_run)
    report.seconds = time.monotonic() - started
    return report


class Mirror:
    """One publish run."""

    def __init__(self, config: Config, location: Location, progress: bool, timeouts: tuple[float, float]) -> None:
        self.config = config
        self.location = location
        self.progress = progress
        self.client = make_client(config, timeouts)
        part = config.publish.multipart_mb * MIB
        self.transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=2)
        self.report = PublishReport()
        self.record = read_record(config.paths.data, str(location))
        self.sent: set[str] = set()

    def run(self, local: list[LocalFile], dry_run: bool) -> PublishReport:
        self.report.dry_run = dry_run
        with store_errors(self.location):
            stored = list_objects(self.client, self.location)
            self.check_shared_root(local, stored)
            plan = self.plan(local, stored)
        if dry_run:
            deletes = self.due_deletes(local, stored)
            self.report.lines += [f"would upload {self.location.key(f.relative)}" for f in plan.files + plan.pages]
            self.report.lines += [f"would delete {self.location.key(rel)}" for rel in deletes]
            self.report.uploaded, self.report.deleted = len(plan.files) + len(plan.pages), len(deletes)
            return self.report
        try:
            self.send(plan, local, stored)
        finally:
            self.record.objects = {k: v for k, v in self.record.objects.items() if k in stored or k in self.sent}
            write_record(self.config.paths.data, self.record)
        return self.report

    def send(self, plan: Plan, local: list[LocalFile], stored: dict[str, Stored]) -> None:
        """Files, then pages deepest first, then the deletes that are due (none when output/ changed)."""
        self.upload_all(plan.files)
        if self.report.changed:
            return
        for depth in sorted({page_depth(p) for p in plan.pages}, reverse=True):
            self.upload_all([p for p in plan.pages if page_depth(p) == depth])
        deletes = self.due_deletes(local, stored)
        self.delete_all(deletes)
        for relative in deletes:
            self.record.objects.pop(relative, None)
            stored.pop(relative, None)

    # ------------------------------------------------------------ whose keys, and when they go

    def check_shared_root(self, local: list[LocalFile], stored: dict[str, Stored]) -> None:
        """UsageError when an empty prefix would mirror over other boxes' sites or the ``--index`` page."""
        if self.location.prefix:
            return
        mine = {item.relative.split("/", 1)[0] for item in local} | {k.split("/", 1)[0] for k in self.record.objects}
        others = sorted({key.split("/", 1)[0] for key in stored if "/" in key} - mine)
        if others:
            named = ", ".join(f"{name}/" for name in others[:3])
            raise UsageError(
                f"publish.prefix is empty, but {self.location} also holds other sites ({named}): "
                "give each box a publish.prefix of its own"
            )
        if INDEX_KEY in stored and INDEX_KEY not in self.record.objects and is_prefix_index(self.client, self.location):
            raise UsageError(
                f"publish.prefix is empty, but {self.location}/{INDEX_KEY} is the page publish --index wrote: "
                "give this box a publish.prefix of its own"
            )

    def ours(self, relative: str) -> bool:
        """A non-empty prefix is this box's alone; at the bucket's root only what it recorded sending is."""
        return bool(self.location.prefix) or relative in self.record.objects

    def due_deletes(self, local: list[LocalFile], stored: dict[str, Stored]) -> list[str]:
        """This box's keys ``output/`` no longer has that have been unreferenced for ``page_max_age`` seconds.

        A key found unreferenced now (just after the pages that stopped naming
        it were sent) is recorded with the time and left for a later run.
        """
        present = {item.relative for item in local}
        withdrawn = self.withdrawn_shares(stored)
        now = time.time()
        due, waiting = [], {}
        for relative in stored:
            if relative in present or not self.ours(relative):
                continue
            since = self.record.unreferenced.get(relative, now)
            if now - since >= self.config.publish.page_max_age or share_folder(relative) in withdrawn:
                due.append(relative)
            else:
                waiting[relative] = since
        if not self.report.dry_run:
            self.record.unreferenced = waiting
        return sorted(due)

    def withdrawn_shares(self, stored: dict[str, Stored]) -> set[str]:
        """Tokens of share folders in the bucket whose links no longer answer (revoked, expired, unknown).

        Asked of the database, not of ``output/``: a run whose snapshot is older
        than a new link must not take that link's files away.
        """
        tokens = {share_folder(relative) for relative in stored} - {""}
        if not tokens:
            return set()
        with db.open_db(self.config.db_path) as conn:
            return tokens - {row.token for row in shares.active(conn)}

    # ------------------------------------------------------------ what to send

    def plan(self, local: list[LocalFile], stored: dict[str, Stored]) -> Plan:
        plan = Plan()
        for item in local:
            if self.is_current(item, stored.get(item.relative)):
                self.report.unchanged += 1
            else:
                (plan.pages if is_page(item.relative) else plan.files).append(item)
        return plan

    def is_current(self, item: LocalFile, there: Stored | None) -> bool:
        """The bucket already holds these bytes under this key, with the headers they should have."""
        if there is None or there.size != item.size:
            return False
        if not item.content_named:
            if not item.md5:
                item.md5, item.sha256 = hash_file(item.path)
            same = there.md5 == item.md5 if there.md5 is not None else self.stored_sha256(item) == item.sha256
            if not same:
                return False
        return self.headers_right(item)

    def stored_sha256(self, item: LocalFile) -> str | None:
        return object_sha256(self.client, self.location, item.relative)

    def headers_right(self, item: LocalFile) -> bool:
        """The object was sent with this file's Cache-Control: from the record, else asked of the store once."""
        wanted = self.cache_control(item)
        sent = self.record.objects.get(item.relative) or stored_cache_control(self.client, self.location, item.relative)
        if sent != wanted:
            return False
        self.record.objects[item.relative] = wanted
        return True

    def cache_control(self, item: LocalFile) -> str:
        return cache_control(item.content_named, self.config.publish.page_max_age)

    # ------------------------------------------------------------ sending

    def upload_all(self, items: list[LocalFile]) -> None:
        """Upload ``items`` a few at a time; on the first failure stop, and raise once the rest settled."""
        if not items:
            return
        failure: str | None = None
        bar = Progress(len(items) if self.progress else 0, "publish")
        with bar, ThreadPoolExecutor(self.config.publish.threads) as pool:
            futures: dict[Future, LocalFile] = {pool.submit(self.upload, item): item for item in items}
            for future in as_completed(futures):
                bar.advance()
                problem = self.outcome(future, futures[future])
                if problem and failure is None:
                    failure = problem
                    for pending in futures:
                        pending.cancel()
        if failure:
            raise StoreError(
                f"publish stopped after {self.report.uploaded:,} uploads: {failure}; "
                "the bucket still serves a whole site, and the next publish completes it"
            )

    def outcome(self, future: Future, item: LocalFile) -> str | None:
        """Count a finished upload; the reason when it failed, None when it worked or was cancelled."""
        if future.cancelled():
            return None
        exc = future.exception()
        if exc is None:
            self.report.uploaded += 1
            self.sent.add(item.relative)
            self.record.objects[item.relative] = self.cache_control(item)
            return None
        if isinstance(exc, FileNotFoundError) and item.content_named:
            self.report.changed += 1
            return None
        if isinstance(exc, BOTO_ERRORS):
            return f"{item.relative}: {describe(exc, self.location)}"
        if isinstance(exc, OSError):
            return f"{item.relative}: {exc.strerror or exc}"
        raise exc

    def upload(self, item: LocalFile) -> None:
        """One file with its headers and SHA-256; in parts when it is large."""
        if not item.sha256:
            item.sha256 = hash_file(item.path)[1]
        extra = {
            "ContentType": content_type(item.relative),
            "CacheControl": self.cache_control(item),
            "Metadata": {SHA_META: item.sha256},
        }
        key = self.location.key(item.relative)
        if item.body is not None:
            self.client.put_object(Bucket=self.location.bucket, Key=key, Body=item.body, **extra)
            return
        if item.size >= self.transfer.multipart_threshold:
            self.client.upload_file(str(item.path), self.location.bucket, key, ExtraArgs=extra, Config=self.transfer)
            return
        with open(item.path, "rb") as body:
            self.client.put_object(Bucket=self.location.bucket, Key=key, Body=body, **extra)

    def delete_all(self, relatives: list[str]) -> None:
        """Delete in batches of a thousand keys; any key the store would not delete stops the run."""
        for start in range(0, len(relatives), DELETE_BATCH):
            batch = relatives[start : start + DELETE_BATCH]
            objects = [{"Key": self.location.key(rel)} for rel in batch]
            with store_errors(self.location):
                answer = self.client.delete_objects(
                    Bucket=self.location.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            errors = answer.get("Errors") or []
            self.report.deleted += len(batch) - len(errors)
            if errors:
                first = errors[0]
                raise StoreError(f"{self.location} would not delete {first.get('Key')}: {first.get('Code')}")


# ---------------------------------------------------------------- local side


def share_folder(relative: str) -> str:
    """The token of a key in a share link's folder (``s/<token>/...``), else ""."""
    parts = relative.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == shares.SHARES_FOLDER else ""


def scan_output(output: Path, content_named: set[str]) -> list[LocalFile]:
    """Every regular file under ``output/``, except dotfiles, temp files and anything under a dot folder."""
    found: list[LocalFile] = []
    pending = [(output, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or storage.is_temp(entry.name):
                continue
            relative = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append((Path(entry.path), relative + "/"))
            elif entry.is_file(follow_symlinks=False):
                size = entry.stat(follow_symlinks=False).st_size
                found.append(LocalFile(relative, Path(entry.path), size, relative in content_named))
    return found


def snapshot_output(output: Path, content_named: set[str]) -> list[LocalFile]:
    """``scan_output`` with every file that is not content-named (pages, small) read and hashed now.

    Content-named files never change under their name, so they are read when
    sent; a page may be rewritten by the next build, so the bytes sent are
    the ones that went with this listing. Larger files that are not
    content-named are hashed now and sent from the disk.
    """
    local = scan_output(output, content_named)
    for item in local:
        if item.content_named:
            continue
        if item.size <= MAX_HELD_BYTES:
            item.body = item.path.read_bytes()
            item.size = len(item.body)
            item.md5 = hashlib.md5(item.body, usedforsecurity=False).hexdigest()
            item.sha256 = hashlib.sha256(item.body).hexdigest()
        else:
            item.md5, item.sha256 = hash_file(item.path)
    return local


def hash_file(path: Path) -> tuple[str, str]:
    """MD5 (to compare with a single-part ETag) and SHA-256 of a file, in one read."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(MIB):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def page_depth(item: LocalFile) -> int:
    return item.relative.count("/")
