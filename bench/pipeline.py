"""The photo pipeline end to end, in whole processes: prints medians and ratios, exits 1 when a target is missed.

    .venv/bin/python bench/pipeline.py            # 40 photos, 3 rounds, a 10,000-photo site (about 10 min)
    .venv/bin/python bench/pipeline.py --quick    # 6 photos, 2 rounds, a 2,000-photo site, for a smoke run
    .venv/bin/python bench/pipeline.py --only 16  # some steps only (here 1 and 6; 2 and 3 run together)

Every comparison runs its sides in the same round, one after the other,
round after round (interleaved), and quotes medians, so a busy moment of a
shared machine hits both alike. Times per photo are CPU seconds of the
processes (user + system, children included): per core, whatever else the
machine runs.

1. ``jobgallery import`` + ``jobgallery build`` (1 worker) against the naive
   pipeline (hash, copy, full decode, LANCZOS from the master to each size):
   target at least 2.8x less CPU a photo. Both sides write the same six
   files a photo (zoom, display, two thumbnails, each also as WebP).
   The build after the import must make no derivative.
2. ``jobgallery build --full`` (1 worker) against tuned Pillow making the same
   six files (``draft``, one resize to the zoom size, the display image from
   it, thumbnails from that): target at most 1.0x its time. Wall seconds
   here, on a quiet machine: a 12 MP photo is made in a worker process even
   with one worker, and a fork server's workers are not the build's children,
   so their CPU is not counted in the build's.
3. ``build --full`` with 2 workers against 1, wall time: target at least 1.8x.
4. One 48 MP photo: peak RSS (VmHWM) of every process of an import, a
   ``build --full`` and a daemon taking its upload: the import and build
   processes at most 48 MiB each, every worker too; the daemon's processes
   together within ``images.max_decode_mb`` + 128 MiB.
5. A site of 10,000 photos in 1,000 jobs: ``jobgallery build`` with nothing
   to do at most 0.5 s wall, writing nothing; one new photo, ingested with its
   derivatives, published by ``build_site(job_id=...)`` in at most 0.3 s.
6. Upload to visible through a real daemon (default settings): a 12 MP photo
   on its job page at most 1 s (median) after the upload's response; the
   last of a 20-photo burst at most 2 s after its response, with one rebuild.
7. Each derivative of the corpus against the one the previous pipeline made
   (``PREVIOUS``, loaded from git): PSNR at least 40 dB; SSIM printed too.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH.parent / "tests"), str(BENCH)]

from daemon_support import FilePart, basic, running_daemon, upload  # noqa: E402

import build as build_bench  # noqa: E402  bench/build.py: corpus photos, memory sampler, the 10,000-photo site
from generator import derivatives  # noqa: E402
from generator.build import build_site  # noqa: E402
from generator.derivatives import KINDS  # noqa: E402
from generator.ingest_output import IngestDerivatives  # noqa: E402
from jobgallery import db, users  # noqa: E402
from jobgallery.config import load_config  # noqa: E402
from jobgallery.images import Limits  # noqa: E402
from jobgallery.ingest import ingest_path  # noqa: E402

JOBGALLERY = str(Path(sys.executable).with_name("jobgallery"))
CREW = ("crew", "crew-password-1")
MIB = 1 << 20
LIMITS = Limits(200_000_000, 1024)
# The last commit with the previous derivatives (one decode for the check, another for the derivatives).
PREVIOUS = "3552e50"
SHOWN = re.compile(r"(\d+)-thumb-")  # a photo on a page: its thumbnail's name starts with its id


# ---------------------------------------------------------------- processes and their CPU


def run_cpu(command: list[str]) -> tuple[float, float, str]:
    """Run ``command``; its CPU seconds (user + system, with its children), wall seconds and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, done.stdout.strip()


