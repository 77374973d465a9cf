"""The containers of PNG, WebP and HEIC walked before any decoder sees them: whole, and bounded in cost.

Each check reads only headers (and metadata chunks up to a small cap) and
raises BadImage for:

- a file that ends early: a PNG without its IEND chunk or with a chunk running
  past the end, a WebP whose RIFF size is larger than the file, a HEIC whose
  boxes or item data (``iloc`` extents) lie past the end;
- more parts than any camera writes, which a decoder would pay for: PNG
  chunks, WebP animation frames, HEIC items and grid tiles, ISOBMFF boxes;
- metadata too big to read whole (Pillow reads every PNG chunk before the
  pixels), or compressed metadata that inflates past a small cap (PNG
  ``zTXt``, ``iTXt``; HEIC items with a content encoding);
- an ICC profile larger than ``MAX_ICC_BYTES``, the one limit for profiles
  in every format (``icc_too_large``; JPEG and HEIC profiles are measured
  once Pillow opened the file, ``jobgallery.images.open_image``).

Figures for the caps: a 48 MP iPhone HEIC holds about 110 items (48 tiles,
thumbnail, EXIF, gain map); phone PNGs and WebPs hold fewer than 20 chunks;
ICC profiles of RGB and grey pictures are 0.5 to 60 KiB, press CMYK profiles
with lookup tables up to 2 MiB; EXIF is at most 64 KiB.
libheif 1.18 and later stop at 1,000 references too; the tile cap here holds
whatever libheif is installed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from jobgallery.errors import BadImage

KIB = 1 << 10
# Any one metadata chunk or item as stored (ICC, EXIF, XMP, text, unknown chunks).
MAX_METADATA_BYTES = 1 << 20
# One ICC profile, in any format: generator/colour.py converts through any profile up to this size, and a file
# carrying a larger one is refused, so no accepted photo is published unconverted.
MAX_ICC_BYTES = 4 << 20
# An iCCP chunk besides its profile: keyword (at most 79 bytes), two separators and zlib's own bytes.
ICCP_OVERHEAD = KIB
# Compressed metadata other than a profile once inflated, per chunk; and all metadata of one picture besides its
# profile, as stored plus inflated.
MAX_INFLATED_BYTES = 256 * KIB
MAX_METADATA_TOTAL = 4 << 20
MAX_PNG_CHUNKS = 10_000
MAX_PNG_PIXEL_CHUNKS = 100_000
MAX_WEBP_FRAMES = 1_000
MAX_HEIF_ITEMS = 4_096
MAX_HEIF_TILES = 1_000
MAX_BOXES = 10_000
# How much of a PNG's pixel data is read, and inflated, at a time.
READ_PIECE = 1 << 20

PNG_PIXELS = frozenset({b"IDAT", b"fdAT"})
# Samples per pixel of each PNG colour type: grey, RGB, palette, grey + alpha, RGBA.
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# The seven Adam7 passes: first column and row, then the step between columns and between rows.
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
PNG_COMPRESSED = frozenset({b"iCCP", b"zTXt", b"iTXt"})
WEBP_METADATA = frozenset({b"ICCP", b"EXIF", b"XMP "})
HEIF_METADATA = frozenset({b"Exif", b"mime"})


def cut_short(label: str, detail: str) -> BadImage:
    return BadImage(f"the {label} image is cut short: {detail}")


def icc_too_large(label: str) -> BadImage:
    return BadImage(f"the {label} image's ICC profile is larger than {MAX_ICC_BYTES} bytes (4 MiB), the most allowed")


# ---------------------------------------------------------------- PNG


def check_png(path: Path) -> None:
    """Walk every chunk up to IEND: each within the file, not too many, metadata within its caps.

    Pillow reads every chunk whole (and inflates compressed ones) before the
    pixels; no chunk gets that far unmeasured. The one ICC profile a PNG may
    carry has its own cap and counts apart from the rest of the metadata.
    """
    total, profiles = 0, 0
    for handle, kind, length in png_chunks(path):
        if kind in PNG_PIXELS:
            continue
        size = png_metadata_size(handle, kind, length)
        if kind == b"iCCP":
            profiles += 1
            if profiles > 1:
                raise BadImage("the PNG image has more than one ICC profile (iCCP chunk)")
            continue
        total += size
        if total > MAX_METADATA_TOTAL:
            raise BadImage(f"the PNG image carries more than {MAX_METADATA_TOTAL} bytes of metadata")


def png_chunks(path: Path) -> Iterator[tuple[BinaryIO, bytes, int]]:
    """(open file positioned at the body, type, length) of each chunk before IEND; BadImage when one is missing.

    At most ``MAX_PNG_CHUNKS`` chunks besides the pixel ones, and at most
    ``MAX_PNG_PIXEL_CHUNKS`` of those (libpng writes 8 KiB each).
    """
    size = path.stat().st_size
    counts = {True: 0, False: 0}
    with open(path, "rb") as handle:
        position = 8
        while True:
            handle.seek(position)
            head = handle.read(8)
            if len(head) < 8:
                raise cut_short("PNG", "it has no end chunk (IEND)")
            length, kind = struct.unpack(">I4s", head)
            position += 12 + length
            if position > size:
                raise cut_short("PNG", f"its {chunk_name(kind)} chunk runs past the end of the file")
            if kind == b"IEND":
                return
            pixels = kind in PNG_PIXELS
            counts[pixels] += 1
            if counts[pixels] > (MAX_PNG_PIXEL_CHUNKS if pixels else MAX_PNG_CHUNKS):
                raise BadImage("the PNG image has more chunks than any camera or program writes")
            yield handle, kind, length


def check_png_pixels(path: Path) -> None:
    """The pixel data (the IDAT chunks' one zlib stream) must end, and inflate to exactly the picture's rows.

    Pillow stops reading once it has every row, so a stream cut after them
    (or one that goes on) passes it; and a stream that ends cleanly before
    the last row passes it too, the missing rows left black. Run after
    Pillow decoded the picture, which proved it within the pixel and memory
    limits: the stream is then inflated (and thrown away) at most to one
    byte past the picture's size.
    """
    inflater, expected, produced = zlib.decompressobj(), 0, 0
    for handle, kind, length in png_chunks(path):
        if kind == b"IHDR":
            expected = png_stream_size(handle.read(13))
        elif kind == b"IDAT":
            produced += inflate_away(inflater, handle, length, expected - produced)
            if produced > expected:
                raise BadImage("the PNG image is damaged: its pixel data runs on past the picture")
    if not inflater.eof:
        raise cut_short("PNG", "its pixel data stops before its end")
    if produced < expected:
        raise cut_short("PNG", f"its pixel data holds {produced} of the {expected} bytes its rows take")


def png_stream_size(header: bytes) -> int:
    """Bytes an IHDR's picture inflates to: each row's samples plus its filter byte, per Adam7 pass if interlaced.

    An Adam7 pass that has no column or no row holds no rows at all, not
    even filter bytes (PNG specification, section 8.2).
    """
    width, height, depth, colour, _compression, _filter, interlace = struct.unpack(">IIBBBBB", header[:13])
    bits = PNG_CHANNELS.get(colour, 4) * depth
    if interlace != 1:
        return png_rows_size(width, height, bits)
    return sum(
        png_rows_size(-(-(width - left) // step_x), -(-(height - top) // step_y), bits)
        for left, top, step_x, step_y in ADAM7
        if width > left and height > top
    )


def png_rows_size(width: int, height: int, bits: int) -> int:
    """``height`` rows of ``width`` pixels of ``bits`` bits each, every row a filter byte and whole bytes."""
    return height * (1 + -(-width * bits // 8))


def inflate_away(inflater: zlib._Decompress, handle: BinaryIO, length: int, room: int) -> int:
    """Inflate ``length`` bytes from ``handle``, keeping none of the output; how many bytes came out.

    Stops once more than ``room`` bytes came out, and at the stream's end.
    """
    produced = 0
    while length > 0 and not inflater.eof and produced <= room:
        data = handle.read(min(length, READ_PIECE))
        length -= len(data)
        try:
            while data and not inflater.eof and produced <= room:
                produced += len(inflater.decompress(data, READ_PIECE))
                data = inflater.unconsumed_tail
        except zlib.error:
            raise BadImage("the PNG image is damaged: its pixel data cannot be inflated") from None
    return produced


def png_metadata_size(handle: BinaryIO, kind: bytes, length: int) -> int:
    """Bytes a chunk other than pixels takes once read (and inflated).

    BadImage past ``MAX_METADATA_BYTES`` as stored or ``MAX_INFLATED_BYTES``
    inflated; an iCCP chunk past ``MAX_ICC_BYTES`` (plus its overhead as stored).
    """
    profile = kind == b"iCCP"
    if length > (MAX_ICC_BYTES + ICCP_OVERHEAD if profile else MAX_METADATA_BYTES):
        if profile:
            raise icc_too_large("PNG")
        raise BadImage(
            f"the PNG image's {chunk_name(kind)} chunk holds {length} bytes; "
            f"at most {MAX_METADATA_BYTES} are allowed for metadata"
        )
    stream = compressed_part(kind, handle.read(length)) if kind in PNG_COMPRESSED else None
    if stream is None:
        return length
    cap = MAX_ICC_BYTES if profile else MAX_INFLATED_BYTES
    inflated = inflated_size(stream, cap)
    if inflated > cap:
        if profile:
            raise icc_too_large("PNG")
        raise BadImage(f"the PNG image's {chunk_name(kind)} chunk inflates to more than {cap} bytes")
    return length + inflated


def compressed_part(kind: bytes, body: bytes) -> bytes | None:
    """The zlib stream inside an iCCP, zTXt or iTXt chunk; None when the chunk holds plain text."""
    name_end = body.find(b"\0")
    if name_end < 0:
        return None
    if kind in (b"iCCP", b"zTXt"):
        return body[name_end + 2 :]
    if body[name_end + 1 : name_end + 2] != b"\x01":
        return None
    language_end = body.find(b"\0", name_end + 3)
    keyword_end = body.find(b"\0", language_end + 1) if language_end >= 0 else -1
    return body[keyword_end + 1 :] if keyword_end >= 0 else None


def inflated_size(stream: bytes, cap: int) -> int:
    """Bytes the zlib ``stream`` inflates to, counting no further than one past ``cap``."""
    inflater = zlib.decompressobj()
    try:
        return len(inflater.decompress(stream, cap + 1))
    except zlib.error:
        return 0  # not ours to judge: Pillow refuses a broken stream itself


def chunk_name(kind: bytes) -> str:
    return kind.decode("latin-1").strip() or "unnamed"


# ---------------------------------------------------------------- WebP


def check_webp(path: Path) -> None:
    """The RIFF size must fit the file; chunks must fit the RIFF; at most ``MAX_WEBP_FRAMES`` frames."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        riff_end = 8 + struct.unpack("<I", handle.read(8)[4:8])[0]
        if riff_end > size:
            raise cut_short("WebP", f"its header promises {riff_end} bytes and the file has {size}")
        position, frames = 12, 0
        for _ in range(MAX_BOXES):
            if position + 8 > riff_end:
                return
            handle.seek(position)
            kind, length = struct.unpack("<4sI", handle.read(8))
            if position + 8 + length > riff_end:
                raise cut_short("WebP", f"its {chunk_name(kind)} chunk runs past the end of the file")
            frames += kind == b"ANMF"
            if frames > MAX_WEBP_FRAMES:
                raise BadImage(f"the WebP image has more than {MAX_WEBP_FRAMES} animation frames")
            if kind == b"ICCP" and length > MAX_ICC_BYTES:
                raise icc_too_large("WebP")
            if kind in WEBP_METADATA - {b"ICCP"} and length > MAX_METADATA_BYTES:
                raise BadImage(
                    f"the WebP image has {length} bytes of {chunk_name(kind)} metadata; at most "
                    f"{MAX_METADATA_BYTES} are allowed"
                )
            position += 8 + length + (length & 1)
    raise BadImage(f"the WebP image has more than {MAX_BOXES} chunks")


# ---------------------------------------------------------------- HEIC (ISOBMFF)


@dataclass(frozen=True)
class Box:
    """One ISOBMFF box: its four-letter type and where its body starts and ends in the file."""

    kind: bytes
    start: int
    end: int


class Fields:
    """Big-endian integers read one after another from a box body; a body too short is damage."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> int:
        if self.at + size > len(self.data):
            raise BadImage("the HEIC image is damaged and cannot be read")
        value = int.from_bytes(self.data[self.at : self.at + size], "big")
        self.at += size
        return value


def boxes(handle: BinaryIO, start: int, end: int) -> Iterator[Box]:
    """The boxes between ``start`` and ``end``, each checked to end inside that range; at most ``MAX_BOXES``."""
    position = start
    for _ in range(MAX_BOXES):
        if position >= end:
            return
        handle.seek(position)
        head = handle.read(8)
        if position + 8 > end or len(head) < 8:
            raise cut_short("HEIC", "its last box breaks off")
        size, kind = struct.unpack(">I4s", head)
        header = 8
        if size == 1:
            size, header = int.from_bytes(handle.read(8), "big"), 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise cut_short("HEIC", f"its {chunk_name(kind)} box runs past the end of the file")
        yield Box(kind, position + header, position + size)
        position += size
    raise BadImage(f"the HEIC image has more than {MAX_BOXES} boxes in one place")


def body(handle: BinaryIO, box: Box) -> bytes:
    """A box's body read whole: only for index boxes, which stay small (at most ``MAX_METADATA_BYTES``)."""
    if box.end - box.start > MAX_METADATA_BYTES:
        raise BadImage(f"the HEIC image has a {chunk_name(box.kind)} box of more than {MAX_METADATA_BYTES} bytes")
    handle.seek(box.start)
    return handle.read(box.end - box.start)


def check_heif(path: Path) -> None:
    """Every box inside the file, every item's data inside the file, items, tiles and metadata within caps."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        meta = next((box for box in list(boxes(handle, 0, size)) if box.kind == b"meta"), None)
        if meta is None:
            return  # libheif refuses a file without one
        parts = {box.kind: box for box in boxes(handle, meta.start + 4, meta.end)}
        types = item_types(handle, parts.get(b"iinf"))
        check_tiles(handle, parts.get(b"iref"))
        idat = parts.get(b"idat")
        if b"iloc" in parts:
            check_locations(body(handle, parts[b"iloc"]), types, size, idat.end - idat.start if idat else 0)


def item_types(handle: BinaryIO, iinf: Box | None) -> dict[int, bytes]:
    """Item id -> four-letter item type; refuses more than ``MAX_HEIF_ITEMS`` items and encoded metadata."""
    if iinf is None:
        return {}
    fields = Fields(body(handle, iinf))
    version = fields.take(1)
    fields.take(3)
    if fields.take(2 if version == 0 else 4) > MAX_HEIF_ITEMS:
        raise BadImage(f"the HEIC image has more than {MAX_HEIF_ITEMS} items")
    types = {}
    for entry in boxes(handle, iinf.start + fields.at, iinf.end):
        if entry.kind == b"infe":
            item_id, item_type = item_entry(body(handle, entry))
            types[item_id] = item_type
    return types


def item_entry(data: bytes) -> tuple[int, bytes]:
    """Id and type of one ``infe`` box (versions 2 and 3; older ones have no type and count as none)."""
    fields = Fields(data)
    version = fields.take(1)
    fields.take(3)
    if version < 2:
        return -1, b""
    item_id = fields.take(2 if version == 2 else 4)
    fields.take(2)
    item_type = data[fields.at : fields.at + 4]
    strings = data[fields.at + 4 :].split(b"\0")
    if item_type == b"mime" and len(strings) > 2 and strings[2]:
        encoding = strings[2].decode("latin-1")
        raise BadImage(f"the HEIC image holds compressed metadata ({encoding}); only plain metadata is accepted")
    return item_id, item_type


def check_tiles(handle: BinaryIO, iref: Box | None) -> None:
    """A grid picture names its tiles in a ``dimg`` reference: at most ``MAX_HEIF_TILES`` of them."""
    if iref is None:
        return
    handle.seek(iref.start)
    id_size = 2 if handle.read(1) == b"\0" else 4
    for reference in boxes(handle, iref.start + 4, iref.end):
        if reference.kind == b"dimg":
            handle.seek(reference.start + id_size)
            tiles = int.from_bytes(handle.read(2), "big")
            if tiles > MAX_HEIF_TILES:
                raise BadImage(f"the HEIC image is a grid of {tiles} tiles; at most {MAX_HEIF_TILES} are allowed")


@dataclass(frozen=True)
class ItemLocation:
    """One ``iloc`` entry: where an item's data is (ISO/IEC 14496-12, 8.11.3).

    ``method`` 0 means in the file, 1 inside ``idat``; ``extents`` are
    (offset, length) pairs in bytes, the offsets from the start of those.
    """

    item_id: int
    method: int
    extents: list[tuple[int, int]]


def item_locations(data: bytes) -> Iterator[ItemLocation]:
    """The entries of an ``iloc`` box body; BadImage past ``MAX_HEIF_ITEMS`` items or when the body breaks off."""
    fields = Fields(data)
    version = fields.take(1)
    fields.take(3)
    sizes = fields.take(2)
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version in (1, 2) else 0
    count = fields.take(2 if version < 2 else 4)
    if count > MAX_HEIF_ITEMS:
        raise BadImage(f"the HEIC image has more than {MAX_HEIF_ITEMS} items")
    for _ in range(count):
        item_id = fields.take(2 if version < 2 else 4)
        method = fields.take(2) & 15 if version in (1, 2) else 0
        fields.take(2)
        base = fields.take(base_size)
        extents = []
        for _ in range(fields.take(2)):
            fields.take(index_size)
            extents.append((base + fields.take(offset_size), fields.take(length_size)))
        yield ItemLocation(item_id, method, extents)


def check_locations(data: bytes, types: dict[int, bytes], file_size: int, idat_size: int) -> None:
    """Every extent of every item (``iloc``) lies inside the file, or inside ``idat`` for items stored there."""
    for item in item_locations(data):
        limit = {0: file_size, 1: idat_size}.get(item.method)
        if limit is not None and any(offset + length > limit for offset, length in item.extents):
            raise cut_short("HEIC", f"the data of its item {item.item_id} lies past the end of the file")
        stored = sum(length for _, length in item.extents)
        if types.get(item.item_id) in HEIF_METADATA and stored > MAX_METADATA_BYTES:
            raise BadImage(
                f"the HEIC image has {stored} bytes of metadata in one item; at most {MAX_METADATA_BYTES} are allowed"
            )
