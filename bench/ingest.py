"""What one photo costs to ingest, against a naive baseline measured in the same run.

    .venv/bin/python bench/ingest.py [--runs 7] [--bulk 24]

1. Peak RSS of a fresh process that ingests one 8000x6000 (48 MP) JPEG:
   our path (streamed copy, 1/8-scale draft decode) and the naive one (whole
   upload in memory, full decode, as the seed did), plus the floor (the same
   imports, no photo). Measured with ``/usr/bin/time -v`` when present, else
   by the child's own ``getrusage``.
2. Wall time per 12 MP (4000x3000) photo, median of several distinct photos,
   for both paths, each storing durably (fsync) into a fresh instance.
3. A bulk import of a card of 12 MP photos with one process and with two
   (checking in worker processes while the main one copies and stores).
4. Peak RSS of checking PNGs that have no reduced-scale decode: a hostile
   10000x9999 16-bit RGBA one (a few MiB on disk, 382 MiB once decoded), which
   ingest refuses from its header, and four 48 MP ones uploaded at once by
   four threads, which share the decode budget; the naive baseline decodes
   each in full as soon as it arrives.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import photos  # noqa: E402
from ingest_support import zero_png  # noqa: E402
from PIL import Image  # noqa: E402

from jobgallery import db, images, importer, ingest, storage  # noqa: E402
from jobgallery.config import Config, load_config  # noqa: E402
from jobgallery.errors import JobGalleryError  # noqa: E402

TIME = Path("/usr/bin/time")


# ---------------------------------------------------------------- the two paths


def ours(config: Config, conn, job_id: int, path: Path) -> None:
    ingest.ingest_path(config, conn, job_id, path)


def naive(config: Config, conn, job_id: int, path: Path) -> None:
    """The seed's way: the whole upload in memory, a full-size decode, then the same durable store."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        width, height = image.size
        extension = images.EXTENSIONS[images.format_of(image)]
    name = ingest.master_name(digest, extension)
    storage.atomic_write(storage.job_folder(config.paths.data, job_id) / name, data)
    db.insert_image(conn, job_id=job_id, filename=name, sha256=digest, byte_size=len(data), width=width, height=height)


PATHS = {"ours": ours, "naive": naive}


# ---------------------------------------------------------------- fixtures


def instance(root: Path, name: str, workers: int = 2) -> tuple[Config, object, int]:
    folder = root / name
    folder.mkdir()
    (folder / "config.yaml").write_text(f"paths: {{data: data}}\nbuild: {{workers: {workers}}}\n")
    config = load_config(str(folder / "config.yaml"))
    conn = db.connect(config.db_path)
    return config, conn, db.create_job(conn, name).id


def camera_jpeg(path: Path, width: int, height: int, seed: int) -> Path:
    """A photo-like JPEG: structure plus sensor-like noise, so its size is close to a phone's."""
    picture = photos.photo(width, height, seed)
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    Image.blend(picture, noise, 0.25).save(path, "JPEG", quality=92, exif=photos.make_exif(6, "2024:05:06 07:08:09"))
    return path


# ---------------------------------------------------------------- peak memory, in a child process


def child(mode: str, config_path: str, photos_at: str) -> None:
    """Ingest the photos (one thread each) in this fresh process and report its own peak RSS (KiB)."""
    config = load_config(config_path)
    images.enable_heif()
    with db.open_db(config.db_path) as conn:
        job_id = db.list_jobs(conn)[0].id
    if mode != "floor":
        arrivals = [(mode, config, job_id, Path(photo)) for photo in photos_at.split(",")]
        threads = [threading.Thread(target=ingest_one, args=arrival) for arrival in arrivals]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def ingest_one(mode: str, config: Config, job_id: int, photo: Path) -> None:
    """One upload on its own connection, as a daemon thread does; a refusal is an outcome, not a failure."""
    with db.open_db(config.db_path) as conn:
        try:
            PATHS[mode](config, conn, job_id, photo)
        except JobGalleryError as exc:
            print(f"    {photo.name}: refused: {exc}", file=sys.stderr)


def peak_rss_kib(mode: str, config: Config, *photos_in: Path) -> int:
    command = [sys.executable, __file__, "--child", mode, str(config.source), ",".join(map(str, photos_in))]
    if TIME.exists():
        result = subprocess.run([str(TIME), "-v", *command], capture_output=True, text=True, check=True)
        for line in result.stderr.splitlines():
            if "refused" in line:
                print(line)
        line = next(x for x in result.stderr.splitlines() if "Maximum resident set size" in x)
        return int(line.rsplit(":", 1)[1])
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    print(result.stderr, end="")
    return int(result.stdout.split()[-1])


