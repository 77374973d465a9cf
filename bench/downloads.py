"""``Download all photos`` of a ~1 GB job: the daemon's added memory and speed, against a zip made in memory.

Makes a temporary instance with one job of ~1 GB of JPEG masters (12 MP
photos carrying EXIF with GPS, distinct bytes each), starts a real
``jobgallery serve`` on a loopback port, and in each round:

* streamed (ours): downloads the job's zip over HTTP, reading 1 MiB at a
  time and keeping nothing; records the daemon's resident memory before and
  its peak (VmHWM) after, the time to the first byte and the throughput;
* naive: in a fresh process, builds the same photos into a zip in memory
  with ``zipfile`` (what a handler that answers ``bytes`` does) and records
  that process's peak memory and time.

The first request plans every entry (finding where each JPEG's picture ends
reads it once) and stores the plans, as a build does for new photos; that
time is printed apart, and the rounds run against a restarted daemon, which
reads the stored plans. Rounds are
interleaved; medians are printed.

Run:  .venv/bin/python bench/downloads.py [--rounds 3] [--gigabytes 1]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import photos
import yaml
from daemon_support import running_daemon
from PIL import Image

from generator.build import build_site
from jobgallery import clean_copy, db, storage
from jobgallery.config import load_config

MIB = 1024 * 1024
NAIVE = r"""
import io, json, resource, sys, time, zipfile
from pathlib import Path
started = time.monotonic()
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
    for path in sorted(Path(sys.argv[1]).iterdir()):
        archive.writestr(path.name, path.read_bytes())
print(json.dumps({"seconds": time.monotonic() - started, "bytes": len(buffer.getvalue()),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def base_photo() -> bytes:
    """A 12 MP JPEG of noisy content (several MB, like a phone's) with orientation and GPS in its EXIF."""
    picture = Image.effect_noise((4000, 3000), 40).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=93, exif=photos.make_exif(orientation=6, gps=(52.5, 13.4)))
    return out.getvalue()


def fill_job(config, gigabytes: float) -> tuple[db.Job, int]:
    """Masters written as ingest leaves them (file, then row), each with its own comment so hashes differ."""
    data = base_photo()
    count = max(1, round(gigabytes * 1e9 / len(data)))
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Roof, 12 Elm St")
        for n in range(count):
            comment = f"photo {n}".encode()
            master = data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]
            name = f"img_{n:06d}.jpg"
            storage.atomic_write(storage.job_folder(config.paths.data, job.id) / name, master)
            db.insert_image(
                conn,
                job_id=job.id,
                filename=name,
                sha256=hashlib.sha256(master).hexdigest(),
                byte_size=len(master),
                width=6000,
                height=4000,
                description=f"north roof {n}",
            )
    return job, count


def status_of(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def download(url: str) -> tuple[float, float, int, int]:
    """Time to the first byte, total seconds, bytes read and the Content-Length the daemon promised."""
    host, _, path = url.removeprefix("http://").partition("/")
    conn = HTTPConnection(*host.split(":"), timeout=120)
    started = time.monotonic()
    conn.request("GET", "/" + path)
    response = conn.getresponse()
    first = response.read(1)
    ttfb = time.monotonic() - started
    total = len(first)
    while chunk := response.read(MIB):
        total += len(chunk)
    seconds = time.monotonic() - started
    conn.close()
    return ttfb, seconds, total, int(response.getheader("Content-Length"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gigabytes", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "config.yaml").write_text(yaml.safe_dump({"server": {"threads": 4}}))
        config = load_config(str(folder / "config.yaml"))
        job, count = fill_job(config, args.gigabytes)
        masters = storage.job_folder(config.paths.data, job.id)
        total = sum(p.stat().st_size for p in masters.iterdir())
        print(f"{count} JPEG masters, {total / 1e9:.2f} GB")
        started = time.monotonic()
        build_site(config)  # derivatives, report and download plans, so no daemon builds during the rounds
        print(f"build: {time.monotonic() - started:.1f} s")
        with db.open_db(config.db_path) as conn, db.write(conn):
            conn.execute("DELETE FROM download_plan")  # to time the planning the build did
        path = f"/{job.gallery_path()}{clean_copy.zip_name(job.slug)}"
        with running_daemon(folder / "config.yaml") as daemon:
            started = time.monotonic()
            conn = HTTPConnection("127.0.0.1", daemon.port, timeout=300)
            conn.request("HEAD", path)
            conn.getresponse().read()
            cold = time.monotonic() - started
        print(f"planning every entry with no plan stored yet: {cold:.2f} s (the daemon stores them; a build does too)")
        with running_daemon(folder / "config.yaml") as daemon:  # a fresh process: plans come from the database
            url, pid = daemon.url + path, daemon.process.pid
            idle = status_of(pid, "VmRSS")
            streamed, naive = [], []
            for _ in range(args.rounds):
                ttfb, seconds, got, promised = download(url)
                assert got == promised, (got, promised)
                streamed.append(
                    {"ttfb": ttfb, "seconds": seconds, "added": status_of(pid, "VmHWM") - idle, "bytes": got}
                )
                result = subprocess.run([sys.executable, "-c", NAIVE, str(masters)], capture_output=True, text=True)
                naive.append(json.loads(result.stdout))
        ours = {key: statistics.median(r[key] for r in streamed) for key in streamed[0]}
        theirs = {key: statistics.median(r[key] for r in naive) for key in naive[0]}
        speed, first = ours["bytes"] / ours["seconds"] / 1e6, ours["ttfb"] * 1000
        print(f"streamed: daemon idle {idle:.0f} MiB, peak added {ours['added']:.1f} MiB;", end=" ")
        print(f"first byte after {first:.0f} ms; {speed:.0f} MB/s")
        print(f"naive in-memory zip: peak {theirs['peak_mib']:.0f} MiB,", end=" ")
        print(f"{theirs['seconds']:.1f} s before the first byte could be sent")
        print(
            f"ratio naive peak / streamed added memory: {theirs['peak_mib'] / max(ours['added'], 0.1):.0f}x "
            f"(medians of {args.rounds} interleaved rounds)"
        )


if __name__ == "__main__":
    main()
