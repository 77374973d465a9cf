"""What checking a hostile image costs: worst-case time and peak memory, ours against the naive path.

    .venv/bin/python bench/hostile.py [--runs 3] [--naive-timeout 120]

Every hostile input of ``tests/structure_support.py`` (each at most 25 MiB),
and two ordinary 12 MP phone photos for the cost of the common case, is
checked in a fresh process, so each peak RSS is its own:

- ours: ``images.inspect``, as an upload or an import runs it (container walk,
  scan count, strict JPEG decode, then Pillow);
- naive: what the check did before the container walk: Pillow opens the file,
  decodes it (JPEGs at 1/8 scale) and reads its EXIF.

Times are medians of ``--runs`` runs for ours and one run for the naive path
(the 8,000-scan JPEG alone takes about a minute), which is stopped after
``--naive-timeout`` seconds. Last, four 16x16 PNGs with 24 MiB iTXt chunks
checked at once by four threads, as four uploads would be: peak RSS of the
process, ours against naive, over the floor of the same imports.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import structure_support as hostile  # noqa: E402
from daemon_support import phone_photo  # noqa: E402
from PIL import Image  # noqa: E402

from jobgallery import images  # noqa: E402
from jobgallery.errors import JobGalleryError  # noqa: E402

LIMITS = images.Limits(100_000_000, 384)
INPUTS = {
    "jpeg: 12 MP phone photo (accepted)": lambda: phone_photo(1),
    "jpeg: 12 MP progressive (accepted)": lambda: progressive(phone_photo(2)),
    "jpeg: 8000 scans, 48 MP grey": lambda: hostile.scan_flood(8000),
    "jpeg: 100 scans, 12 MP grey (accepted)": lambda: hostile.scan_flood(94, 4000, 3000),
    "jpeg: last scan 93 more times, 100 MP grey": lambda: hostile.last_scan_repeated(93),
    "jpeg: 12 refinements, 100 MP grey (accepted)": lambda: hostile.refinement_flood(12),
    "jpeg: 48 MP progressive 4:4:4 photo (accepted)": lambda: progressive_48_mp(),
    "jpeg: 200,000 empty comment segments": lambda: hostile.jpeg_segment_flood(200_000),
    "png: 200,000 empty chunks": lambda: hostile.png_chunk_flood(200_000),
    "png: 200,000 IDAT chunks": lambda: hostile.png_idat_flood(200_000),
    "png: pixel stream running on for 64 MiB": lambda: hostile.png_pixels_running_on(64 << 20),
    "png: 24 MiB iTXt": lambda: hostile.png_with_text(b"iTXt", 24 << 20),
    "png: zTXt inflating to 64 MiB": lambda: hostile.png_with_text(b"zTXt", 64 << 20),
    "png: iCCP inflating to 64 MiB": lambda: hostile.png_with_text(b"iCCP", 64 << 20),
    "webp: 1200 frames": lambda: hostile.webp_frames(1200),
    "heic: grid of 1024 tiles": lambda: hostile.heic_of_tiles(32),
    "heic: grid of 961 tiles (accepted)": lambda: hostile.heic_of_tiles(31),
}


def progressive(jpeg: bytes) -> bytes:
    """The same photo saved again as a progressive JPEG (10 scans), as some apps and web exports write it."""
    return hostile.saved("JPEG", Image.open(io.BytesIO(jpeg)), quality=92, progressive=True)


# ---------------------------------------------------------------- the two checks, run in a child process


def progressive_48_mp() -> bytes:
    """A 48 MP photo saved progressive at 4:4:4 with optimised tables: the most passes a real 48 MP JPEG needs."""
    out = io.BytesIO()
    picture = Image.open(io.BytesIO(phone_photo(3))).convert("RGB").resize((8000, 6000))
    picture.save(out, "JPEG", quality=92, progressive=True, optimize=True, subsampling=0)
    return out.getvalue()


def naive_check(path: Path) -> None:
    """The check without the container walk: Pillow opens, decodes (JPEG at 1/8) and reads EXIF."""
    images.enable_heif()
    with Image.open(path, formats=images.ALLOWED_FORMATS) as image:
        width, height = image.size
        image.draft(None, (max(1, width // 8), max(1, height // 8)))
        image.load()
        image.getexif()


def our_check(path: Path) -> None:
    images.inspect(path, LIMITS)


def child(mode: str, paths: list[str]) -> None:
    """Check ``paths`` (all at once, one thread each) and print seconds, peak RSS and the outcome as JSON."""
    check = {"ours": our_check, "naive": naive_check, "floor": lambda path: None}[mode]
    outcomes: list[str] = []

    def run(path: str) -> None:
        try:
            check(Path(path))
            outcomes.append("accepted")
        except (JobGalleryError, OSError, ValueError, SyntaxError, EOFError) as error:
            outcomes.append(f"refused: {error}"[:90])

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mib": peak_kib() / 1024, "outcome": outcomes[0] if outcomes else ""}))


def peak_kib() -> int:
    """This process's own peak RSS (VmHWM). Not ``ru_maxrss``: Linux carries the parent's peak across fork and exec."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def measure(mode: str, paths: list[Path], timeout: float) -> dict:
    command = [sys.executable, __file__, "--child", mode, *map(str, paths)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"seconds": float("inf"), "peak_mib": float("nan"), "outcome": f"stopped after {timeout:.0f} s"}
    return json.loads(done.stdout)


