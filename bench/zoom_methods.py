"""Ways to make a 12 MP photo's zoom and display images: CPU against fidelity, to show why the pipeline is as it is.

    .venv/bin/python bench/zoom_methods.py            # 12 phone JPEGs and a detail chart, 5 rounds
    .venv/bin/python bench/zoom_methods.py --quick    # 3 photos, 3 rounds

The zoom image (the area of 2560 x 1920 for a 4032 x 3024 photo) was most of a
photo's CPU: a full-scale decode and a 1.6x resize. Each way of making it is
timed (CPU of this process, medians, the ways taking turns round by round)
and compared with the exact picture at the same size, a Lanczos resize of the
full decode, by PSNR over all channels: the lowest over the phone JPEGs, and
on a chart of fine lines and small text, where what noise hides on the phone
JPEGs shows. libjpeg-turbo's scaled decodes (M/8) filter each 8x8 block on
its own; Pillow's ``draft`` does the same at 1/2, the scale every 48 MP
photo's zoom image was decoded at, so that row is the fidelity already
accepted.

The display image (1024 x 768) is made from the zoom image; a 2x box
reduction first (Pillow's ``reducing_gap`` 1.0) is the cheap alternative.
No target: the figures are the reason for the choice (``jpeg_scans.nearest_scale``).
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image, ImageDraw, ImageFont

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH.parent / "tests"), str(BENCH)]

import build as build_bench  # noqa: E402  bench/build.py: phone-like JPEGs

SIZE = (4032, 3024)
ZOOM = (2560, 1920)
DISPLAY = (1024, 768)
BICUBIC, BILINEAR, LANCZOS = Image.Resampling.BICUBIC, Image.Resampling.BILINEAR, Image.Resampling.LANCZOS


def decode(data: bytes, at_least: tuple[int, int] = (0, 0)) -> Image.Image:
    """libjpeg-turbo's decode at the smallest scale (M/8) of at least ``at_least``, as the ingest decodes."""
    array = simplejpeg.decode_jpeg(data, "RGBX", min_width=at_least[0], min_height=at_least[1])
    return Image.frombuffer("RGBX", (array.shape[1], array.shape[0]), array, "raw", "RGBX", 0, 1)


# name -> how the zoom image is made from a JPEG's bytes
ZOOM_METHODS: dict[str, Callable[[bytes], Image.Image]] = {
    "5/8 decode, 2520 x 1890 (the pipeline)": lambda data: decode(data, (2520, 1890)),
    "full decode, bicubic (before)": lambda data: decode(data).resize(ZOOM, BICUBIC),
    "full decode, bilinear": lambda data: decode(data).resize(ZOOM, BILINEAR),
    "3/4 decode, bicubic": lambda data: decode(data, ZOOM).resize(ZOOM, BICUBIC),
    "1/2 decode, 2016 x 1512 (Pillow's draft)": lambda data: decode(data, (2016, 1512)),
}
CHOSEN = "5/8 decode, 2520 x 1890 (the pipeline)"
DISPLAY_METHODS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "bicubic from the zoom image (the pipeline)": lambda zoom: zoom.resize(DISPLAY, BICUBIC),
    "2x box, then bicubic (reducing_gap 1.0)": lambda zoom: zoom.resize(DISPLAY, BICUBIC, reducing_gap=1.0),
}


def detail_chart() -> bytes:
    """A 12 MP JPEG (quality 92) of fine diagonal lines under rows of small text: a label, a crack, a serial."""
    image = Image.new("RGB", SIZE, (200, 190, 170))
    draw = ImageDraw.Draw(image)
    for x in range(0, SIZE[0], 7):
        draw.line([(x, 0), (x + 800, SIZE[1])], fill=(60, 60, 80), width=1)
    font = ImageFont.load_default(size=28)
    for y in range(100, SIZE[1] - 60, 60):
        draw.text((100, y), "Crack at joint 14B: 3.2 mm wide, serial XK-77841", fill=(20, 20, 20), font=font)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def psnr(full: Image.Image, made: Image.Image) -> float:
    """PSNR in dB, all three channels, of ``made`` against a Lanczos resize of the full decode to its size."""
    exact = full.resize(made.size, LANCZOS)
    a, b = (np.asarray(image.convert("RGB"), dtype=np.float64) for image in (exact, made))
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def cpu_ms(method: Callable[[object], object], argument: object) -> float:
    started = time.process_time()
    method(argument)
    return (time.process_time() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 photos and 3 rounds")
    args = parser.parse_args()
    count, rounds = (3, 3) if args.quick else (12, 5)
    print(f"command: {sys.executable} bench/zoom_methods.py{' --quick' if args.quick else ''}")
    phones = [build_bench.realistic_jpeg(*SIZE, seed=seed) for seed in range(count)]
    chart = detail_chart()
    times: dict[str, list[float]] = {name: [] for name in (*ZOOM_METHODS, *DISPLAY_METHODS)}
    for _ in range(rounds):
        for name, method in ZOOM_METHODS.items():
            times[name].append(statistics.mean(cpu_ms(method, data) for data in phones))
        zoom = ZOOM_METHODS[CHOSEN](phones[0]).convert("RGB")
        for name, method in DISPLAY_METHODS.items():
            times[name].append(cpu_ms(method, zoom))
    print(f"{count} phone JPEGs of 12 MP; CPU ms a photo, medians of {rounds}; PSNR against the exact picture")
    print(f"{'zoom image':44} {'CPU ms':>7} {'phones':>8} {'chart':>8}")
    for name, method in ZOOM_METHODS.items():
        scores = [psnr(decode(data), method(data)) for data in (*phones, chart)]
        print(f"{name:44} {statistics.median(times[name]):7.0f} {min(scores[:-1]):6.1f}dB {scores[-1]:6.1f}dB")
    print(f"{'display image, from the zoom image':44} {'CPU ms':>7} {'phones':>8} {'chart':>8}")
    for name, method in DISPLAY_METHODS.items():
        scores = [psnr(decode(data), method(ZOOM_METHODS[CHOSEN](data))) for data in (*phones, chart)]
        print(f"{name:44} {statistics.median(times[name]):7.0f} {min(scores[:-1]):6.1f}dB {scores[-1]:6.1f}dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
