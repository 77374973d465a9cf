"""What reading and ordering capture times costs; prints medians and ratios against naive baselines.

    .venv/bin/python bench/capture_time.py            # 15 rounds
    .venv/bin/python bench/capture_time.py --quick    # 5 rounds, for a smoke run

1. ms to read the capture time of a 12 MP phone JPEG (EXIF with offset and an
   XMP packet), after Pillow has opened it and read its EXIF, against the old
   reader (``strptime`` of DateTimeOriginal alone).
2. ms to walk a PNG of 3,000 IDAT chunks for its XMP (chunk headers only).
3. ms to put 10,000 photos (a site build reads them all) in order by instant,
   against sorting by the stored strings (the old SQL order).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from jobgallery import capture_time, db  # noqa: E402

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description'
    b' photoshop:DateCreated="2024-03-05T07:10:00.042+01:00"/></rdf:RDF></x:xmpmeta>'
)


def median_ms(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def phone_jpeg(folder: Path) -> Path:
    exif = Image.Exif()
    exif.get_ifd(capture_time.EXIF_IFD).update(
        {capture_time.DATETIME_ORIGINAL: "2024:03:05 07:10:00", capture_time.OFFSET_TIME_ORIGINAL: "+01:00"}
    )
    path = folder / "phone.jpg"
    Image.effect_noise((4000, 3000), 40).convert("RGB").save(path, "JPEG", quality=85, exif=exif, xmp=XMP)
    return path


def chunky_png(folder: Path) -> Path:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    pixels = zlib.compress(bytes(1 + 3 * 64) * 64)
    parts = [chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))]
    parts += [chunk(b"IDAT", pixels[i : i + 1]) for i in range(len(pixels))]
    parts += [chunk(b"IDAT", b"")] * (3000 - len(pixels)) + [chunk(b"IEND", b"")]
    path = folder / "chunky.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(parts))
    return path


def old_reader(exif: Image.Exif) -> str | None:
    value = exif.get_ifd(capture_time.EXIF_IFD).get(capture_time.DATETIME_ORIGINAL)
    try:
        return datetime.strptime(value.strip("\0 ")[:19], "%Y:%m:%d %H:%M:%S").isoformat(timespec="seconds")
    except ValueError:
        return None


def many_images(count: int) -> list[db.Image]:
    rng = random.Random(1)
    offsets = ["+01:00", "+02:00", "-05:00", None]
    images = []
    for number in range(count):
        taken = f"2024-03-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00"
        images.append(db.record(db.Image, row(number, taken, rng.choice(offsets))))
    return images


def row(number: int, taken_at: str, offset: str | None) -> dict:
    """A job_image row as SQLite gives it (``db.record`` ignores the columns a record does not name)."""
    names = [field.name for field in dataclasses.fields(db.Image)]
    values = dict.fromkeys(names, 1) | {"id": number, "filename": f"img_{number}.jpg", "tags": ""}
    return values | {"timestamp": "2024-06-01T08:00:00+00:00", "taken_at": taken_at, "taken_offset": offset}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    rounds = 5 if parser.parse_args().quick else 15
    with tempfile.TemporaryDirectory() as folder:
        jpeg, png = phone_jpeg(Path(folder)), chunky_png(Path(folder))
        with Image.open(jpeg) as image:
            exif = image.getexif()
            new = median_ms(lambda: capture_time.read(jpeg, "JPEG", image.info, exif), rounds)
            old = median_ms(lambda: old_reader(exif), rounds)
        print(f"capture time of a 12 MP JPEG: {new:.3f} ms (old reader {old:.3f} ms, {new / old:.1f}x)")
        walk = median_ms(lambda: capture_time.png_xmp(png), rounds)
        print(f"XMP walk of a PNG with 3000 chunks: {walk:.2f} ms")
    images = many_images(10_000)
    ordered = median_ms(lambda: capture_time.in_order(images), rounds)
    naive = median_ms(lambda: sorted(images, key=lambda i: (i.taken_at or i.timestamp, i.id)), rounds)
    print(
        f"order of 10,000 photos by instant: {ordered:.1f} ms (by stored string {naive:.1f} ms, {ordered / naive:.1f}x)"
    )


if __name__ == "__main__":
    main()
