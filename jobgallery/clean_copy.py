"""A master's bytes without its private metadata, for the zip of a job: planned first, then streamed.

What a customer downloads must be the photo as taken (full resolution, the
original compression) but carry no GPS, camera serial, owner name or editing
history. Re-encoding would lose quality and time, so every format is cleaned
at the container level, losslessly:

- **JPEG**: the picture's segments are copied byte for byte (frame, tables,
  every scan's entropy-coded data); EXIF and XMP (APP1), IPTC (APP13),
  comments, maker segments, JFXX thumbnails and whatever follows the end of
  the picture (multi-picture trailers, depth maps) are left out. Kept: JFIF
  (APP0), the ICC profile (APP2) and the Adobe marker (APP14, which says how
  to read the colours).
- **PNG**: critical chunks and colour chunks (``iCCP``, ``sRGB``, ``gAMA``,
  ``cHRM``, ``cICP``, ``sBIT``, ``tRNS``, ``bKGD``, ``pHYs``) and animation
  chunks stay; ``eXIf``, text chunks, ``tIME`` and anything unknown go.
- **WebP**: the picture, alpha, animation and ``ICCP`` chunks stay; ``EXIF``,
  ``XMP `` and anything unknown go (and the metadata flags in ``VP8X``).
- **HEIC**: items are located through ``iloc``, so removing bytes would
  shift every offset; instead each EXIF item is overwritten in place with an
  empty EXIF block and each XMP item with an empty XMP packet, both padded
  to the same length. Orientation in HEIC is a transform property (``irot``,
  ``imir``), which stays, so the photo is still upright.

Upright: a JPEG, PNG or WebP whose EXIF orientation is not 1 gets an EXIF
block holding that one tag (every current viewer and browser applies it), so
the pixels are never re-encoded to turn them.

A plan is a list of pieces (ranges of the master, or new bytes) whose total
size is known before the first byte is sent; finding where a JPEG's picture
ends reads the file once (``jpeg_scans.next_marker``), so plans are kept in
the database (``download_plan``, made by the build while the master is fresh
in the page cache) and in memory, each with the master's size and
modification time, and made again when those change. ``chunks`` refuses to send a
master that changed after it was planned (``compress`` replaced it): the
download then stops short of its ``Content-Length`` and the client knows.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import sqlite3
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from jobgallery import db, storage
from jobgallery.containers import body, boxes, item_locations, item_types
from jobgallery.errors import BadImage, JobGalleryError
from jobgallery.images import EXIF_ERRORS, ORIENTATION, exif_orientation, signature_format
from jobgallery.jpeg_scans import EOI, SOS, STANDALONE_MARKERS, next_marker

READ_SIZE = 64 * 1024
APP0, APP1, APP2, APP13, APP14, COM = 0xE0, 0xE1, 0xE2, 0xED, 0xEE, 0xFE
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEEP = frozenset(
    b"IHDR PLTE IDAT IEND tRNS iCCP sRGB gAMA cHRM cICP mDCV cLLI sBIT bKGD pHYs acTL fcTL fdAT".split()
)
WEBP_KEEP = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
VP8X_EXIF, VP8X_XMP = 0x08, 0x04
EMPTY_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
# A TIFF header and an IFD without entries: an EXIF block that says nothing.
EMPTY_TIFF = b"MM\x00*\x00\x00\x00\x08" + b"\x00\x00" + b"\x00\x00\x00\x00"
PLAN_CACHE = 4096


def zip_name(slug: str) -> str:
    """The file name of a job's zip: the pages link to it, the daemon answers only it."""
    return f"{slug}-photos.zip"


class NotCleanable(JobGalleryError):
    """A master whose container cannot be walked (it changed on disk, or was never a photo)."""


Piece = tuple[int, int] | bytes  # (offset, length) in the master, or new bytes


@dataclass(frozen=True)
class CleanCopy:
    """How to send one master without its metadata: the pieces in order, and the file they come from."""

    path: Path
    kind: str  # "JPEG", "PNG", "WEBP" or "HEIF"
    pieces: tuple[Piece, ...]
    identity: tuple[int, int, int]  # inode, size, mtime in ns when planned

    @property
    def size(self) -> int:
        return sum(len(p) if isinstance(p, bytes) else p[1] for p in self.pieces)

    def chunks(self) -> Iterator[bytes]:
        """The cleaned bytes, at most ``READ_SIZE`` at a time; NotCleanable if the master changed since."""
        with open(self.path, "rb") as handle:
            if identity(os.fstat(handle.fileno())) != self.identity:
                raise NotCleanable(f"{self.path.name} changed while it was being sent")
            for piece in self.pieces:
                if isinstance(piece, bytes):
                    yield piece
                    continue
                yield from read_range(handle, *piece)


