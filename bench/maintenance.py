"""Benchmarks of the maintenance commands; prints medians and ratios, exits 1 when a target is missed.

    python bench/maintenance.py            # 120 phone-sized photos (about a minute on a 2-core box)
    python bench/maintenance.py --quick    # 30 photos, for a smoke run

1. backup: the first run and a run with nothing new, against a naive baseline
   in the same run (``cp -a`` of the data folder, what a nightly cron line
   would do): a run with nothing new must be at least 5x faster than it.
2. archive: one job written, fsynced, dropped from the cache and read back
   for verification, against a plain durable ``tarfile`` write of the same
   masters (written and fsynced, never read back or hashed): reading it all
   back from the drive and hashing it twice may cost at most 4x (median of
   three jobs).
3. compress: ms per photo for the one recompression, and the second run,
   which must do no work at all (at most 50 ms for the whole job).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import photos  # noqa: E402

from jobgallery import db, storage  # noqa: E402
from jobgallery.config import load_config  # noqa: E402
from jobgallery.ingest import ingest_path  # noqa: E402
from jobgallery.maintenance.archive import archive_jobs, archive_path  # noqa: E402
from jobgallery.maintenance.backup import backup  # noqa: E402
from jobgallery.maintenance.compress import compress  # noqa: E402

MIB = 1024 * 1024


def phone_jpeg(seed: int, size: tuple[int, int]) -> bytes:
    """A JPEG with sensor-like noise, so its size and decode time look like a phone's."""
    base = photos.photo(*size, seed)
    noise = Image.effect_noise(size, 40).convert("RGB")
    out = io.BytesIO()
    Image.blend(base, noise, 0.25).save(out, "JPEG", quality=92, exif=photos.make_exif(6, "2024:05:01 10:00:00"))
    return out.getvalue()


def median_seconds(func: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def make_instance(folder: Path, count: int, size: tuple[int, int], jobs: int):
    """``count`` photos spread over ``jobs`` jobs; returns the config and the job ids."""
    (folder / "config.yaml").write_text("maintenance:\n  orphan_grace_minutes: 0\n")
    config = load_config(str(folder / "config.yaml"))
    incoming = folder / "incoming"
    incoming.mkdir()
    with db.open_db(config.db_path) as conn:
        job_ids = [db.create_job(conn, f"Bench job {n}").id for n in range(jobs)]
        for n in range(count):
            path = incoming / f"p{n}.jpg"
            path.write_bytes(phone_jpeg(n, size))
            ingest_path(config, conn, job_ids[n % jobs], path)
    shutil.rmtree(incoming)
    return config, job_ids


def data_size(config) -> int:
    return sum(p.stat().st_size for p in storage.masters_root(config.paths.data).rglob("*") if p.is_file())


# ---------------------------------------------------------------- 1. backup


def bench_backup(config, folder: Path, rounds: int) -> bool:
    naive_dest = folder / "naive"

    def naive() -> None:
        shutil.rmtree(naive_dest, ignore_errors=True)
        subprocess.run(["cp", "-a", str(config.paths.data), str(naive_dest)], check=True)

    dest = folder / "backup"
    with db.open_db(config.db_path) as conn:
        started = time.perf_counter()
        first = backup(config, conn, dest)
        first_s = time.perf_counter() - started
        again_s = median_seconds(lambda: backup(config, conn, dest), rounds)
    naive_s = median_seconds(naive, rounds)
    ratio = naive_s / again_s
    print(f"backup: first run {first_s:.2f} s ({first.summary()})")
    print(f"backup: nothing new {again_s * 1000:.0f} ms; naive cp -a {naive_s * 1000:.0f} ms; {ratio:.1f}x faster")
    return ratio >= 5


# ---------------------------------------------------------------- 2. archive


def bench_archive(config, job_ids: list[int], folder: Path) -> bool:
    """Each job archived once, each against its own plain baseline; the median ratio counts."""
    ratios = [archive_one_job(config, job_id, folder) for job_id in job_ids]
    ratio = statistics.median(ratios)
    print(f"archive: median {ratio:.1f}x the cost of a plain tar + fsync over {len(ratios)} jobs")
    return ratio <= 4


def archive_one_job(config, job_id: int, folder: Path) -> float:
    with db.open_db(config.db_path) as conn:
        masters = [storage.master_path(config.paths.data, job_id, i.filename) for i in db.list_images(conn, job_id)]
        started = time.perf_counter()
        with open(folder / f"plain-{job_id}.tar", "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w") as tar:
                for path in masters:
                    tar.add(path, arcname=f"images/{path.name}")
            handle.flush()
            os.fsync(handle.fileno())
        plain_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in masters)
        started = time.perf_counter()
        report = archive_jobs(config, conn, [job_id])
        ours_s = time.perf_counter() - started
    assert report.ok and archive_path(config, job_id).is_file(), report.failures
    ratio = ours_s / plain_s
    print(
        f"archive: job {job_id}, {size / MIB:.1f} MiB in {ours_s:.2f} s ({size / MIB / ours_s:.0f} MiB/s: written, "
        f"fsynced, read back, verified, masters removed); plain tar + fsync {plain_s:.2f} s; {ratio:.1f}x"
    )
    return ratio


# ---------------------------------------------------------------- 3. compress


def bench_compress(config, count: int) -> bool:
    with db.open_db(config.db_path) as conn:
        before = data_size(config)
        started = time.perf_counter()
        first = compress(config, conn, older_than_days=0)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = compress(config, conn, older_than_days=0)
        second_s = time.perf_counter() - started
    after = data_size(config)
    print(
        f"compress: {first_s / count * 1000:.0f} ms per photo ({first.summary()}); "
        f"masters {before / MIB:.0f} -> {after / MIB:.0f} MiB"
    )
    print(f"compress: second run {second_s * 1000:.1f} ms ({second.summary()})")
    return second.summary() == "compress: nothing to do" and second_s <= 0.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count, size, rounds = (30, (1600, 1200), 3) if args.quick else (120, (2000, 1500), 5)
    jobs = 3
    results = {}
    with tempfile.TemporaryDirectory(prefix="jobgallery-bench-") as tmp:
        folder = Path(tmp)
        config, job_ids = make_instance(folder, count, size, jobs)
        print(f"{count} photos of {size[0]}x{size[1]}, {data_size(config) / MIB:.0f} MiB of masters")
        results["backup"] = bench_backup(config, folder, rounds)
        results["compress"] = bench_compress(config, count)
        results["archive"] = bench_archive(config, job_ids, folder)
    missed = [name for name, ok in results.items() if not ok]
    print("all targets met" if not missed else f"targets missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
