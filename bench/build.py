"""Benchmarks of the static generator; prints medians and ratios, exits 1 when a target is missed.

    python bench/build.py            # everything (a few minutes on a 2-core box)
    python bench/build.py --quick    # smaller site and fewer rounds, for a smoke run

1. ms per 12 MP photo for display + 300 px thumbnail, against a naive
   baseline in the same run (full decode, ``thumbnail`` with LANCZOS twice
   from the master, as the seed did): target at least 2.8x faster.
2. Peak RSS of one worker process making a 48 MP photo's derivatives in a real
   ``jobgallery build`` with 2 workers: at most 48 MiB; the whole build well under 128 MiB.
3. A batch of 12 MP photos with 2 workers against 1: at least 1.8x faster.
4. A site of 10,000 photos in 1,000 jobs: a build with nothing to do in at most 1 s,
   and one new photo published in at most 0.5 s plus the time its derivatives take.
5. A job page of 1,000 photos in headless Chromium: load time and thumbnails fetched.
6. Colour: ms per 12 MP photo untagged, with an embedded sRGB and with a Display P3
   profile, against the previous pipeline (no colour conversion, profile copied) in the
   same run: the untagged and sRGB cases at most 3 % slower.

Memory is read from /proc (VmHWM, VmRSS) of fresh processes: ``ru_maxrss``
would carry over the peak of the process that started them.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageCms, ImageOps

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import photos  # noqa: E402

from generator import colour  # noqa: E402
from generator.build import build_site  # noqa: E402
from generator.derivatives import PhotoTask, Recipe, make_photo, resize_lean  # noqa: E402
from generator.pool import run_tasks  # noqa: E402
from jobgallery import db, storage  # noqa: E402
from jobgallery.config import load_config  # noqa: E402
from jobgallery.images import Limits, decoding, open_image  # noqa: E402

RECIPE = Recipe(display_size=1024, display_quality=85, thumb_size=300, thumb_quality=70)
ALL_KINDS = ("display", "thumb", "thumb2x")
MIB = 1024 * 1024


def realistic_jpeg(width: int, height: int, seed: int = 1, icc: bytes | None = None) -> bytes:
    """A phone-like JPEG (about 4 MiB for 12 MP): structure plus sensor-like noise, so it decodes as slowly."""
    base = photos.photo(width, height, seed)
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    out = io.BytesIO()
    params = {"icc_profile": icc} if icc else {}
    exif = photos.make_exif(6, "2024:05:01 10:00:00")
    Image.blend(base, noise, 0.25).save(out, "JPEG", quality=90, exif=exif, **params)
    return out.getvalue()


def median_ms(action: Callable[[], object], rounds: int) -> float:
    action()  # warm caches and imports
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def median_cpu_ms(action: Callable[[], object], rounds: int) -> float:
    """Like ``median_ms`` in CPU time of this process: steadier than wall time on a shared machine."""
    action()
    times = []
    for _ in range(rounds):
        started = time.process_time()
        action()
        times.append(time.process_time() - started)
    return statistics.median(times) * 1000


def report(name: str, value: str, ok: bool) -> bool:
    print(f"{'ok  ' if ok else 'MISS'} {name}: {value}", flush=True)
    return ok


def proc_status_mib(field: str, pid: int | str = "self", source: str = "status") -> float:
    """VmHWM (peak RSS) or VmRSS from status, or Pss from smaps_rollup, of a process, in MiB; 0 when it is gone."""
    try:
        text = Path(f"/proc/{pid}/{source}").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------- 1. per photo


def naive_derivatives(master: Path, folder: Path) -> None:
    """The seed's way: decode everything, then two LANCZOS thumbnails from the full master."""
    with Image.open(master) as image:
        image.load()
        upright = ImageOps.exif_transpose(image)
    for size, quality, name in ((1024, 85, "naive-display.jpg"), (300, 70, "naive-thumb.jpg")):
        copy = upright.copy()
        copy.thumbnail((size, size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        copy.save(out, "JPEG", quality=quality, optimize=True)
        storage.atomic_write(folder / name, out.getvalue())


def our_derivatives(master: Path, folder: Path, kinds: tuple[str, ...]) -> None:
    outputs = tuple((kind, f"ours-{kind}.jpg") for kind in kinds)
    result = make_photo(PhotoTask(1, master.name, str(master), str(folder), outputs, RECIPE, Limits(200_000_000, 1024)))
    assert result.error is None, result.error


def bench_per_photo(work: Path, rounds: int) -> bool:
    master = work / "master-12mp.jpg"
    master.write_bytes(realistic_jpeg(4000, 3000))
    naive, ours, with_2x = [], [], []
    for _ in range(rounds):  # interleaved, so a busy moment of the machine hits all three alike
        naive.append(median_ms(lambda: naive_derivatives(master, work), 1))
        ours.append(median_ms(lambda: our_derivatives(master, work, ("display", "thumb")), 1))
        with_2x.append(median_ms(lambda: our_derivatives(master, work, ALL_KINDS), 1))
    naive_ms, ours_ms = statistics.median(naive), statistics.median(ours)
    print(f"     12 MP master of {master.stat().st_size / MIB:.1f} MiB; medians of {rounds}:")
    both_ms = statistics.median(with_2x)
    print(f"     naive {naive_ms:.0f} ms, ours {ours_ms:.0f} ms, ours with the 2x thumbnail {both_ms:.0f} ms")
    ratio = naive_ms / ours_ms
    return report("display + 300 px thumbnail vs naive", f"{ratio:.2f}x faster (target >= 2.8x)", ratio >= 2.8)


# ---------------------------------------------------------------- 2. memory of a real build


def bench_build_memory(work: Path) -> bool:
    """``jobgallery build`` with 2 workers on one 48 MP and three 12 MP photos, its processes sampled from /proc."""
    site = work / "memory-site"
    site.mkdir()
    (site / "config.yaml").write_text("build:\n  workers: 2\n")
    config = load_config(str(site / "config.yaml"))
    sizes = [(8000, 6000), (4000, 3000), (4000, 3000), (4000, 3000)]
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Memory")
        for n, (width, height) in enumerate(sizes):
            data = realistic_jpeg(width, height, seed=n)
            storage.atomic_write(storage.job_folder(config.paths.data, job.id) / f"{n}.jpg", data)
            size = {"byte_size": len(data), "width": height, "height": width}
            db.insert_image(conn, job_id=job.id, filename=f"{n}.jpg", sha256=hashlib.sha256(data).hexdigest(), **size)
    stdout, _, sampler = cli_build(site / "config.yaml")
    main_peak = sampler.main
    worker_peak = max(peak for pid, peak in sampler.peaks.items() if pid != sampler.root)
    print(f"     {stdout}")
    print(f"     build process peak {main_peak:.1f} MiB; all its processes together (PSS) {sampler.total:.1f} MiB")
    ok = report(
        "peak RSS of one worker on a 48 MP photo", f"{worker_peak:.1f} MiB (target <= 48 MiB)", worker_peak <= 48
    )
    total = sampler.total
    return ok & report(
        "whole build (process, fork server, 2 workers)", f"{total:.1f} MiB (target < 128 MiB)", total < 128
    )


# ---------------------------------------------------------------- 3. two workers


def bench_workers(work: Path, count: int, rounds: int) -> bool:
    masters = []
    for seed in range(count):
        path = work / f"batch-{seed}.jpg"
        path.write_bytes(realistic_jpeg(4000, 3000, seed))
        masters.append(path)
    out = work / "batch-out"

    def batch(workers: int) -> float:
        shutil.rmtree(out, ignore_errors=True)
        tasks = [
            PhotoTask(
                i,
                m.name,
                str(m),
                str(out),
                (("display", f"{i}-d.jpg"), ("thumb", f"{i}-t.jpg")),
                RECIPE,
                Limits(10**9, 1024),
            )
            for i, m in enumerate(masters)
        ]
        started = time.perf_counter()
        results = list(run_tasks(tasks, workers))
        assert all(r.error is None for r in results)
        return time.perf_counter() - started

    first = batch(2)  # the first pool of a process also starts the fork server
    one, two = [], []
    for _ in range(rounds):
        one.append(batch(1))
        two.append(batch(2))
    one_s, two_s = statistics.median(one), statistics.median(two)
    print(f"     {count} photos of 12 MP, medians of {rounds}: 1 worker {one_s:.2f} s, 2 workers {two_s:.2f} s")
    print(f"     (worker start-up is included; the very first pool, which also starts the fork server: {first:.2f} s)")
    return report("2 workers vs 1", f"{one_s / two_s:.2f}x faster (target >= 1.8x)", one_s / two_s >= 1.8)


# ---------------------------------------------------------------- 4. a big site


def make_site(folder: Path, jobs: int, per_job: int):
    """A site of tiny masters: rows in one transaction, scratch files written without fsync."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("build:\n  workers: 2\n")
    config = load_config(str(folder / "config.yaml"))
    with db.open_db(config.db_path) as conn:
        created = [db.create_job(conn, f"Job {n}") for n in range(jobs)]
        with db.write(conn):
            for job in created:
                job_dir = storage.job_folder(config.paths.data, job.id)
                job_dir.mkdir(parents=True)
                for n in range(per_job):
                    data = tiny_jpeg(job.id * per_job + n)
                    (job_dir / f"{n}.jpg").write_bytes(data)
                    sha = hashlib.sha256(data).hexdigest()
                    size = {"byte_size": len(data), "width": 24, "height": 18}
                    db.add_image(conn, job_id=job.id, filename=f"{n}.jpg", sha256=sha, **size)
    return config, created


def tiny_jpeg(seed: int) -> bytes:
    image = Image.new("RGB", (24, 18), (seed % 256, (seed // 256) % 256, (seed // 65536) % 256))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, comment=f"photo {seed}".encode())  # the comment keeps every file unique
    return out.getvalue()


class MemorySampler:
    """Peak RSS of a process and of each of its descendants, and the peak of their summed PSS, every 10 ms.

    PSS splits each shared page between the processes that map it (libraries, the
    fork server's imports), so the sum is the memory the build really holds.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.peaks: dict[int, float] = {}
        self.total = 0.0
        self.main = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.01):
            pids = family(self.root)
            for pid in pids:
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), proc_status_mib("VmHWM", pid))
            self.total = max(self.total, sum(proc_status_mib("Pss", pid, "smaps_rollup") for pid in pids))

    def __enter__(self) -> MemorySampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def family(root: int) -> list[int]:
    """``root`` and every process descended from it."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    members, added = {root}, True
    while added:
        new = {pid for pid, parent in parents.items() if parent in members} - members
        members |= new
        added = bool(new)
    return sorted(members)


def cli_build(config_path: Path, *args: str) -> tuple[str, float, MemorySampler]:
    """Run ``jobgallery build`` as a timer would; its summary, wall time and sampled memory."""
    command = [str(Path(sys.executable).with_name("jobgallery")), "--config", str(config_path), "build", *args]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with MemorySampler(process.pid) as sampler:
        stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr
    sampler.main = sampler.peaks.get(process.pid, 0.0)
    return stdout.strip(), time.perf_counter() - started, sampler


def add_new_photo(config, job: db.Job, master: Path, name: str) -> None:
    data = master.read_bytes()
    storage.atomic_write(storage.job_folder(config.paths.data, job.id) / name, data)
    with db.open_db(config.db_path) as conn:
        size = {"byte_size": len(data), "width": 3000, "height": 4000}
        db.insert_image(conn, job_id=job.id, filename=name, sha256=hashlib.sha256(data).hexdigest(), **size)


def bench_site(work: Path, jobs: int, per_job: int, rounds: int) -> bool:
    started = time.perf_counter()
    config, created = make_site(work / "site", jobs, per_job)
    print(f"     made {jobs * per_job} photos in {jobs} jobs in {time.perf_counter() - started:.1f} s")
    summary, wall, memory = cli_build(config.source)
    print(f"     first build: {summary} (wall {wall:.1f} s)")
    print(f"     its memory: build process {memory.main:.1f} MiB; with fork server and workers {memory.total:.1f} MiB")
    ok = report("whole first build", f"{memory.total:.1f} MiB (target well under 128 MiB)", memory.total < 128)

    noop = [cli_build(config.source) for _ in range(rounds)]
    cli_wall = statistics.median(wall for _, wall, _ in noop)
    print(f"     `jobgallery build` with nothing to do: {cli_wall:.2f} s wall, {noop[0][2].main:.1f} MiB")
    in_process = median_ms(lambda: build_site(config), rounds) / 1000
    ok &= report(f"no-op build of {jobs * per_job} photos", f"{in_process:.2f} s (target <= 1 s)", in_process <= 1.0)

    publish, derivative = [], []
    for n in range(rounds):
        master = work / f"new-{n}.jpg"
        master.write_bytes(realistic_jpeg(4000, 3000, seed=100 + n))
        add_new_photo(config, created[n * 7 % len(created)], master, f"new-{n}.jpg")
        started = time.perf_counter()
        result = build_site(config, job_id=created[n * 7 % len(created)].id)
        publish.append(time.perf_counter() - started)
        assert (result.processed, result.pages_written) == (1, 2), result.summary()
        derivative.append(median_ms(lambda m=master: our_derivatives(m, work, ALL_KINDS), 1) / 1000)
    total, alone = statistics.median(publish), statistics.median(derivative)
    print(f"     one new 12 MP photo, build_site(job_id=...): {total:.2f} s; its derivatives alone {alone:.2f} s")
    overhead = total - alone
    ok &= report(
        "one new photo published, beyond its derivatives", f"{overhead:.2f} s (target <= 0.5 s)", overhead <= 0.5
    )
    return ok


# ---------------------------------------------------------------- 5. a page of 1,000 photos in a browser

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


def bench_big_page(work: Path, photos_on_page: int, rounds: int) -> bool:
    """Lazy loading keeps a long job page light: load time and thumbnails fetched at 1280x720."""
    chromium = shutil.which("chromium")
    if chromium is None:
        print("     (chromium not installed: page load not measured)")
        return True
    config, created = make_site(work / "big-page", 1, photos_on_page)
    assert build_site(config).ok
    html = config.paths.output / created[0].gallery_path() / "index.html"
    handler = functools.partial(QuietHandler, directory=str(config.paths.output))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{created[0].gallery_path()}"
    from playwright.sync_api import sync_playwright

    loads, fetched = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for _ in range(rounds):
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            thumbs: set[str] = set()
            page.on("request", lambda r, seen=thumbs: seen.add(r.url) if "-thumb" in r.url else None)
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            loads.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
            fetched.append(len(thumbs))
            page.close()
        browser.close()
    server.shutdown()
    server.server_close()
    load_ms = statistics.median(loads)
    print(f"     job page of {photos_on_page} photos: {html.stat().st_size / 1024:.0f} KiB of HTML")
    print(f"     thumbnails fetched before scrolling: {statistics.median(fetched):.0f} of {photos_on_page}")
    return report(f"load event of a {photos_on_page}-photo page (median)", f"{load_ms:.0f} ms", True)


# ---------------------------------------------------------------- 6. colour


def long_edge_fit(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    scale = long_edge / max(size)
    return size if scale >= 1 else (round(size[0] * scale), round(size[1] * scale))


def previous_derivatives(master: Path, folder: Path) -> None:
    """The previous pipeline's display + 300 px thumbnail: draft decode, two-pass resize, profile copied, no colour."""
    with open_image(master, 200_000_000) as image:
        full_size = image.size
        target = long_edge_fit(image.size, 1024)
        drafted = image.draft(None, target)
        box = tuple(float(v) for v in (drafted[1] if drafted else (0, 0, *image.size)))
        icc = image.info.get("icc_profile")
        with decoding(image, full_size, 1024):
            image.load()
        display = resize_lean(image, image, target, box)
    display = ImageOps.exif_transpose(display)
    display.info = {}
    thumb = display.resize(long_edge_fit(display.size, 300), Image.Resampling.LANCZOS)
    for name, picture, quality in (("prev-display.jpg", display, 85), ("prev-thumb.jpg", thumb, 70)):
        out = io.BytesIO()
        params = {"icc_profile": icc} if icc else {}
        picture.save(out, "JPEG", quality=quality, progressive=True, optimize=True, **params)
        storage.atomic_write(folder / name, out.getvalue())