# ---------------------------------------------------------------- the report


def report_inputs(folder: Path, runs: int, naive_timeout: float) -> None:
    print(f"{'input':42} {'size':>9} {'ours s':>8} {'ours MiB':>9} {'naive s':>8} {'naive MiB':>9} {'ratio':>7}")
    for name, make in INPUTS.items():
        path = folder / "input"
        path.write_bytes(make())
        ours = [measure("ours", [path], 60) for _ in range(runs)]
        naive = measure("naive", [path], naive_timeout)
        seconds = statistics.median(result["seconds"] for result in ours)
        peak = statistics.median(result["peak_mib"] for result in ours)
        stopped = naive["seconds"] == float("inf")
        naive_seconds = f"> {naive_timeout:.0f}" if stopped else f"{naive['seconds']:.2f}"
        ratio = f"> {naive_timeout / seconds:.0f}" if stopped else f"{naive['seconds'] / seconds:.1f}"
        print(
            f"{name:42} {path.stat().st_size / 1024:>7.0f}KB {seconds:>8.3f} {peak:>9.0f} "
            f"{naive_seconds:>8} {naive['peak_mib']:>9.0f} {ratio:>7}x"
        )
        print(f"{'':42}   ours: {ours[0]['outcome']}")
        print(f"{'':42}   naive: {naive['outcome']}")


def report_text_chunks(folder: Path, runs: int) -> None:
    paths = []
    for index in range(4):
        path = folder / f"text-{index}.png"
        path.write_bytes(hostile.png_with_text(b"iTXt", (24 << 20) + index))
        paths.append(path)
    floor = statistics.median(measure("floor", paths, 60)["peak_mib"] for _ in range(runs))
    ours = statistics.median(measure("ours", paths, 60)["peak_mib"] for _ in range(runs))
    naive = statistics.median(measure("naive", paths, 120)["peak_mib"] for _ in range(runs))
    print(f"\nfour 16x16 PNGs with 24 MiB iTXt, checked at once by four threads (peak RSS, median of {runs}):")
    print(f"  floor (imports only) {floor:6.0f} MiB")
    print(f"  ours                 {ours:6.0f} MiB  (+{ours - floor:.0f})")
    times = (naive - floor) / max(ours - floor, 1)
    print(f"  naive                {naive:6.0f} MiB  (+{naive - floor:.0f}, {times:.0f}x ours)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive-timeout", type=float, default=120)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1:])
        return
    with tempfile.TemporaryDirectory() as folder:
        report_inputs(Path(folder), args.runs, args.naive_timeout)
        report_text_chunks(Path(folder), args.runs)


if __name__ == "__main__":
    main()