def fresh_site(folder: Path, workers: int = 1) -> tuple[Path, int]:
    """An empty instance with one job; its config path and the job's id."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config_path = folder / "config.yaml"
    config_path.write_text(f"build:\n  workers: {workers}\n")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        return config_path, db.create_job(conn, "Bench").id


def jg(config_path: Path, *args: str) -> list[str]:
    return [JOBGALLERY, "--config", str(config_path), *args]


def make_corpus(folder: Path, count: int, size: tuple[int, int] = (4032, 3024)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        path = folder / f"phone-{seed:03d}.jpg"
        if not path.exists():
            path.write_bytes(build_bench.realistic_jpeg(*size, seed=seed))
    return folder


def report(name: str, value: str, ok: bool) -> bool:
    return build_bench.report(name, value, ok)


# ---------------------------------------------------------------- the baselines, run as their own processes


def naive_pipeline(corpus: Path, out: Path) -> None:
    """The seed's way for each photo: hash and copy it, decode all of it, LANCZOS from the master to each size.

    It makes the files a build makes (zoom, display, two thumbnails, each
    thumbnail as JPEG and WebP), so the two sides do the same work.
    """
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(corpus.iterdir()):
        data = path.read_bytes()
        stored = out / f"{hashlib.sha256(data).hexdigest()[:12]}.jpg"
        stored.write_bytes(data)
        with Image.open(stored) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
        for name, size, quality in (("z", 2560, 85), ("d", 1024, 85), ("t2", 600, 70), ("t", 300, 70)):
            copy = upright.copy()
            copy.thumbnail((size, size), Image.Resampling.LANCZOS)
            save_all(copy, out / f"{stored.stem}-{name}", quality, webp=name.startswith("t"))


def tuned_pipeline(corpus: Path, out: Path) -> None:
    """Tuned Pillow for the same six files: ``draft`` at the zoom size, then each picture from the one before."""
    out.mkdir(parents=True, exist_ok=True)
    for n, path in enumerate(sorted(corpus.iterdir())):
        with Image.open(path) as image:
            image.draft("RGB", fit(image.size, 2560 * 1920))
            zoom = ImageOps.exif_transpose(image)
        zoom = zoom.resize(fit(zoom.size, 2560 * 1920), Image.Resampling.BICUBIC)
        display = zoom.resize(fit(zoom.size, 1024 * 768), Image.Resampling.BICUBIC)
        thumb2x = ImageOps.fit(display, (600, 450), Image.Resampling.LANCZOS)
        thumb = thumb2x.resize((300, 225), Image.Resampling.LANCZOS)
        for name, picture, quality in (("z", zoom, 85), ("d", display, 85), ("t2", thumb2x, 70), ("t", thumb, 70)):
            save_all(picture, out / f"{n}-{name}", quality, webp=name.startswith("t"))


def save_all(picture: Image.Image, stem: Path, quality: int, webp: bool) -> None:
    """A progressive JPEG, and for a thumbnail a WebP at quality 80 beside it, as the build writes them."""
    picture.save(stem.with_suffix(".jpg"), "JPEG", quality=quality, optimize=True, progressive=True)
    if webp:
        picture.save(stem.with_suffix(".webp"), "WEBP", quality=80)


def fit(size: tuple[int, int], pixels: int) -> tuple[int, int]:
    scale = min(1.0, (pixels / (size[0] * size[1])) ** 0.5)
    return round(size[0] * scale), round(size[1] * scale)


def baseline(kind: str, corpus: Path, out: Path, wall: bool = False) -> float:
    """CPU seconds (or wall seconds) of the ``kind`` baseline making the corpus's derivatives."""
    shutil.rmtree(out, ignore_errors=True)
    cpu, elapsed, _ = run_cpu([sys.executable, __file__, f"--{kind}-only", str(corpus), str(out)])
    return elapsed if wall else cpu


# ---------------------------------------------------------------- 1 to 3


def bench_import_build(work: Path, corpus: Path, count: int, rounds: int) -> bool:
    ours, naive = [], []
    for n in range(rounds):
        config_path, job = fresh_site(work / "site-import")
        imported, _, _ = run_cpu(jg(config_path, "import", str(corpus), "--job", str(job)))
        built, _, summary = run_cpu(jg(config_path, "build"))
        assert summary.startswith("build: 0 photos processed"), summary
        ours.append((imported + built) / count)
        naive.append(baseline("naive", corpus, work / "naive-out") / count)
        if n == 0:
            each = f"import {imported / count * 1000:.0f} ms + build {built / count * 1000:.0f} ms"
            print(f"     first round: {each} a photo")
            print(f"     the build after the import: {summary}")
    ours_s, naive_s = statistics.median(ours), statistics.median(naive)
    print(
        f"     CPU a photo, medians of {rounds}: import + build {ours_s * 1000:.0f} ms, naive {naive_s * 1000:.0f} ms"
    )
    return report(
        "import + build vs naive, per core", f"{naive_s / ours_s:.2f}x (target >= 2.8x)", naive_s / ours_s >= 2.8
    )


