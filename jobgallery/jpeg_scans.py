"""A JPEG's scans: counted before any is decoded, then decoded strictly, so a scan cut short shows.

Cost. A progressive decoder passes over every coefficient of the picture once
per scan, so a small file that repeats one tiny scan thousands of times costs
minutes of CPU (8,000 scans of a 48 MP picture: about 76 s with Pillow).
Encoders write few scans: the progressive files of libjpeg and Pillow have
10 (6 for grey), camera and phone JPEGs one per picture, and libjpeg-turbo's
own guard (``TJFLAG_LIMITSCANS``) stops at 500. More than ``MAX_SCANS`` is
refused after a walk over the markers that reads the file in chunks and
decodes nothing. The same walk reads each scan's header: together they must
carry every coefficient of every component to full precision (libjpeg will
not write less), so a file cut between two scans is refused as well.

Passes. The scan count alone bounds too little: a refinement scan visits
every coefficient of its band in every block, so 93 copies of one over a
100 MP grey picture cost 6 to 12 s. The walk therefore also sums, over the
scans, the blocks of each component a scan carries times the coefficients of
its band (64 for a sequential scan), and refuses more than
``MAX_COEFFICIENT_PASSES``. Encoders send each coefficient in 1 to 3 passes:
Pillow's progressive 48 MP photo comes to 191 M (4:2:0, with or without
``optimize``), 239 M (4:2:2), 335 M (4:4:4) and 143 M grey; 100 MP at 4:4:4
to 700 M. At the limit, 1.5 G, the costliest file we made (refinement scans
over a 100 MP picture) checks in 1.0 s and a 48 MP 4:4:4 photo in 0.75 s
(medians, bench/hostile.py).

Completeness. libjpeg only warns when a scan's data stops early (it fills the
rest with grey) and Pillow drops its warnings, so a file cut inside any scan
with an end marker put back decodes "fine" there. The check decodes with
libjpeg-turbo through simplejpeg in strict mode instead, which turns those
warnings into errors, at 1/8 scale (every compressed byte of every scan is
still read). A few warnings say nothing about missing data (an unknown JFIF
revision, an unknown Adobe transform code, an unusual SOS header in a
sequential file, a broken ICC chunk); files with one of those are decoded by
Pillow, leniently, rather than refused. Stray bytes are harmless only between
segments and as zero padding before the end marker: those are left out and
the file decoded strictly again; in or after a scan's data they are what
damage leaves, and the file is refused.
"""

from __future__ import annotations

import mmap
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO

from PIL import Image

from jobgallery.errors import BadImage

if TYPE_CHECKING:
    import numpy as np

MAX_SCANS = 100
MAX_COEFFICIENT_PASSES = 1_500_000_000
TOO_MANY_PASSES = (
    f"the JPEG image's scans pass over its coefficients more than {MAX_COEFFICIENT_PASSES:,} times in all;"
    " no camera or program writes that many"
)
SOS = 0xDA
# Start-of-frame markers of Huffman-coded pictures: baseline, extended, progressive.
FRAMES = frozenset({0xC0, 0xC1, 0xC2})
PROGRESSIVE_FRAMES = frozenset({0xC2})
# Arithmetic-coded frames (sequential, progressive, lossless). The strict check's libjpeg-turbo decodes
# them, but Pillow's streaming decoder cannot ("broken data stream"), so such a master would be stored
# and then fail every build; no camera or phone writes them.
ARITHMETIC_FRAMES = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
ARITHMETIC = "the JPEG image uses arithmetic coding, which cameras and phones do not write and the gallery cannot show"
EOI = 0xD9
# Markers that stand alone, without a length: TEM, the restart markers, SOI.
STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})
# The next marker that is not a restart marker: 0xFF followed by anything but a stuffed 0x00, a restart
# code or another 0xFF (a fill byte). libjpeg looks for the next marker the same way, inside a scan's
# entropy-coded data and between segments alike.
NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
SEARCH_CHUNK = 1 << 20
# Between segments the next marker follows at once: a small first read finds it without reading a chunk.
FIRST_READ = 64
# Segments before the end of the picture: a phone JPEG has 10 to 30 (a 255-part ICC profile, extended XMP
# and a multi-picture index included); Pillow reads each one in Python, so 25 MiB of tiny ones cost minutes.
MAX_SEGMENTS = 10_000
# libjpeg-turbo warnings that are no sign of missing or damaged picture data (jerror.h, 2.1 and 3.x).
HARMLESS_WARNINGS = (
    "unknown JFIF revision",
    "Unknown Adobe color transform",
    "Invalid SOS parameters for sequential JPEG",
    "bad ICC marker",
)
# Bytes that belong to no segment: some writers leave junk between segments and pad the last scan before
# EOI (``junk``: the file is decoded again without them); anywhere else they are what damage leaves.
EXTRANEOUS_COUNT = re.compile(r"(\d+) extraneous bytes before marker 0x([0-9a-f]{2})")
CUT_SHORT = "the JPEG image is damaged or cut short and cannot be decoded"


