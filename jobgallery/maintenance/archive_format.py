"""The archive file: one plain tar per job, self-contained and checkable with standard tools.

Layout (uncompressed: JPEGs do not shrink further, and a Pi's CPU is better
spent elsewhere)::

    images/<filename>   the job's masters, byte for byte
    manifest.json       {"format": 1, "archived_at", "job": {...}, "images": [{...row...}]}
    SHA256SUMS          "<hex>  <name>" for every other member (``sha256sum -c`` reads it)

Reading is strict: only regular files with exactly those names are allowed,
each member also passes tarfile's ``data`` filter, and every checksum must
match before anything is trusted. Nothing is ever extracted by tarfile
itself; restore writes each master through ``storage.atomic_write``.

Sizes are checked from the headers before any master is read: a sparse
member (a few KB in the file, any size once read) is refused, and so is a
master larger than its row's ``byte_size`` or than the caller's limit (the
upload limit, for restore). The manifest's ``byte_size`` is the size of the
master as archived (compress and ``images.master_max_px`` shrink masters).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import BinaryIO

from jobgallery import db, storage
from jobgallery.errors import ArchiveError
from jobgallery.maintenance import archive_rows

FORMAT = 1
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
IMAGES = "images/"
CHUNK = 1 << 20
NOWHERE = "/nonexistent-restore-root"


@dataclass(frozen=True)
class Contents:
    """What a verified archive holds: its checksums, its job and the job's rows."""

    sums: dict[str, str]
    job: db.Job
    images: list[db.Image]
    archived_at: str


def member_name(filename: str) -> str:
    return IMAGES + storage.safe_name(filename)


# ---------------------------------------------------------------- writing


def write_archive(
    handle: BinaryIO,
    job: db.Job,
    images: list[db.Image],
    masters: list[Path],
    archived_at: str,
    tick: Callable[..., None],
) -> dict[str, str]:
    """Write the tar to an open file; return the checksum of every member but SHA256SUMS."""
    sums: dict[str, str] = {}
    rows = []
    with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for image, path in zip(images, masters, strict=True):
            sums[member_name(image.filename)], size = add_file(tar, member_name(image.filename), path)
            rows.append(replace(image, byte_size=size))
            tick()
        manifest = manifest_bytes(job, rows, archived_at)
        sums[MANIFEST] = add_bytes(tar, MANIFEST, manifest)
        add_bytes(tar, SUMS, sums_text(sums))
    return sums


def manifest_bytes(job: db.Job, images: list[db.Image], archived_at: str) -> bytes:
    job_fields = {f.name: getattr(job, f.name) for f in fields(db.Job) if f.name != "image_count"}
    data = {
        "format": FORMAT,
        "archived_at": archived_at,
        "job": job_fields,
        "images": [{f.name: getattr(image, f.name) for f in fields(db.Image)} for image in images],
    }
    return json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"


def sums_text(sums: dict[str, str]) -> bytes:
    return "".join(f"{digest}  {name}\n" for name, digest in sums.items()).encode("utf-8")


class HashingReader:
    """Hashes what tarfile reads, so each master is read from disk once."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        return data


def add_file(tar: tarfile.TarFile, name: str, path: Path) -> tuple[str, int]:
    """Add the file at ``path`` as ``name``; return its checksum and its size as archived."""
    with open(path, "rb") as raw:
        info = tar.gettarinfo(fileobj=raw, arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        reader = HashingReader(raw)
        tar.addfile(info, reader)
    return reader.hash.hexdigest(), info.size


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> str:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- reading


def verify_archive(path: Path, max_master: int | None = None) -> Contents:
    """Check every member's name, type, size and checksum; ArchiveError on the first problem.

    ``max_master`` (bytes) bounds each master beside its row's ``byte_size``;
    both are checked from the headers, before any master is read.
    """
    try:
        with tarfile.open(path, mode="r:") as tar:
            members = tar.getmembers()
            check_members(members)
            sums = parse_sums(read_member(tar, SUMS))
            check_listing(members, sums)
            manifest = read_member(tar, MANIFEST)
            if hashlib.sha256(manifest).hexdigest() != sums[MANIFEST]:
                raise ArchiveError(f"checksum mismatch for {MANIFEST}: the archive is damaged")
            job, images, archived_at = parse_manifest(manifest, members)
            check_sizes(tar, images, max_master)
            for member in members:
                if member.name not in (SUMS, MANIFEST):
                    check_digest(tar, member, sums[member.name])
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"{path} is not a readable archive: {exc}") from None
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}: {exc.strerror or exc}") from None
    return Contents(sums=sums, job=job, images=images, archived_at=archived_at)


def read_manifest(path: Path) -> tuple[db.Job, list[db.Image], str]:
    """Only the job, rows and archive time, without re-hashing the masters (deciding whether a file may be replaced)."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            members = tar.getmembers()
            check_members(members)
            return parse_manifest(read_member(tar, MANIFEST), members)
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"{path} is not a readable archive: {exc}") from None
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}: {exc.strerror or exc}") from None


