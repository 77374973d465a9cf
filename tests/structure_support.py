"""Files that end early and files that cost more than their size, in every accepted format.

Made here, deterministically, from the same pictures as ``photos``. Used by
the truncation and decode-cost tests and by ``bench/hostile.py``.
"""

from __future__ import annotations

import io
import re
import struct
import zlib

import photos
from ingest_support import png_chunk
from PIL import Image

# ---------------------------------------------------------------- whole files to cut


def saved(fmt: str, image: Image.Image | None = None, **options) -> bytes:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    out = io.BytesIO()
    (image or photos.photo(801, 603, seed=3)).save(out, fmt, **options)
    return out.getvalue()


def scan_starts(jpeg: bytes) -> list[int]:
    """Where each SOS marker of a JPEG made by Pillow starts (no thumbnails inside, so a plain search is right)."""
    return [found.start() for found in re.finditer(rb"\xff\xda", jpeg)]


def cut_in_scan(jpeg: bytes, scan: int, fraction: float, eoi: bool = True) -> bytes:
    """The JPEG up to ``fraction`` of the way through scan ``scan`` (0-based; -1 the last), EOI put back."""
    starts = [*scan_starts(jpeg), len(jpeg) - 2]
    begin, end = starts[scan if scan >= 0 else len(starts) - 2], starts[scan + 1 if scan >= 0 else -1]
    header = 2 + int.from_bytes(jpeg[begin + 2 : begin + 4], "big")
    return jpeg[: begin + header + int((end - begin - header) * fraction)] + (b"\xff\xd9" if eoi else b"")