def next_marker(handle: BinaryIO, start: int) -> tuple[int, int] | None:
    """Offset and code of the first marker at or after ``start`` (restart markers skipped); None at the end.

    Read in chunks, so a 25 MiB scan is never held whole; a run of 0xFF at a
    chunk's end is kept, since a marker code may follow it in the next chunk.
    """
    handle.seek(start)
    offset, block, size = start, b"", FIRST_READ
    while chunk := handle.read(size):
        size = SEARCH_CHUNK
        block += chunk
        found = NEXT_MARKER.search(block)
        if found:
            return offset + found.end() - 2, block[found.end() - 1]
        keep = len(block) - len(block.rstrip(b"\xff"))
        offset += len(block) - keep
        block = block[len(block) - keep :]
    return None


@dataclass
class Progression:
    """What a JPEG's frame and scan headers promise and deliver, read without decoding.

    ``levels`` maps (component id, coefficient 0-63) to the point transform
    (Al) of the last scan that carried it: 0 means the coefficient is complete.
    ``gaps`` are (start, end) of bytes after a segment of known length that
    precede the next marker (junk, or 0xFF fill); ``end`` is where EOI is.
    """

    progressive: bool = False
    components: tuple[int, ...] = ()
    scans: int = 0
    levels: dict[tuple[int, int], int] = field(default_factory=dict)
    blocks: dict[int, int] = field(default_factory=dict)
    passes: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    end: int | None = None

    def add_frame(self, code: int, header: bytes) -> None:
        """One SOF header: precision, height, width, Nf, Nf triples of (component id, Hi/Vi, table)."""
        self.progressive = code in PROGRESSIVE_FRAMES
        count = header[5] if len(header) > 5 else 0
        triples = [header[6 + 3 * i : 9 + 3 * i] for i in range(count) if 9 + 3 * i <= len(header)]
        self.components = tuple(triple[0] for triple in triples)
        height, width = int.from_bytes(header[1:3], "big"), int.from_bytes(header[3:5], "big")
        self.blocks = component_blocks(width, height, [(t[0], t[1] >> 4, t[1] & 15) for t in triples])

    def add_scan(self, header: bytes) -> None:
        """One SOS header: Ns, Ns pairs of (component id, tables), Ss, Se, Ah/Al."""
        self.scans += 1
        count = header[0] if header else 0
        if len(header) < 4 + 2 * count:
            return
        first, last, approximation = header[1 + 2 * count : 4 + 2 * count]
        band = range(first, last + 1) if self.progressive else range(64)
        for component in header[1 : 1 + 2 * count : 2]:
            self.passes += self.blocks.get(component, 0) * len(band)
            for coefficient in band:
                self.levels[(component, coefficient)] = approximation & 15

    def complete(self) -> bool:
        """Every coefficient of every component sent to full precision (libjpeg refuses to write less)."""
        return all(self.levels.get((component, k)) == 0 for component in self.components for k in range(64))