def check_members(members: list[tarfile.TarInfo]) -> None:
    """Only plain files named like ours; refuse anything absolute, upward, linked or special."""
    seen: set[str] = set()
    # Python's own extraction filter arrived in 3.11.4 (Debian 12 has 3.11.2); the checks after it
    # refuse every kind it does (absolute, upward, links, devices) on their own, so without it they stand alone.
    data_filter = getattr(tarfile, "data_filter", None)
    for member in members:
        if data_filter is not None:
            try:
                data_filter(member, NOWHERE)
            except tarfile.FilterError as exc:
                raise ArchiveError(f"unsafe member {member.name!r} refused: {exc}") from None
        if member.issparse():
            raise ArchiveError(f"sparse member {member.name!r} refused: we never write one")
        if not member.isreg() or not allowed_name(member.name) or member.name in seen:
            raise ArchiveError(f"unexpected member {member.name!r} refused (only our own plain files are allowed)")
        seen.add(member.name)


def allowed_name(name: str) -> bool:
    if name in (MANIFEST, SUMS):
        return True
    if not name.startswith(IMAGES):
        return False
    try:
        storage.safe_name(name.removeprefix(IMAGES))
    except ValueError:
        return False
    return not name.removeprefix(IMAGES).startswith(".")


def read_member(tar: tarfile.TarFile, name: str, limit: int = 64 << 20) -> bytes:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise ArchiveError(f"the archive has no {name}") from None
    if member.size > limit:
        raise ArchiveError(f"{name} in the archive is implausibly large")
    return tar.extractfile(member).read()


def parse_sums(text: bytes) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or not archive_rows.SHA256.fullmatch(digest) or name in sums:
            raise ArchiveError(f"malformed line in {SUMS}: {line[:80]!r}")
        sums[name] = digest
    return sums


def check_listing(members: list[tarfile.TarInfo], sums: dict[str, str]) -> None:
    names = {m.name for m in members} - {SUMS}
    if names != set(sums):
        missing = sorted(set(sums) - names) or sorted(names - set(sums))
        raise ArchiveError(f"{SUMS} and the archive's members differ (e.g. {missing[0]!r})")


def check_sizes(tar: tarfile.TarFile, images: list[db.Image], max_master: int | None) -> None:
    """No master may be larger than its row says, nor than ``max_master`` bytes (its header's size, unread)."""
    for image in images:
        member = tar.getmember(member_name(image.filename))
        if member.size > image.byte_size:
            raise ArchiveError(f"{member.name} in the archive is larger than its row's byte_size")
        if max_master is not None and member.size > max_master:
            raise ArchiveError(f"{member.name} in the archive is larger than an upload may be")


def check_digest(tar: tarfile.TarFile, member: tarfile.TarInfo, expected: str) -> None:
    digest = hash_stream(tar.extractfile(member))
    if digest != expected:
        raise ArchiveError(f"checksum mismatch for {member.name}: the archive is damaged")


def hash_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def hash_file(path: Path) -> str:
    with open(path, "rb") as stream:
        return hash_stream(stream)


def parse_manifest(data: bytes, members: list[tarfile.TarInfo]) -> tuple[db.Job, list[db.Image], str]:
    """The manifest must describe exactly the masters in the archive, each field as this program writes it.

    Checksums prove the archive whole, not honest: every row is checked like
    user input (``archive_rows``) before anything trusts it.
    """
    try:
        manifest = json.loads(data)
        if manifest.get("format") != FORMAT:
            raise ArchiveError(f"unknown archive format {manifest.get('format')!r}")
        job = archive_rows.check_job(db.Job(**manifest["job"]))
        images = [archive_rows.check_image(db.Image(**row), job.id) for row in manifest["images"]]
        archived_at = manifest["archived_at"]
        archive_rows.check_stamp("archived_at", archived_at, required=True)
        listed = {member_name(image.filename) for image in images}
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise ArchiveError(f"{MANIFEST} in the archive is malformed: {str(exc)[:200]}") from None
    if len({image.id for image in images}) != len(images):
        raise ArchiveError(f"{MANIFEST} in the archive lists a photo id twice")
    if listed != {m.name for m in members if m.name.startswith(IMAGES)} or len(listed) != len(images):
        raise ArchiveError(f"{MANIFEST} does not match the masters in the archive")
    return job, images, archived_at