def png_parts(png: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks as (type, body), signature left out."""
    parts, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        parts.append((png[at + 4 : at + 8], png[at + 8 : at + 8 + length]))
        at += 12 + length
    return parts


def png_of(parts: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(kind, body) for kind, body in parts)


def png_with_split_idat(pieces: int = 4) -> bytes:
    """A PNG whose pixels are spread over several IDAT chunks, as big PNGs are written."""
    parts = png_parts(saved("PNG"))
    pixels = b"".join(body for kind, body in parts if kind == b"IDAT")
    step = len(pixels) // pieces + 1
    idats = [(b"IDAT", pixels[i : i + step]) for i in range(0, len(pixels), step)]
    return png_of([parts[0], (b"tEXt", b"Software\0test"), *idats, (b"tEXt", b"Comment\0after pixels"), parts[-1]])


def riff_claiming(webp: bytes, extra: int) -> bytes:
    """The whole WebP with a RIFF size ``extra`` bytes larger than the file holds."""
    (size,) = struct.unpack("<I", webp[4:8])
    return webp[:4] + struct.pack("<I", size + extra) + webp[8:]


def top_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of each top-level ISOBMFF box (32-bit sizes, as libheif writes them)."""
    boxes, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        boxes.append((kind, at, at + size))
        at += size
    return boxes


def heif_short_mdat(heic: bytes, missing: int) -> bytes:
    """A HEIC whose last ``missing`` bytes of picture data are gone, the mdat box shortened to match.

    Every box is whole; only the item locations (``iloc``) point past the end.
    """
    kind, start, end = top_boxes(heic)[-1]
    assert kind == b"mdat" and end == len(heic)
    shorter = heic[: end - missing]
    return shorter[:start] + struct.pack(">I", end - missing - start) + shorter[start + 4 :]


def grid_heic() -> bytes:
    """A 256x192 HEIC stored as a grid of 64x64 tiles, as phones store big photos."""
    import pillow_heif

    pillow_heif.options.GRID_TILE_SIZE = 64
    try:
        return saved("HEIF", photos.photo(256, 192, seed=4))
    finally:
        pillow_heif.options.GRID_TILE_SIZE = 0


def truncated_files() -> dict[str, bytes]:
    """At least six files per format family that end early, each as a careless cutter or a dropped link leaves it."""
    baseline = saved("JPEG", quality=90)
    progressive = saved("JPEG", quality=90, progressive=True)
    png = saved("PNG")
    parts = png_parts(png)
    pixels = parts[1][1]
    split = png_with_split_idat()
    lossy, lossless = saved("WEBP"), saved("WEBP", lossless=True)
    with_exif = saved("WEBP", exif=photos.make_exif(orientation=1, taken="2024:03:05 08:10:00").tobytes())
    heic, grid = saved("HEIF"), grid_heic()
    return {
        "jpeg-baseline-cut-at-10%": baseline[: len(baseline) // 10],
        "jpeg-baseline-cut-at-60%": baseline[: len(baseline) * 6 // 10],
        "jpeg-baseline-cut-at-50%-eoi-back": cut_in_scan(baseline, 0, 0.5),
        "jpeg-baseline-cut-at-99%-eoi-back": cut_in_scan(baseline, 0, 0.99),
        "jpeg-progressive-cut-in-scan-1": cut_in_scan(progressive, 0, 0.5),
        "jpeg-progressive-cut-in-scan-2-early": cut_in_scan(progressive, 1, 0.2),
        "jpeg-progressive-cut-in-scan-2": cut_in_scan(progressive, 1, 0.5),
        "jpeg-progressive-cut-in-scan-2-late": cut_in_scan(progressive, 1, 0.95),
        "jpeg-progressive-cut-in-scan-5": cut_in_scan(progressive, 4, 0.5),
        "jpeg-progressive-cut-in-last-scan": cut_in_scan(progressive, -1, 0.5),
        "jpeg-progressive-cut-near-end-of-last-scan": cut_in_scan(progressive, -1, 0.99),
        "jpeg-progressive-cut-without-eoi": cut_in_scan(progressive, 3, 0.5, eoi=False),
        "jpeg-progressive-cut-between-scans-eoi-back": progressive[: scan_starts(progressive)[6]] + b"\xff\xd9",
        "jpeg-junk-in-scan-then-cut-eoi-back": junk_before_restart_then_cut(),
        "jpeg-bit-rot-in-scan": bit_rot(baseline),
        "jpeg-junk-between-segments-and-cut-eoi-back": with_stray_bytes_before_tables(cut_in_scan(baseline, 0, 0.5)),
        "jpeg-garbage-before-the-end-marker": baseline[:-2] + bytes(range(1, 200)) + baseline[-2:],
        "png-without-iend": png[:-12],
        "png-cut-inside-idat": png[: len(png) // 2],
        "png-cut-inside-iend": png[:-3],
        "png-half-the-pixels-iend-back": png_of([parts[0], (b"IDAT", pixels[: len(pixels) // 2]), parts[-1]]),
        "png-zlib-stream-cut-short-iend-back": png_of([parts[0], (b"IDAT", pixels[:-5]), parts[-1]]),
        "png-only-header": png_of([parts[0], parts[-1]]),
        "png-last-of-four-idat-missing-iend-back": png_of([*png_parts(split)[:-3], png_parts(split)[-1]]),
        "png-cut-in-text-after-pixels": split[: len(split) - 20],
        "webp-lossy-cut-at-50%": lossy[: len(lossy) // 2],
        "webp-lossy-cut-at-99%": lossy[: len(lossy) * 99 // 100],
        "webp-lossless-cut-at-90%": lossless[: len(lossless) * 9 // 10],
        "webp-riff-size-larger-than-file": riff_claiming(lossy, 64),
        "webp-riff-size-one-chunk-larger": riff_claiming(with_exif, 8),
        "webp-cut-inside-exif": with_exif[: len(with_exif) - 10],
        "heic-cut-at-30%": heic[: len(heic) * 3 // 10],
        "heic-cut-at-90%": heic[: len(heic) * 9 // 10],
        "heic-cut-last-byte": heic[:-1],
        "heic-picture-data-missing-boxes-whole": heif_short_mdat(heic, 200),
        "heic-grid-last-tile-missing-boxes-whole": heif_short_mdat(grid, 300),
        "heic-grid-cut-at-80%": grid[: len(grid) * 8 // 10],
    }


def junk_before_restart_then_cut() -> bytes:
    """A byte of junk in a scan before its first restart marker, then the file cut in half and EOI put back.

    libjpeg-turbo's first complaint is then about "extraneous bytes", which
    between header segments is harmless: inside a scan it is damage.
    """
    out = io.BytesIO()
    photos.photo(640, 480).save(out, "JPEG", quality=90, restart_marker_rows=1)
    jpeg = out.getvalue()
    restart = jpeg.index(b"\xff\xd0", jpeg.index(b"\xff\xda"))
    junk = jpeg[:restart] + b"\x00" + jpeg[restart:]
    return junk[: len(junk) // 2] + b"\xff\xd9"


def bit_rot(jpeg: bytes) -> bytes:
    """Every 37th byte of 2,000 from the middle of the scan flipped (0x5A), as a failing card returns them."""
    data = bytearray(jpeg)
    for at in range(len(data) // 2, len(data) // 2 + 2000, 37):
        data[at] ^= 0x5A
    return bytes(data)


def with_junk_after_tables_between_scans(progressive: bytes) -> bytes:
    """Four junk bytes after a Huffman table segment that sits between two scans of a progressive JPEG."""
    for scan in scan_starts(progressive)[1:]:
        table = progressive.rfind(b"\xff\xc4", 0, scan)
        if table + 2 + int.from_bytes(progressive[table + 2 : table + 4], "big") == scan:
            return progressive[:scan] + b"\x12\x34\x56\x78" + progressive[scan:]
    raise AssertionError("no table segment right before a later scan")


def with_jfif_revision(jpeg: bytes, major: int, minor: int) -> bytes:
    at = jpeg.index(b"JFIF\0") + 5
    return jpeg[:at] + bytes([major, minor]) + jpeg[at + 2 :]


def with_stray_bytes_before_tables(jpeg: bytes) -> bytes:
    """Three bytes of junk between two header segments, as some old writers leave (libjpeg warns and skips them)."""
    at = jpeg.index(b"\xff\xdb")
    return jpeg[:at] + b"\x00\x11\x22" + jpeg[at:]


def whole_files() -> dict[str, bytes]:
    """The same kinds of file, whole: none may be refused, not even those libjpeg warns about harmlessly."""
    baseline = saved("JPEG", quality=90)
    progressive = saved("JPEG", quality=90, progressive=True)
    return {
        "jpeg-baseline": baseline,
        "jpeg-unknown-jfif-revision": with_jfif_revision(baseline, 2, 1),
        "jpeg-stray-bytes-between-segments": with_stray_bytes_before_tables(baseline),
        "jpeg-zero-padding-before-the-end-marker": baseline[:-2] + bytes(16) + baseline[-2:],
        "jpeg-progressive-junk-between-scans-after-tables": with_junk_after_tables_between_scans(progressive),
        "jpeg-progressive": progressive,
        "jpeg-progressive-grey": saved("JPEG", photos.photo(801, 603).convert("L"), progressive=True),
        "png": saved("PNG"),
        "png-split-idat-with-text": png_with_split_idat(),
        "webp-lossy": saved("WEBP"),
        "webp-lossless": saved("WEBP", lossless=True),
        "heic": saved("HEIF"),
        "heic-grid": grid_heic(),
    }


# ---------------------------------------------------------------- hostile: cheap to send, dear to decode


def huffman_table(table_class: int, table_id: int, symbols: dict[int, bytes]) -> bytes:
    """A DHT segment; ``symbols`` maps code length (1-16) to the symbols of that length."""
    counts = bytes(len(symbols.get(length, b"")) for length in range(1, 17))
    body = bytes([table_class << 4 | table_id]) + counts + b"".join(symbols.get(n, b"") for n in range(1, 17))
    return b"\xff\xc4" + struct.pack(">H", len(body) + 2) + body


def end_of_band_runs(blocks: int) -> bytes:
    """Entropy data saying "nothing in these ``blocks`` blocks": EOB14 runs (code ``0`` then 14 bits), padded."""
    assert blocks >= 16384, "EOB14 runs cover 16384 to 32767 blocks each"
    runs = -(-blocks // 32767)
    bits = "".join("0" + format(blocks // runs + (i < blocks % runs) - 16384, "014b") for i in range(runs))
    bits += "1" * (-len(bits) % 8)
    data = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    return data.replace(b"\xff", b"\xff\x00")


def scan_flood(scans: int = 8000, width: int = 8000, height: int = 6000) -> bytes:
    """A grey progressive JPEG followed by ``scans`` extra scans that each cover every block and change nothing.

    Each extra scan is about 60 bytes, yet the decoder passes over the whole
    picture's coefficients for it; libjpeg takes them without a warning, since
    a first AC scan with Ah = Al = 0 may follow a finished band.
    """
    whole = saved("JPEG", Image.new("L", (width, height), 128), progressive=True)
    blocks = -(-width // 8) * -(-height // 8)
    scan = b"\xff\xda" + struct.pack(">HB", 8, 1) + bytes([1, 0x01, 1, 63, 0]) + end_of_band_runs(blocks)
    return whole[:-2] + huffman_table(1, 1, {1: b"\xe0"}) + scan * scans + b"\xff\xd9"


GREY_PROGRESSIVE_SCANS = 6


def grey_progressive(width: int, height: int) -> bytes:
    """Pillow's flat grey progressive JPEG: 6 scans, every coefficient sent to full precision."""
    return saved("JPEG", Image.new("L", (width, height), 128), progressive=True)


def last_scan_repeated(times: int, width: int = 10000, height: int = 9999) -> bytes:
    """A grey progressive JPEG whose last scan (a refinement of coefficients 1-63) comes ``times`` more times.

    Under the scan limit, yet each copy makes the decoder visit all 63
    coefficients of every block again; libjpeg warns of the progression only
    after the whole file is decoded (9 to 12 s for 93 copies of a 100 MP picture).
    """
    whole = grey_progressive(width, height)
    last = whole[scan_starts(whole)[-1] : -2]
    return whole[:-2] + last * times + b"\xff\xd9"


def refinement_flood(extra: int, width: int = 10000, height: int = 9999) -> bytes:
    """A valid grey progressive JPEG with ``extra`` more scans, mostly refinements, that leave it complete.

    Each round sends coefficients 1-63 again at point transform Al (a first
    scan, Ah = 0) and refines them bit by bit down to 0: Al + 1 scans, each
    over every block, all consistent, so libjpeg decodes it without a
    warning. Rounds of Al = 10 or less (10 is the most 8-bit coefficients
    allow) add up to exactly ``extra`` (at least 2).
    """
    blocks = -(-width // 8) * -(-height // 8)
    table = huffman_table(1, 1, {1: b"\xe0"})
    runs = end_of_band_runs(blocks)
    scans = b""
    while extra >= 2:
        shift = min(10, extra - 1)
        shift -= extra - shift - 1 == 1  # never leave a single scan over
        levels = [(0, shift)] + [(ah, ah - 1) for ah in range(shift, 0, -1)]
        for ah, al in levels:
            scans += b"\xff\xda" + struct.pack(">HB", 8, 1) + bytes([1, 0x01, 1, 63, ah << 4 | al]) + runs
        extra -= len(levels)
    return grey_progressive(width, height)[:-2] + table + scans + b"\xff\xd9"


def jpeg_segment_flood(segments: int = 200_000) -> bytes:
    """A 64x48 JPEG with ``segments`` empty comment segments before its picture (Pillow reads each one)."""
    small = saved("JPEG", photos.photo(64, 48))
    return small[:2] + b"\xff\xfe\x00\x02" * segments + small[2:]


def png_chunk_flood(chunks: int = 200_000) -> bytes:
    """A 16x16 PNG with ``chunks`` empty private chunks before its pixels (Pillow keeps each one)."""
    parts = png_parts(saved("PNG", photos.photo(16, 16)))
    return png_of([parts[0], *[(b"prIv", b"")] * chunks, *parts[1:]])


def png_with_text(kind: bytes, size: int) -> bytes:
    """A 16x16 PNG with one text chunk of ``size`` bytes of text (iTXt and tEXt plain, zTXt compressed)."""
    parts = png_parts(saved("PNG", photos.photo(16, 16)))
    text = b"A" * size
    bodies = {
        b"tEXt": b"Comment\0" + text,
        b"iTXt": b"XML:com.adobe.xmp\0\0\0\0\0" + text,
        b"zTXt": b"Comment\0\0" + zlib.compress(text, 9),
        b"iCCP": b"profile\0\0" + zlib.compress(text, 9),
    }
    return png_of([parts[0], (kind, bodies[kind]), *parts[1:]])


def png_with_many_texts(chunks: int, size: int) -> bytes:
    """A 16x16 PNG with ``chunks`` plain text chunks of ``size`` bytes each."""
    parts = png_parts(saved("PNG", photos.photo(16, 16)))
    texts = [(b"tEXt", b"Comment%d\0" % index + b"A" * size) for index in range(chunks)]
    return png_of([parts[0], *texts, *parts[1:]])


def webp_frames(frames: int = 1200) -> bytes:
    """An animated 16x16 WebP of ``frames`` frames."""
    pictures = [Image.new("RGB", (16, 16), (i % 256, i // 256 % 256, 0)) for i in range(frames)]
    out = io.BytesIO()
    pictures[0].save(out, "WEBP", save_all=True, append_images=pictures[1:], lossless=True)
    return out.getvalue()


def heic_of_tiles(side: int) -> bytes:
    """``grid_heic`` rewritten as a ``side`` x ``side`` grid that names its 12 tiles over and over.

    Each tile a grid names is decoded on its own, so the cost grows with the
    count of names, not with the file: 4096 names take a few bytes each. The
    grid's ``iref``, its descriptor in ``idat``, its size (``ispe``), the
    ``meta`` box size and the ``iloc`` offsets into ``mdat`` are all made to
    agree, so libheif decodes it.
    """
    data = bytearray(grid_heic())
    at = data.index(b"iref") - 4
    old_size, grid_id = struct.unpack(">I", data[at : at + 4])[0], struct.unpack(">H", data[at + 20 : at + 22])[0]
    ids = [struct.unpack(">H", data[at + 24 + 2 * i : at + 26 + 2 * i])[0] for i in range(12)]
    names = b"".join(struct.pack(">H", ids[i % 12]) for i in range(side * side))
    dimg = struct.pack(">I4sHH", 12 + len(names), b"dimg", grid_id, side * side) + names
    iref = struct.pack(">I4sI", 12 + len(dimg), b"iref", 0) + dimg
    delta = len(iref) - old_size
    assert data.index(b"meta") - 4 + struct.unpack(">I", data[data.index(b"meta") - 4 : data.index(b"meta")])[0] == (
        at + old_size
    ), "iref must close the meta box"
    data[at : at + old_size] = iref
    meta = data.index(b"meta") - 4
    data[meta : meta + 4] = struct.pack(">I", struct.unpack(">I", data[meta : meta + 4])[0] + delta)
    idat = data.index(b"idat") + 4
    data[idat : idat + 8] = struct.pack(">BBBBHH", 0, 0, side - 1, side - 1, 64 * side, 64 * side)
    grid_size = data.index(struct.pack(">4sIII", b"ispe", 0, 256, 192))
    data[grid_size + 8 : grid_size + 16] = struct.pack(">II", 64 * side, 64 * side)
    shift_locations(data, delta)
    return bytes(data)


def shift_locations(data: bytearray, delta: int) -> None:
    """Move every item stored in the file by ``delta`` bytes (iloc version 1, 4-byte fields: as libheif writes)."""
    at = data.index(b"iloc") + 4
    assert data[at] == 1 and data[at + 4 : at + 6] == b"\x44\x40"
    count, at = struct.unpack(">H", data[at + 6 : at + 8])[0], at + 8
    for _ in range(count):
        _item, method, _ref, base, extents = struct.unpack(">HHHIH", data[at : at + 12])
        if method == 0:
            data[at + 6 : at + 10] = struct.pack(">I", base + delta)
        at += 12 + 8 * extents


def png_pixels_running_on(extra: int = 64 << 20) -> bytes:
    """A 16x16 PNG whose pixel stream goes on for ``extra`` bytes of zeros after the picture's rows."""
    parts = png_parts(saved("PNG", photos.photo(16, 16)))
    rows = zlib.decompress(b"".join(body for kind, body in parts if kind == b"IDAT"))
    return png_of([parts[0], (b"IDAT", zlib.compress(rows + bytes(extra), 9)), parts[-1]])


def png_idat_flood(chunks: int = 200_000) -> bytes:
    """A 16x16 PNG whose pixel data is spread over ``chunks`` IDAT chunks, most of them empty."""
    parts = png_parts(saved("PNG", photos.photo(16, 16)))
    pixels = b"".join(body for kind, body in parts if kind == b"IDAT")
    return png_of([parts[0], (b"IDAT", pixels), *[(b"IDAT", b"")] * (chunks - 1), parts[-1]])