def bench_full_build(work: Path, corpus: Path, count: int, rounds: int) -> bool:
    config_path, job = fresh_site(work / "site-full")
    run_cpu(jg(config_path, "import", str(corpus), "--job", str(job)))
    ours, tuned, one, two = [], [], [], []
    for _ in range(rounds):
        set_workers(config_path, 1)
        wall = run_cpu(jg(config_path, "build", "--full"))[1]
        ours.append(wall / count)
        one.append(wall)
        tuned.append(baseline("tuned", corpus, work / "tuned-out", wall=True) / count)
        set_workers(config_path, 2)
        two.append(run_cpu(jg(config_path, "build", "--full"))[1])
    ours_s, tuned_s = statistics.median(ours), statistics.median(tuned)
    print(f"     wall a photo, medians of {rounds}: build --full {ours_s * 1000:.0f} ms, tuned {tuned_s * 1000:.0f} ms")
    ok = report("build --full vs tuned Pillow", f"{ours_s / tuned_s:.2f}x (target <= 1.0x)", ours_s <= tuned_s)
    one_s, two_s = statistics.median(one), statistics.median(two)
    print(f"     build --full of {count} photos, wall: 1 worker {one_s:.2f} s, 2 workers {two_s:.2f} s")
    return ok & report("2 workers vs 1", f"{one_s / two_s:.2f}x (target >= 1.8x)", one_s / two_s >= 1.8)


def set_workers(config_path: Path, workers: int) -> None:
    config_path.write_text(f"build:\n  workers: {workers}\n")


# ---------------------------------------------------------------- 4. a 48 MP photo


def bench_48mp(work: Path) -> bool:
    corpus = work / "corpus-48mp"
    make_corpus(corpus, 1, (8000, 6000))
    config_path, job = fresh_site(work / "site-48mp", workers=2)
    ok = True
    peaks = sampled(jg(config_path, "import", str(corpus), "--job", str(job)))
    print(f"     48 MP import (check and derivatives in one decode): {describe_peaks(peaks)}")
    peaks = sampled(jg(config_path, "build", "--full"))
    print(f"     48 MP build --full: {describe_peaks(peaks)}")
    for name, peak in peaks:
        ok &= report(f"48 MP build --full: {name}", f"{peak:.1f} MiB (target <= 48)", peak <= 48)
    return ok & bench_daemon_48mp(work, corpus)