def memory(root: Path) -> None:
    photo = camera_jpeg(root / "48mp.jpg", 8000, 6000, seed=1)
    print(f"48 MP JPEG: {photo.stat().st_size / 2**20:.1f} MiB on disk")
    figures = {}
    for mode in ("floor", "ours", "naive"):
        config, conn, _job = instance(root, f"rss-{mode}")
        conn.close()
        figures[mode] = peak_rss_kib(mode, config, photo) / 1024
    print(f"  peak RSS, imports only (floor): {figures['floor']:6.1f} MiB")
    print(f"  peak RSS, ingest (draft):       {figures['ours']:6.1f} MiB")
    print(f"  peak RSS, naive (full decode):  {figures['naive']:6.1f} MiB")
    print(f"  naive / ours: {figures['naive'] / figures['ours']:.1f}x")


def png_memory(root: Path) -> None:
    hostile = root / "hostile.png"
    hostile.write_bytes(zero_png(10000, 9999, depth=16, colour=6))
    shots = []
    for i in range(4):
        shots.append(root / f"48mp-{i}.png")
        shots[-1].write_bytes(zero_png(8000, 6000 - i))
    print(f"hostile PNG 10000x9999 RGBA 16-bit: {hostile.stat().st_size / 2**10:.0f} KiB on disk")
    for label, files in (("hostile PNG", [hostile]), ("four 48 MP PNGs at once", shots)):
        figures = {}
        for mode in ("ours", "naive"):
            config, conn, _job = instance(root, f"png-{mode}-{len(files)}")
            conn.close()
            figures[mode] = peak_rss_kib(mode, config, *files) / 1024
        print(f"  {label}: peak RSS ingest {figures['ours']:6.1f} MiB, naive {figures['naive']:6.1f} MiB", end="")
        print(f" ({figures['naive'] / figures['ours']:.1f}x)")


# ---------------------------------------------------------------- time per 12 MP photo


def timing(root: Path, runs: int) -> None:
    shots = [camera_jpeg(root / f"12mp-{i}.jpg", 4000, 3000, seed=10 + i) for i in range(runs)]
    sizes = statistics.median(p.stat().st_size for p in shots) / 2**20
    print(f"12 MP JPEG ({sizes:.1f} MiB median), {runs} distinct photos each:")
    medians = {}
    for mode, run in PATHS.items():
        config, conn, job_id = instance(root, f"time-{mode}")
        seconds = []
        for shot in shots:
            started = time.perf_counter()
            run(config, conn, job_id, shot)
            seconds.append(time.perf_counter() - started)
        conn.close()
        medians[mode] = statistics.median(seconds)
        low, high = min(seconds) * 1000, max(seconds) * 1000
        print(f"  {mode:5s}: median {medians[mode] * 1000:6.1f} ms (min {low:.1f}, max {high:.1f})")
    print(f"  naive / ours: {medians['naive'] / medians['ours']:.1f}x")


# ---------------------------------------------------------------- bulk import: one process or two


def bulk(root: Path, count: int) -> None:
    card = root / "card"
    card.mkdir()
    for i in range(count):
        camera_jpeg(card / f"IMG_{i:04d}.JPG", 4000, 3000, seed=100 + i)
    print(f"bulk import of {count} distinct 12 MP photos:")
    took = {}
    for workers in (1, 2):
        config, conn, job_id = instance(root, f"bulk-{workers}", workers)
        found = importer.scan(card)
        started = time.perf_counter()
        report = importer.import_files(config, conn, job_id, found, ingest.Details())
        took[workers] = time.perf_counter() - started
        conn.close()
        assert len(report.imported) == count, report.refused
        print(f"  {workers} process(es): {took[workers]:.2f} s, {took[workers] / count * 1000:.1f} ms per photo")
    print(f"  1 / 2 processes: {took[1] / took[2]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="distinct 12 MP photos to time (default 7)")
    parser.add_argument("--bulk", type=int, default=24, help="photos in the bulk import comparison (default 24)")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CONFIG", "PHOTO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    root = Path(tempfile.mkdtemp(prefix="jobgallery-bench-"))
    try:
        memory(root)
        png_memory(root)
        timing(root, args.runs)
        bulk(root, args.bulk)
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