def read_range(handle: BinaryIO, offset: int, length: int) -> Iterator[bytes]:
    handle.seek(offset)
    while length > 0:
        data = handle.read(min(READ_SIZE, length))
        if not data:
            raise NotCleanable("a master ended earlier than when it was planned")
        length -= len(data)
        yield data


def identity(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def stored_identity(ident: tuple[int, int, int]) -> str:
    """Size and modification time: what the database keeps (a restore or a backup changes the inode)."""
    return f"{ident[1]}:{ident[2]}"


def to_json(copy: CleanCopy) -> str:
    pieces = [list(p) if isinstance(p, tuple) else base64.b64encode(p).decode() for p in copy.pieces]
    return json.dumps({"kind": copy.kind, "pieces": pieces}, separators=(",", ":"))


def from_json(path: Path, text: str, ident: tuple[int, int, int]) -> CleanCopy:
    """A stored plan back; NotCleanable when it is not one this module wrote."""
    try:
        data = json.loads(text)
        pieces = tuple(tuple(map(int, p)) if isinstance(p, list) else base64.b64decode(p) for p in data["pieces"])
        copy = CleanCopy(path, str(data["kind"]), pieces, ident)
    except (ValueError, KeyError, TypeError) as exc:
        raise NotCleanable(f"the stored plan of {path.name} is not readable: {exc}") from None
    if any(isinstance(p, tuple) and (len(p) != 2 or p[0] < 0 or p[1] < 0 or sum(p) > ident[1]) for p in pieces):
        raise NotCleanable(f"the stored plan of {path.name} does not fit the file")
    return copy


@dataclass
class JobPlans:
    """Each image's plan, or why it cannot be sent, and the plans made anew (to store)."""

    copies: list[tuple[db.Image, CleanCopy]]
    refused: list[tuple[db.Image, str]]
    new: list[tuple[int, str, str]]  # (image id, identity, plan as JSON) for ``db.save_download_plans``


def plan_images(conn: sqlite3.Connection, data_dir: Path, images: list[db.Image], only_new: bool = False) -> JobPlans:
    """Plans of ``images`` in their order: stored ones reused while their master is unchanged.

    ``only_new`` (the build) skips reading back the plans that are still good: only new ones are wanted.
    """
    stored = db.download_plans(conn, [image.id for image in images])
    plans = JobPlans([], [], [])
    for image in images:
        if only_new and image.id in stored and still_fits(data_dir, image, stored[image.id][0]):
            continue
        try:
            path = storage.master_path(data_dir, image.job_id, image.filename)
            copy, fresh = plan_with(path, stored.get(image.id))
        except (NotCleanable, ValueError) as exc:
            plans.refused.append((image, str(exc)))
            continue
        plans.copies.append((image, copy))
        if fresh:
            plans.new.append((image.id, stored_identity(copy.identity), to_json(copy)))
    return plans


def still_fits(data_dir: Path, image: db.Image, stored: str) -> bool:
    """Whether the master is the file its stored plan was made from (same size and modification time)."""
    try:
        path = storage.master_path(data_dir, image.job_id, image.filename)
        return stored_identity(identity(path.stat())) == stored
    except (OSError, ValueError):
        return False


def plan_with(path: Path, stored: tuple[str, str] | None) -> tuple[CleanCopy, bool]:
    """The master's plan from ``stored`` (identity, JSON) when it still fits, else made anew; True when new."""
    try:
        ident = identity(path.stat())
    except OSError as exc:
        raise NotCleanable(f"{path.name} cannot be prepared for download: {exc.strerror or exc}") from None
    if stored is not None and stored[0] == stored_identity(ident):
        try:
            return from_json(path, stored[1], ident), False
        except NotCleanable:
            pass
    return plan(path), True


def plan(path: Path) -> CleanCopy:
    """The clean copy of one master (cached while the file stays the same); NotCleanable when it cannot be read."""
    try:
        return cached_plan(path, identity(path.stat()))
    except (OSError, BadImage, struct.error, ValueError) as exc:
        raise NotCleanable(f"{path.name} cannot be prepared for download: {exc}") from None


@functools.lru_cache(maxsize=PLAN_CACHE)
def cached_plan(path: Path, ident: tuple[int, int, int]) -> CleanCopy:
    kind = signature_format(path)
    planner = {"JPEG": plan_jpeg, "PNG": plan_png, "WEBP": plan_webp, "HEIF": plan_heif}.get(kind or "")
    if planner is None:
        raise NotCleanable(f"{path.name} is not a JPEG, PNG, WebP or HEIC file")
    with open(path, "rb") as handle:
        pieces = planner(handle, ident[1])
    return CleanCopy(path, kind, tuple(merge(pieces)), ident)


def merge(pieces: list[Piece]) -> Iterator[Piece]:
    """Join ranges that follow each other, so a clean copy reads in few large pieces; drop empty ones."""
    last: Piece | None = None
    for piece in pieces:
        if piece in (b"", ()) or (isinstance(piece, tuple) and piece[1] == 0):
            continue
        if isinstance(piece, tuple) and isinstance(last, tuple) and last[0] + last[1] == piece[0]:
            last = (last[0], last[1] + piece[1])
            continue
        if last is not None:
            yield last
        last = piece
    if last is not None:
        yield last


def orientation_of(exif_block: bytes) -> int:
    """The orientation tag of a TIFF-structured EXIF block; 1 when absent or unreadable."""
    exif = Image.Exif()
    try:
        exif.load(exif_block)
    except EXIF_ERRORS:
        return 1
    return exif_orientation(exif)


def orientation_tiff(orientation: int) -> bytes:
    """A TIFF block with one tag: Orientation (SHORT)."""
    entry = struct.pack(">HHIHH", ORIENTATION, 3, 1, orientation, 0)
    return b"MM\x00*\x00\x00\x00\x08" + struct.pack(">H", 1) + entry + b"\x00\x00\x00\x00"


# ---------------------------------------------------------------- JPEG


def jpeg_keeps(code: int, head: bytes) -> bool:
    """Whether a segment before the picture's data belongs to the picture (or its colours)."""
    if code == APP0:
        return head.startswith(b"JFIF\x00")
    if code == APP2:
        return head.startswith(b"ICC_PROFILE\x00")
    if code == APP14:
        return head.startswith(b"Adobe")
    return not (0xE0 <= code <= 0xEF or code == COM)


def plan_jpeg(handle: BinaryIO, size: int) -> list[Piece]:
    """SOI, the picture's segments in order, orientation if not upright, everything up to and with EOI.

    The orientation segment goes where the first non-JFIF segment was, but
    EXIF may come after XMP or tables, so its place is kept and filled last.
    """
    pieces: list[Piece] = [(0, 2)]
    position, orientation, slot = 2, 1, None
    while (found := next_marker(handle, position)) is not None:
        at, code = found
        if code == EOI:
            pieces.append((at, 2))
            break
        position = at + 2
        if code in STANDALONE_MARKERS:
            pieces.append((at, 2))
            continue
        handle.seek(position)
        length = int.from_bytes(handle.read(2), "big")
        if length < 2 or position + length > size:
            raise NotCleanable("the JPEG file's segments run past its end")
        head = handle.read(min(length - 2, 64))
        if code == APP1 and head.startswith(b"Exif\x00\x00") and orientation == 1:
            orientation = orientation_of(exif_payload(handle, position + 8, length - 8))
        if slot is None and code != APP0:
            slot = len(pieces)
            pieces.append(b"")
        position += length
        if jpeg_keeps(code, head):
            pieces.append((at, position - at))
        if code == SOS:  # the scan's data runs to the next marker that is not a restart
            stop = next_marker(handle, position)
            stop_at = stop[0] if stop else size
            pieces.append((position, stop_at - position))
            position = stop_at
    if slot is not None:
        pieces[slot] = orientation_segment(orientation)
    return pieces  # without an end marker too: the checks at upload took the picture as whole


def exif_payload(handle: BinaryIO, offset: int, length: int) -> bytes:
    handle.seek(offset)
    return handle.read(min(length, 1 << 20))


def orientation_segment(orientation: int) -> bytes:
    """An APP1 EXIF segment holding only the orientation; nothing for an upright photo."""
    if orientation == 1:
        return b""
    payload = b"Exif\x00\x00" + orientation_tiff(orientation)
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


# ---------------------------------------------------------------- PNG


def plan_png(handle: BinaryIO, size: int) -> list[Piece]:
    pieces: list[Piece] = [(0, 8)]
    position, orientation, inserted = 8, 1, False
    while position + 12 <= size:
        handle.seek(position)
        length, kind = struct.unpack(">I4s", handle.read(8))
        end = position + 12 + length
        if end > size:
            raise NotCleanable("the PNG file's chunks run past its end")
        if kind == b"eXIf":
            orientation = orientation_of(handle.read(min(length, 1 << 20)))
        if kind == b"IDAT" and not inserted:
            pieces.append(png_chunk(b"eXIf", orientation_tiff(orientation)) if orientation != 1 else b"")
            inserted = True
        if kind in PNG_KEEP:
            pieces.append((position, end - position))
        position = end
        if kind == b"IEND":
            break
    return pieces


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# ---------------------------------------------------------------- WebP


def plan_webp(handle: BinaryIO, size: int) -> list[Piece]:
    handle.seek(4)
    riff_end = min(size, 8 + int.from_bytes(handle.read(4), "little"))
    kept: list[Piece] = []
    position, orientation, vp8x = 12, 1, None
    while position + 8 <= riff_end:
        handle.seek(position)
        kind, length = struct.unpack("<4sI", handle.read(8))
        end = position + 8 + length + (length & 1)
        if end > riff_end:
            raise NotCleanable("the WebP file's chunks run past its end")
        if kind == b"EXIF":
            data = handle.read(min(length, 1 << 20))
            orientation = orientation_of(data[6:] if data.startswith(b"Exif\x00\x00") else data)
        if kind == b"VP8X":
            vp8x = bytearray(handle.read(length))
        elif kind in WEBP_KEEP:
            kept.append((position, end - position))
        position = end
    return webp_pieces(vp8x, kept, orientation)


def webp_pieces(vp8x: bytearray | None, kept: list[Piece], orientation: int) -> list[Piece]:
    """RIFF header, the extended header with metadata flags put right, the kept chunks, an orientation EXIF."""
    if vp8x is None:  # a simple WebP has no room for metadata
        chunks: list[Piece] = kept
    else:
        vp8x[0] &= ~(VP8X_EXIF | VP8X_XMP) & 0xFF
        exif = b""
        if orientation != 1:
            vp8x[0] |= VP8X_EXIF
            tiff = orientation_tiff(orientation)
            exif = b"EXIF" + struct.pack("<I", len(tiff)) + tiff
        chunks = [b"VP8X" + struct.pack("<I", len(vp8x)) + bytes(vp8x), *kept, exif]
    total = 4 + sum(len(p) if isinstance(p, bytes) else p[1] for p in chunks)
    return [b"RIFF" + struct.pack("<I", total) + b"WEBP", *chunks]


# ---------------------------------------------------------------- HEIC


def plan_heif(handle: BinaryIO, size: int) -> list[Piece]:
    """The file as it is, with every EXIF and XMP item overwritten in place by an empty one of the same size."""
    meta = next((box for box in boxes(handle, 0, size) if box.kind == b"meta"), None)
    if meta is None:
        return [(0, size)]
    parts = {box.kind: box for box in boxes(handle, meta.start + 4, meta.end)}
    types = item_types(handle, parts.get(b"iinf"))
    if b"iloc" not in parts:
        return [(0, size)]
    idat = parts.get(b"idat")
    blanks = []
    for item_id, extents in item_extents(body(handle, parts[b"iloc"]), idat.start if idat else None):
        kind = types.get(item_id)
        if kind in (b"Exif", b"mime"):
            blanks += blank_extents(extents, kind, size)
    return cut_around(sorted(blanks), size)


def item_extents(data: bytes, idat_start: int | None) -> Iterator[tuple[int, list[tuple[int, int]]]]:
    """Item id and extents as (file offset, length) from an ``iloc`` body; items stored elsewhere are left out."""
    for item in item_locations(data):
        shift = idat_start if item.method == 1 and idat_start is not None else 0
        if item.method in (0, 1):
            yield item.item_id, [(offset + shift, length) for offset, length in item.extents]


def blank_extents(extents: list[tuple[int, int]], kind: bytes, size: int) -> list[tuple[int, bytes]]:
    """(offset, new bytes) for an item's extents: an empty EXIF or XMP block, then zeros or spaces."""
    total = sum(length for _, length in extents)
    if kind == b"Exif":
        empty = (b"\x00\x00\x00\x00" + EMPTY_TIFF) if total >= 4 + len(EMPTY_TIFF) else b""
        filler = empty + b"\x00" * (total - len(empty))
    else:
        empty = EMPTY_XMP if total >= len(EMPTY_XMP) else b""
        filler = empty + b" " * (total - len(empty))
    blanks, at = [], 0
    for offset, length in extents:
        if offset + length > size:
            raise NotCleanable("the HEIC file's metadata lies past its end")
        blanks.append((offset, filler[at : at + length]))
        at += length
    return blanks


def cut_around(blanks: list[tuple[int, bytes]], size: int) -> list[Piece]:
    pieces: list[Piece] = []
    position = 0
    for offset, data in blanks:
        if offset < position:
            raise NotCleanable("the HEIC file's metadata items overlap")
        pieces += [(position, offset - position), data]
        position = offset + len(data)
    pieces.append((position, size - position))
    return [p for p in pieces if (len(p) if isinstance(p, bytes) else p[1]) > 0]