def describe_peaks(peaks: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {peak:.1f} MiB" for name, peak in peaks)


def sampled(command: list[str]) -> list[tuple[str, float]]:
    """Peak RSS of the process running ``command`` and of each process it started."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with build_bench.MemorySampler(process.pid) as sampler:
        _, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr
    return [("main process" if pid == process.pid else f"child {pid}", peak) for pid, peak in sampler.peaks.items()]


def bench_daemon_48mp(work: Path, corpus: Path) -> bool:
    folder = work / "daemon-48mp"
    config_path, job = fresh_site(folder)
    config = add_crew(config_path)
    photo = next(corpus.iterdir()).read_bytes()
    with running_daemon(config_path) as daemon, build_bench.MemorySampler(daemon.process.pid) as sampler:
        part = FilePart("big.jpg", photo, content_type="image/jpeg")
        reply = upload(f"{daemon.url}/api/jobs/{job}/images", [part], basic(*CREW))
        assert reply.status == 201, reply.text
        time.sleep(2)
    total = sum(sampler.peaks.values())
    budget = config.images.max_decode_mb
    print(f"     daemon taking a 48 MP upload: {', '.join(f'{p:.1f}' for p in sampler.peaks.values())} MiB by process")
    return report(
        "48 MP upload: daemon processes summed", f"{total:.1f} MiB (target <= {budget} + 128)", total <= budget + 128
    )


def add_crew(config_path: Path):
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
    return config


# ---------------------------------------------------------------- 5. a big site


def bench_big_site(work: Path, jobs: int, per_job: int, rounds: int) -> bool:
    started = time.perf_counter()
    config, created = build_bench.make_site(work / "big-site", jobs, per_job)
    summary, wall, _ = build_bench.cli_build(config.source)
    made = time.perf_counter() - started
    print(f"     {jobs * per_job} photos in {jobs} jobs made in {made:.0f} s; first build {wall:.1f} s")
    noop, noop_cpu = [], []
    for _ in range(rounds):
        before = snapshot(config.paths.output)
        cpu, wall, summary = run_cpu(jg(config.source, "build"))
        assert snapshot(config.paths.output) == before, "a build with nothing to do wrote something"
        noop.append(wall)
        noop_cpu.append(cpu)
    print(f"     no-op: {summary}")
    noop_s = statistics.median(noop)
    print(f"     no-op `jobgallery build`: CPU {statistics.median(noop_cpu):.2f} s (the whole command, start-up too)")
    ok = report(
        f"no-op `jobgallery build`, {jobs * per_job} photos", f"{noop_s:.2f} s wall (target <= 0.5)", noop_s <= 0.5
    )
    derivatives = IngestDerivatives.from_config(config)
    publish, publish_cpu = [], []
    with db.open_db(config.db_path) as conn:
        for n in range(rounds):
            master = work / f"new-{n}.jpg"
            master.write_bytes(build_bench.realistic_jpeg(4032, 3024, seed=100 + n))
            job = created[n * 7 % len(created)]
            ingest_path(config, conn, job.id, master, derivatives=derivatives)
            started, cpu = time.perf_counter(), time.process_time()
            result = build_site(config, job_id=job.id)
            publish.append(time.perf_counter() - started)
            publish_cpu.append(time.process_time() - cpu)
            assert (result.processed, result.pages_written) == (0, 2), result.summary()
    publish_s = statistics.median(publish)
    print(f"     one new photo, build_site(job_id=...): CPU {statistics.median(publish_cpu):.2f} s")
    return ok & report(
        "one new photo published after its ingest", f"{publish_s:.2f} s (target <= 0.3)", publish_s <= 0.3
    )


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")}


# ---------------------------------------------------------------- 6. upload to visible


def bench_latency(work: Path, rounds: int, bursts: int) -> bool:
    config_path, _ = fresh_site(work / "latency", workers=2)  # the default setting
    config = add_crew(config_path)
    photos = [path.read_bytes() for path in sorted(make_corpus(work / "phone", 20 * bursts).iterdir())]
    with running_daemon(config_path) as daemon, db.open_db(config.db_path) as conn:
        single = []
        for n in range(rounds):
            job = db.create_job(conn, f"Single {n}")
            single.append(visible_after(daemon, config, job, [photos[n % len(photos)]]))
        burst = []
        for n in range(bursts):
            job = db.create_job(conn, f"Burst {n}")
            burst.append(visible_after(daemon, config, job, photos[n * 20 : n * 20 + 20]))
            deadline = time.monotonic() + 10
            while f"rebuild-{job.id}: done" not in daemon.log() and time.monotonic() < deadline:
                time.sleep(0.05)
            print(f"     burst {n}: {daemon.log().count(f'rebuild-{job.id}: started')} rebuild(s) of its job")
    single_s, burst_s = statistics.median(single), statistics.median(burst)
    print(f"     upload -> visible, single: {', '.join(f'{s:.2f}' for s in single)} s")
    print(f"     upload -> visible, burst: {', '.join(f'{s:.2f}' for s in burst)} s")
    ok = report("single photo visible after its response", f"{single_s:.2f} s median (target <= 1)", single_s <= 1)
    return ok & report("20-photo burst visible after the last", f"{burst_s:.2f} s median (target <= 2)", burst_s <= 2)


def visible_after(daemon, config, job: db.Job, payloads: list[bytes]) -> float:
    """Upload ``payloads`` one request each, as the form's queue does; seconds from the last response to the page."""
    url = f"{daemon.url}/api/jobs/{job.id}/images"
    for n, data in enumerate(payloads):
        reply = upload(url, [FilePart(f"p{n}.jpg", data, content_type="image/jpeg")], basic(*CREW))
        assert reply.status == 201, reply.text
    answered = time.perf_counter()
    page = config.paths.output / job.gallery_path(config.gallery.public_index) / "index.html"
    while time.perf_counter() - answered < 30:
        if page.is_file() and len(set(SHOWN.findall(page.read_text(encoding="utf-8")))) >= len(payloads):
            return time.perf_counter() - answered
        time.sleep(0.005)
    raise AssertionError(f"{page} did not show {len(payloads)} photos:\n{daemon.log()[-2000:]}")


# ---------------------------------------------------------------- 7. the same pictures as before


def bench_fidelity(work: Path, corpus: Path) -> bool:
    """PSNR and SSIM of each derivative against the one the previous pipeline (``PREVIOUS``) made of the same photo.

    Only kinds both made at the same size are compared: the zoom image and the
    WebP thumbnails came later, and the thumbnails now show the whole photo
    where the previous ones were cropped to 4:3 cells.
    """
    previous = previous_pipeline(work)
    scores: dict[str, list[tuple[float, float]]] = {}
    for path in sorted(corpus.iterdir()):
        old_dir, new_dir = work / "fidelity-old", work / "fidelity-new"
        made = {}
        for module, folder in ((previous, old_dir), (derivatives, new_dir)):
            kinds = [kind for kind in KINDS if kind in previous.KINDS]
            outputs = tuple((kind, f"{kind}.jpg") for kind in kinds)
            task = module.PhotoTask(
                1, path.name, str(path), str(folder), outputs, module.Recipe(1024, 85, 300, 70), LIMITS
            )
            result = module.make_photo(task)
            assert result.error is None, result.error
            made[module] = result.sizes
        for kind, size in made[previous].items():
            if made[derivatives][kind] == size:
                scores.setdefault(kind, []).append(compare(old_dir / f"{kind}.jpg", new_dir / f"{kind}.jpg"))
    ok = True
    for kind, pairs in scores.items():
        psnr, ssim = min(p for p, _ in pairs), min(s for _, s in pairs)
        ok &= report(f"{kind} against {PREVIOUS[:8]}'s", f"PSNR >= {psnr:.1f} dB, SSIM >= {ssim:.4f}", psnr >= 40)
    return ok


def previous_pipeline(work: Path):
    """``generator/derivatives.py`` as it was before decode once, loaded from git as its own module."""
    source = subprocess.run(
        ["git", "-C", str(BENCH.parent), "show", f"{PREVIOUS}:generator/derivatives.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = work / "previous_derivatives.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("previous_derivatives", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["previous_derivatives"] = module
    spec.loader.exec_module(module)
    return module


def compare(old: Path, new: Path) -> tuple[float, float]:
    """PSNR (dB) and mean SSIM (8x8 windows, grey) of two pictures of the same size."""
    with Image.open(old) as a, Image.open(new) as b:
        assert a.size == b.size, (old, a.size, b.size)
        x, y = (np.asarray(im.convert("RGB"), dtype=np.float64) for im in (a, b))
        grey_x, grey_y = (np.asarray(im.convert("L"), dtype=np.float64) for im in (a, b))
    mse = float(np.mean((x - y) ** 2))
    psnr = 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)
    return psnr, ssim(grey_x, grey_y)


def ssim(x, y) -> float:
    height, width = (n - n % 8 for n in x.shape)
    blocks = [a[:height, :width].reshape(height // 8, 8, width // 8, 8).swapaxes(1, 2) for a in (x, y)]
    mx, my = (b.mean(axis=(2, 3)) for b in blocks)
    vx, vy = (b.var(axis=(2, 3)) for b in blocks)
    cov = ((blocks[0] - mx[..., None, None]) * (blocks[1] - my[..., None, None])).mean(axis=(2, 3))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float(np.mean(((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))))


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer photos and rounds, a smaller site")
    parser.add_argument("--only", default="1234567", metavar="STEPS", help="the steps to run, e.g. 16 (default: all)")
    parser.add_argument("--naive-only", nargs=2, metavar=("CORPUS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--tuned-only", nargs=2, metavar=("CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_only or args.tuned_only:
        run = naive_pipeline if args.naive_only else tuned_pipeline
        run(*(Path(p) for p in (args.naive_only or args.tuned_only)))
        return 0
    count, rounds, per_job = (6, 2, 2) if args.quick else (40, 3, 10)
    options = f"{' --quick' if args.quick else ''}{f' --only {args.only}' if args.only != '1234567' else ''}"
    print(f"command: {sys.executable} bench/pipeline.py{options}  ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="jobgallery-pipeline-") as tmp:
        work = Path(tmp)
        corpus = make_corpus(work / "corpus", count)
        mib = sum(p.stat().st_size for p in corpus.iterdir()) / count / MIB
        print(f"{count} phone JPEGs of 12 MP, {mib:.1f} MiB each")
        ok = True
        for title, step in (
            ("1. import + build", lambda: bench_import_build(work, corpus, count, rounds)),
            ("2, 3. build --full", lambda: bench_full_build(work, corpus, count, rounds)),
            ("4. 48 MP peaks", lambda: bench_48mp(work)),
            ("5. big site", lambda: bench_big_site(work, 1000, per_job, rounds)),
            ("6. upload to visible", lambda: bench_latency(work, max(rounds, 5), rounds - 1)),
            ("7. fidelity against the previous derivatives", lambda: bench_fidelity(work, corpus)),
        ):
            if any(step_number in args.only for step_number in title.split(".")[0]):
                print(title)
                ok &= step()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
