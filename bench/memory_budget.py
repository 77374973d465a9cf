"""Summed peak memory of the daemon and its build workers for big PNG uploads, against the decode budget.

The reproduction: four 48 MP PNGs (6900x6900 RGBA: 182 MiB to decode plus
the premultiplied copy Pillow resizes through, 363 MiB in all, the most the
default 384 MiB budget admits; an 81 MP RGBA PNG is refused) uploaded at once to a real
``jobgallery serve`` with two build workers, then a fifth while the rebuild
that follows is running. A sampler adds up the resident memory (VmRSS) of the
daemon and every process under it (fork server, resource tracker, workers)
every 20 ms until all five photos are on the job's page, and keeps the peak.

Printed per install: the summed RSS at rest (daemon and pool started), the
summed peak, the peak above rest, and that against ``images.max_decode_mb``.
With ``--baseline BIN`` the same runs against another install (e.g. one from
before the budget was shared box-wide), the naive baseline, in the same run.

Run:  .venv/bin/python bench/memory_budget.py [--rounds 1] [--baseline /path/to/old/venv/bin/jobgallery]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import struct
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import DEVNULL, Popen

import yaml

from jobgallery import db, users
from jobgallery.config import load_config

SIDE = 6900
CREW = ("crew", "crew-password-1")
MIB = 1 << 20


def rgba_png(width: int, height: int) -> bytes:
    """A whole RGBA PNG of transparent rows: a few hundred KB on disk, width*height*4 bytes decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + width * 4)
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def family_rss(pid: int) -> int:
    """VmRSS in bytes of ``pid`` and every process under it, now."""
    parents, sizes = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry.name)] = int(fields["PPid"])
        sizes[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    members, frontier = {pid}, {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - members
        members |= frontier
    return sum(sizes.get(member, 0) for member in members)


class Sampler(threading.Thread):
    """Keeps the highest summed RSS seen every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, family_rss(self.pid))
            time.sleep(0.02)


def post(url: str, name: str, data: bytes) -> int:
    boundary = "benchboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    token = base64.b64encode(":".join(CREW).encode()).decode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Basic {token}"}
    request = urllib.request.Request(url, body, headers, method="POST")
    with urllib.request.urlopen(request, timeout=600) as reply:
        return reply.status


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def measure(binary: str, pngs: list[bytes], port: int) -> tuple[int, int, int]:
    """(summed RSS at rest, summed peak, budget) in bytes for one daemon run of the reproduction."""
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.yaml"
        settings = {"server": {"port": port}, "build": {"workers": 2}}
        config_path.write_text(yaml.safe_dump(settings))
        config = load_config(str(config_path))
        with db.open_db(config.db_path) as conn:
            users.add_user(conn, *CREW, admin=False)
            job = db.create_job(conn, "Big PNGs")
        daemon = Popen([binary, "--config", str(config_path), "serve"], stdout=DEVNULL, stderr=DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: healthy(url), 60, "the daemon")
            rest = family_rss(daemon.pid)
            sampler = Sampler(daemon.pid)
            sampler.start()
            target = f"{url}/api/jobs/{job.id}/images"
            with ThreadPoolExecutor(4) as pool:
                statuses = list(pool.map(lambda n: post(target, f"big-{n}.png", pngs[n]), range(4)))
            wait_for(lambda: family_rss(daemon.pid) > rest + 64 * MIB or built(config, job) >= 4, 60, "the rebuild")
            statuses.append(post(target, "big-4.png", pngs[4]))
            wait_for(lambda: built(config, job) == 5, 900, "all five photos on the page")
            sampler.stop.set()
            sampler.join()
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
        if statuses != [201] * 5:
            raise SystemExit(f"uploads answered {statuses}")
        return rest, sampler.peak, config.images.max_decode_mb * MIB


def built(config, job: db.Job) -> int:
    return len(list(config.paths.output.glob("jobs/*/*-display-*.jpg")))


def report(label: str, runs: list[tuple[int, int, int]]) -> None:
    rest = statistics.median(r for r, _, _ in runs) / MIB
    peak = statistics.median(p for _, p, _ in runs) / MIB
    budget = runs[0][2] / MIB
    print(f"{label}:")
    print(f"  summed RSS at rest {rest:.0f} MiB, summed peak {peak:.0f} MiB, above rest {peak - rest:.0f} MiB")
    print(
        f"  budget images.max_decode_mb {budget:.0f} MiB: peak above rest is {(peak - rest) / budget:.2f}x the budget"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", help="another install's jobgallery script, measured the same way")
    parser.add_argument("--port", type=int, default=18931)
    args = parser.parse_args()
    pngs = [rgba_png(SIDE + n, SIDE) for n in range(5)]
    size = f"{SIDE}x{SIDE} RGBA ({SIDE * SIDE / 1e6:.0f} MP, {SIDE * SIDE * 4 / MIB:.0f} MiB to decode)"
    print(f"5 PNGs of {size}, {max(map(len, pngs)) / 1e3:.0f} KB each; 4 at once, a fifth during the rebuild")
    print(f"medians of {args.rounds} run(s)")
    this = str(Path(sys.executable).with_name("jobgallery"))
    installs = [("this install", this)] + ([("baseline install", args.baseline)] if args.baseline else [])
    results = {}
    for label, binary in installs:
        results[label] = [measure(binary, pngs, args.port) for _ in range(args.rounds)]
        report(f"{label} ({binary})", results[label])
    if args.baseline:
        ours = statistics.median(p for _, p, _ in results["this install"])
        theirs = statistics.median(p for _, p, _ in results["baseline install"])
        print(f"summed peak: {ours / MIB:.0f} MiB against {theirs / MIB:.0f} MiB ({theirs / ours:.2f}x lower)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