def component_blocks(width: int, height: int, sampling: list[tuple[int, int, int]]) -> dict[int, int]:
    """The 8x8 blocks of each component (id, Hi, Vi), counted as libjpeg pads them to whole MCUs."""
    wide = max((h for _, h, _ in sampling), default=1) or 1
    tall = max((v for _, _, v in sampling), default=1) or 1
    columns, rows = -(-width // (8 * wide)), -(-height // (8 * tall))
    return {component: columns * h * rows * v for component, h, v in sampling}


def read_progression(handle: BinaryIO, limit: int = MAX_SCANS) -> Progression:
    """The frame and scan headers up to EOI; BadImage beyond ``limit`` scans or ``MAX_SEGMENTS`` segments.

    Segments are skipped by their length, as libjpeg skips them, so an EXIF
    thumbnail's own markers are never read. A file that ends early simply
    ends the walk, with the scans it has.
    """
    progression, position, segments, in_scan = Progression(), 2, 0, False
    while (found := next_marker(handle, position)) is not None:
        at, code = found
        if at > position and not in_scan:
            progression.gaps.append((position, at))
        if code == EOI:
            progression.end = at
            break
        position, in_scan = at + 2, code == SOS
        if code in STANDALONE_MARKERS:
            continue
        segments += 1
        if segments > MAX_SEGMENTS:
            raise BadImage(f"the JPEG image has more than {MAX_SEGMENTS} segments; no camera writes that many")
        handle.seek(position)
        length = int.from_bytes(handle.read(2), "big")
        if length < 2:
            break
        position += length
        if code in ARITHMETIC_FRAMES:
            raise BadImage(ARITHMETIC)
        if code in FRAMES:
            progression.add_frame(code, handle.read(min(length - 2, 3 * 256 + 6)))
        elif code == SOS:
            progression.add_scan(handle.read(min(length - 2, 2 * 4 + 4)))
            if progression.scans > limit:
                raise BadImage(f"the JPEG image has more than {limit} scans; no camera or program writes that many")
            if progression.passes > MAX_COEFFICIENT_PASSES:
                raise BadImage(TOO_MANY_PASSES)
    return progression


def check_scans(path: Path, limit: int = MAX_SCANS) -> None:
    """Refuse a JPEG with more than ``limit`` scans, or whose scans stop before the picture is complete."""
    with open(path, "rb") as handle:
        progression = read_progression(handle, limit)
    if not progression.complete():
        raise BadImage("the JPEG image is cut short: its scans end before the whole picture was sent")


# Pillow's decoded mode -> what simplejpeg is asked for, and the Pillow mode that wraps it without a copy.
PIXEL_MODES = {"RGB": ("RGBX", "RGBX"), "L": ("GRAY", "L")}
# The scales libjpeg-turbo decodes at, in eighths (tjGetScalingFactors: M/8 for M = 1 to 16; above 8
# enlarges, which no derivative does). Pillow's ``draft`` offers only 1/8, 1/4, 1/2 and 1 of them.
EIGHTHS = range(1, 9)
# How far (in area) a decode at one of those scales may be from the size asked for to stand in for it.
SCALE_SLACK = 0.05

Box = tuple[float, float, float, float]


def scaled_size(size: tuple[int, int], eighths: int) -> tuple[int, int]:
    """The size libjpeg-turbo decodes a ``size`` picture to at ``eighths``/8 (each side rounded up)."""
    return -(-size[0] * eighths // 8), -(-size[1] * eighths // 8)


def nearest_scale(size: tuple[int, int], target: tuple[int, int], at_least: tuple[int, int]) -> tuple[int, int]:
    """The decoded size of a ``size`` JPEG nearest ``target`` in area, when within ``SCALE_SLACK``; else ``target``.

    A decode at that scale needs no resize at all: a 4032 x 3024 phone photo
    asked at 2560 x 1920 decodes at 5/8 to 2520 x 1890 (3 % less area) in
    63 ms, where the full decode and a bicubic resize take 207 ms
    (bench/zoom_methods.py). libjpeg-turbo scales in the DCT domain, each
    8x8 block on its own, as Pillow's ``draft`` does at 1/2: on fine detail
    both score about 28 dB against a Lanczos resize, on phone photos 40 to
    41 dB. Never below ``at_least`` (the display image's size).
    """
    wanted = target[0] * target[1]
    near = min((scaled_size(size, m) for m in EIGHTHS), key=lambda s: abs(s[0] * s[1] / wanted - 1))
    close = abs(near[0] * near[1] / wanted - 1) <= SCALE_SLACK
    return near if close and near[0] >= at_least[0] and near[1] >= at_least[1] else target


def decode_pixels(
    path: Path, full_size: tuple[int, int], target: tuple[int, int], mode: str, *, lenient: bool = False
) -> tuple[Image.Image, Box] | None:
    """The JPEG decoded strictly at libjpeg-turbo's smallest scale covering ``target``, and the picture's box in it.

    Pixels are RGBX or L; the box is the whole picture in their coordinates
    (a scaled side is rounded up, so the last pixel may be partly outside).
    None when Pillow must decode the file instead: a mode only Pillow keeps
    (CMYK, after a strict check at 1/8 scale unless ``lenient``), a harmless
    warning, or, when ``lenient`` (a build, whose masters were checked as
    they came in), damaged data. Raises BadImage for that otherwise.
    """
    if mode not in PIXEL_MODES:
        if not lenient:
            decode_strictly(path)
        return None
    colorspace, pillow_mode = PIXEL_MODES[mode]
    try:
        array = strict_decode(path, colorspace, target)
    except BadImage:
        if lenient:
            return None
        raise
    if array is None:
        return None
    size = array.shape[1], array.shape[0]
    eighths = next((m for m in EIGHTHS if scaled_size(full_size, m) == size), None)
    if eighths is None:
        return None
    box = (0.0, 0.0, full_size[0] * eighths / 8, full_size[1] * eighths / 8)
    return Image.frombuffer(pillow_mode, size, array, "raw", pillow_mode, 0, 1), box


def strict_decode(path: Path, colorspace: str, at_least: tuple[int, int]) -> np.ndarray | None:
    """libjpeg-turbo's decode at the smallest M/8 scale of at least ``at_least``, stopping at any warning.

    The file is mapped, not read: simplejpeg needs one buffer, and a mapping
    costs no memory of its own. Bytes that belong to no segment (``junk``) are
    left out of a copy on disk beside the file, which is decoded strictly in
    turn. None when a harmless warning stops it; BadImage when the picture's
    data is damaged or short.
    """
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        array, message = decode_stopping(data, colorspace, at_least)
        gaps = [] if array is not None else junk(handle, data, message)
        if gaps:
            with tempfile.TemporaryFile(dir=path.parent) as copy:
                for start, end in between(gaps, len(data)):
                    copy.write(data[start:end])
                copy.flush()
                with mmap.mmap(copy.fileno(), 0, access=mmap.ACCESS_READ) as kept:
                    array, message = decode_stopping(kept, colorspace, at_least)
    if array is not None:
        return array
    if any(text.lower() in message for text in HARMLESS_WARNINGS):
        return None
    raise BadImage(CUT_SHORT)


def decode_stopping(data: mmap.mmap, colorspace: str, at_least: tuple[int, int]) -> tuple[np.ndarray | None, str]:
    """simplejpeg's strict decode of ``data``: the pixels, or None and the warning it stopped at (lower case)."""
    try:
        array = strict_decoder().decode_jpeg(
            data, colorspace, min_width=at_least[0], min_height=at_least[1], strict=True
        )
    except ValueError as exc:
        return None, str(exc).lower()
    return array, ""


def junk(handle: BinaryIO, data: mmap.mmap, message: str) -> list[tuple[int, int]]:
    """(start, end) of the bytes libjpeg-turbo skipped as "extraneous" that no writer's damage leaves.

    Bytes after a segment of known length, before the next marker, are junk
    some writers leave. So are zeros or 0xFF bytes that pad a picture's last
    scan before its end marker, where libjpeg-turbo's message counts them;
    other bytes there are what is left of a scan whose data was damaged.
    Empty when the message is no such warning.
    """
    found = EXTRANEOUS_COUNT.search(message)
    if found is None:
        return []
    progression = read_progression(handle)
    gaps, end = list(progression.gaps), progression.end
    count = int(found.group(1))
    if found.group(2) == f"{EOI:02x}" and end is not None and count <= end:
        padding = data[end - count : end]
        if not padding.strip(b"\x00\xff"):
            gaps.append((end - count, end))
    return sorted(gaps)


def between(gaps: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The ranges of ``0..size`` that lie outside ``gaps`` (sorted, apart)."""
    kept, start = [], 0
    for gap_start, gap_end in gaps:
        kept.append((start, gap_start))
        start = gap_end
    return [*kept, (start, size)]


def strict_decoder() -> ModuleType:
    """simplejpeg, imported on first use: with numpy it costs 0.2 s and 20 MiB that a no-op build never needs."""
    import simplejpeg

    return simplejpeg


def decode_strictly(path: Path) -> bool:
    """Decode the JPEG at 1/8 scale, refusing any scan whose data stops early or is damaged (BadImage).

    False when libjpeg-turbo stopped at one of the harmless warnings: the
    caller then decodes it leniently. The picture at 1/8 scale is thrown away.
    """
    return strict_decode(path, "RGB", (1, 1)) is not None
