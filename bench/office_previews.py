"""What a thumbnail on the office's photos page costs: the reduced-scale decode against a full one.

The office shows every photo of a job, the trash included, from its master
(``jobgallery/previews.py``): a JPEG is decoded at the smallest scale that
still gives 320 px (``draft``), then shrunk. The naive baseline decodes the
whole master, then shrinks it. Both run on the same phone-sized JPEGs
(4000x3000, made here), in interleaved rounds; prints medians per photo and
the ratio, and what a 60-photo job page costs with each.

Run:  .venv/bin/python bench/office_previews.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemon_support import phone_photo
from PIL import Image, ImageOps

from jobgallery import images, previews

LIMITS = images.Limits(100_000_000, 384)
PHOTOS = 4
PAGE = 60


def naive(path: Path) -> bytes:
    """Decode everything, then shrink: what a thumbnail costs without ``draft``."""
    with Image.open(path) as picture:
        upright = ImageOps.exif_transpose(picture)
        upright.thumbnail((previews.SIZES[0], previews.SIZES[0]))
        out = io.BytesIO()
        upright.convert("RGB").save(out, "JPEG", quality=previews.QUALITY)
    return out.getvalue()


def timed(func, paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        func(path)
    return (time.perf_counter() - started) / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        paths = []
        for seed in range(PHOTOS):
            paths.append(Path(temp) / f"{seed}.jpg")
            paths[-1].write_bytes(phone_photo(seed))
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(timed(lambda path: previews.preview_jpeg(path, LIMITS, previews.SIZES[0]), paths))
            theirs.append(timed(naive, paths))
    fast, slow = statistics.median(ours), statistics.median(theirs)
    print(
        f"preview, reduced-scale decode  median {fast * 1000:7.1f} ms per photo   {PAGE} photos: {fast * PAGE:5.1f} s"
    )
    print(
        f"preview, full decode (naive)   median {slow * 1000:7.1f} ms per photo   {PAGE} photos: {slow * PAGE:5.1f} s"
    )
    print(f"ratio: {slow / fast:.1f}x faster ({args.rounds} interleaved rounds of {PHOTOS} 4000x3000 JPEGs)")


if __name__ == "__main__":
    main()