def bench_colour(work: Path, rounds: int) -> bool:
    """Interleaved rounds (each figure a median of 3 runs, in CPU time); a case's cost is its median per-round ratio.

    The machine is shared, so the previous pipeline and ours run back to back
    on the same master, taking turns at going first.
    """
    profiles = {
        "untagged": None,
        "sRGB profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        "Display P3 profile": colour.matrix_profile(*colour.NCLX_PRIMARIES[12], colour.SRGB_CURVE),
    }
    masters = {}
    for name, icc in profiles.items():
        masters[name] = work / f"colour-{len(masters)}.jpg"
        masters[name].write_bytes(realistic_jpeg(4000, 3000, seed=7, icc=icc))
    times: dict[str, list[float]] = {f"{which} {name}": [] for name in masters for which in ("previous", "ours")}
    for n in range(rounds):
        for name, master in masters.items():
            runs = {
                "previous": lambda m=master: previous_derivatives(m, work),
                "ours": lambda m=master: our_derivatives(m, work, ("display", "thumb")),
            }
            for which in sorted(runs, reverse=n % 2 == 1):  # alternate who goes first
                times[f"{which} {name}"].append(median_cpu_ms(runs[which], 3))
    ok = True
    print(f"     12 MP JPEG, display + 300 px thumbnail, CPU time, medians of {rounds} interleaved rounds of 3:")
    for name in masters:
        previous, ours = times[f"previous {name}"], times[f"ours {name}"]
        ratio = statistics.median(o / p for o, p in zip(ours, previous, strict=True))
        print(f"     {name}: previous {statistics.median(previous):.0f} ms, ours {statistics.median(ours):.0f} ms")
        if name != "Display P3 profile":
            ok &= report(f"{name} vs the previous pipeline", f"{ratio:.3f}x the time (target <= 1.03)", ratio <= 1.03)
    pairs = zip(times["ours Display P3 profile"], times["ours untagged"], strict=True)
    cost = statistics.median(p3 - plain for p3, plain in pairs)
    display = Image.open(work / "ours-display.jpg").convert("RGB")
    p3 = colour.Description(profiles["Display P3 profile"], "ICC profile")
    alone = median_cpu_ms(lambda: colour.to_srgb(display, p3), 3 * rounds)
    print(f"     the conversion alone, on the {display.width}x{display.height} display image: {alone:.1f} ms")
    return ok & report("Display P3 conversion to sRGB", f"{cost:+.1f} ms per 12 MP photo over untagged", True)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller site and fewer rounds")
    parser.add_argument("--only-colour", action="store_true", help="run only the colour figures (6.)")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    jobs, per_job = (200, 10) if args.quick else (1000, 10)
    with tempfile.TemporaryDirectory(prefix="jobgallery-bench-") as scratch:
        work = Path(scratch)
        if args.only_colour:
            return 0 if bench_colour(work, 2 * rounds) else 1
        results = [bench_per_photo(work, rounds), bench_build_memory(work)]
        results.append(bench_workers(work, 8 if args.quick else 24, rounds))
        results.append(bench_site(work, jobs, per_job, rounds))
        results.append(bench_big_page(work, 1000, rounds))
        results.append(bench_colour(work, 2 * rounds))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
