"""Load on the upload daemon: 16 phones sending a ~4 MB photo each at the same moment.

Starts a real ``jobgallery serve`` on a loopback port in a temporary
instance, then for each round:

* sends 16 distinct 12 MP JPEGs (~4.3 MB) one after another (a crew taking
  turns), then 16 others all at once with an account that has not signed
  in yet (every phone's first photo of the morning);
* reads the daemon's peak resident memory (VmHWM) after each phase;
* times an authenticated request whose password has to be checked (scrypt)
  against one whose credentials were checked a moment ago (cached).

The same is then run against a daemon whose malloc tuning is overridden by
environment variables to what glibc does on its own (the naive baseline).

Run:  .venv/bin/python bench/upload_load.py [--rounds 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import yaml
from daemon_support import FilePart, basic, http, phone_photo, running_daemon, upload

from jobgallery import db, users
from jobgallery.config import load_config

PHONES = 16
CREW = ("crew", "crew-password-1")
# Any GLIBC_TUNABLES makes the daemon leave malloc alone; this one only restates glibc's default for 2 cores.
UNTUNED = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=16"}


def timed_upload(url: str, data: bytes, name: str, auth: dict[str, str]) -> tuple[int, float]:
    started = time.monotonic()
    reply = upload(url, [FilePart(name, data, content_type="image/jpeg")], auth)
    return reply.status, time.monotonic() - started


def sequential(url: str, photos: list[bytes], auth: dict[str, str]) -> tuple[list[int], list[float], float]:
    started = time.monotonic()
    results = [timed_upload(url, data, f"seq-{i}.jpg", auth) for i, data in enumerate(photos)]
    return [s for s, _ in results], [t for _, t in results], time.monotonic() - started


def concurrent(url: str, photos: list[bytes], auth: dict[str, str]) -> tuple[list[int], list[float], float]:
    """All at once, with an account not signed in yet: the first photo of the morning from every phone."""
    started = time.monotonic()
    with ThreadPoolExecutor(len(photos)) as pool:
        results = list(pool.map(lambda pair: timed_upload(url, pair[1], f"par-{pair[0]}.jpg", auth), enumerate(photos)))
    return [s for s, _ in results], [t for _, t in results], time.monotonic() - started


def auth_latency(base: str, conn) -> tuple[float, float]:
    """Seconds for a request needing a password check, and for one answered from the credential cache."""
    name = f"bench{time.monotonic_ns()}"
    users.add_user(conn, name, "bench-password-1", admin=False)
    headers = basic(name, "bench-password-1")
    started = time.monotonic()
    assert http("GET", base + "/api/jobs", headers=headers).status == 200
    checked = time.monotonic() - started
    started = time.monotonic()
    assert http("GET", base + "/api/jobs", headers=headers).status == 200
    return checked, time.monotonic() - started


@dataclass
class Figures:
    idle_kib: int = 0
    sequential_kib: int = 0
    peak_kib: int = 0
    seq_medians: list[float] = field(default_factory=list)
    par_medians: list[float] = field(default_factory=list)
    seq_walls: list[float] = field(default_factory=list)
    par_walls: list[float] = field(default_factory=list)
    auth: list[tuple[float, float]] = field(default_factory=list)


def measure(rounds: int, threads: int, env: dict[str, str]) -> Figures:
    """Start a daemon in a fresh instance and run ``rounds`` of both phases against it."""
    figures = Figures()
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.yaml"
        config_path.write_text(yaml.safe_dump({"server": {"threads": threads, "rebuild_delay_seconds": 3600}}))
        config = load_config(str(config_path))
        with db.open_db(config.db_path) as conn, running_daemon(config_path, env=env) as daemon:
            users.add_user(conn, *CREW, admin=False)
            figures.idle_kib = daemon.peak_rss_kib()
            for round_no in range(rounds):
                url = f"{daemon.url}/api/jobs/{db.create_job(conn, f'bench {round_no}').id}/images"
                base = round_no * 2 * PHONES
                statuses, times, wall = sequential(url, [phone_photo(base + i) for i in range(PHONES)], basic(*CREW))
                assert statuses == [201] * PHONES, statuses
                figures.seq_medians.append(statistics.median(times))
                figures.seq_walls.append(wall)
                figures.sequential_kib = daemon.peak_rss_kib()
                fresh = (f"crew{round_no}", "crew-password-1")
                users.add_user(conn, *fresh, admin=False)
                photos = [phone_photo(base + PHONES + i) for i in range(PHONES)]
                statuses, times, wall = concurrent(url, photos, basic(*fresh))
                assert statuses == [201] * PHONES, statuses
                figures.par_medians.append(statistics.median(times))
                figures.par_walls.append(wall)
                figures.auth.append(auth_latency(daemon.url, conn))
            figures.peak_kib = daemon.peak_rss_kib()
    return figures


def report(label: str, figures: Figures) -> None:
    mib = 1024
    print(f"{label}:")
    print(f"  peak RSS (VmHWM): idle {figures.idle_kib / mib:.1f} MiB, after one-by-one "
          f"{figures.sequential_kib / mib:.1f} MiB, after all at once {figures.peak_kib / mib:.1f} MiB")  # fmt: skip
    seq_wall, par_wall = statistics.median(figures.seq_walls), statistics.median(figures.par_walls)
    print(f"  one by one: median upload {statistics.median(figures.seq_medians):.3f} s, all in {seq_wall:.2f} s")
    print(f"  all at once: median upload {statistics.median(figures.par_medians):.3f} s, all in {par_wall:.2f} s "
          f"({seq_wall / par_wall:.2f}x the one-by-one throughput)")  # fmt: skip
    checked = statistics.median(a for a, _ in figures.auth)
    cached = statistics.median(b for _, b in figures.auth)
    print(f"  GET /api/jobs: password checked {checked * 1000:.1f} ms, credentials cached {cached * 1000:.1f} ms "
          f"({checked / cached:.0f}x faster)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="server.threads of the daemon")
    args = parser.parse_args()
    size = len(phone_photo(0))
    print(f"{PHONES} photos of {size / 1e6:.1f} MB (4000x3000 JPEG) per phase, {args.rounds} round(s), medians")
    tuned = measure(args.rounds, args.threads, {})
    report("jobgallery serve (malloc tuned at start)", tuned)
    untuned = measure(args.rounds, args.threads, UNTUNED)
    report(f"baseline: glibc's own malloc behaviour (GLIBC_TUNABLES={UNTUNED['GLIBC_TUNABLES']})", untuned)
    print(f"peak RSS ratio baseline / tuned: {untuned.peak_kib / tuned.peak_kib:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
