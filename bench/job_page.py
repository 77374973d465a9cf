"""A 1,000-photo job page on a phone over a slow network, before and after; and what WebP thumbnails would save.

Part 1 builds one job of ``--photos`` photos (mixed shapes, a few panoramas and
tall shots, over ten days, tagged) twice from the same data: "before" with the
job page, CSS and script of ``--before`` (a git revision, by the
``gallery.templates`` override; the derivatives are today's), "after" with this
checkout's. Each is served from 127.0.0.1 gzipping text like the shipped Nginx
site (``gzip on``, level 1) and opened in headless Chromium as a phone:
390 x 844 CSS px at 3x, touch, CPU slowed 4x, network 1.6 Mbit/s down,
750 kbit/s up, 150 ms round trip (CDP ``Network.emulateNetworkConditions``).
Rounds alternate before/after with a cold cache each time. Printed, as medians:
HTML bytes (raw and as sent), requests until the load event, the load event
(ms after navigation start), thumbnails fetched once the page has settled
without scrolling, and how many thumbnails lie within the first two screens
(the first screen plus one: what the page should fetch at most), and the
KiB sent over the network by then (page, CSS, script, thumbnails).

Part 2 measures WebP against our JPEG thumbnails at the same quality: for each
photo the JPEG thumbnail (quality ``images.thumb_quality``, 70) is compared with
the exact resized picture (PSNR of all channels); the WebP quality is the
lowest that reaches at least that PSNR, and its bytes are compared. The photos
are the drawn job-site scenes of ``scripts/screenshots.py`` (softened, with
sensor noise, like a phone's) at 1x and 2x thumbnail size.

Run:  .venv/bin/python bench/job_page.py [--photos 1000] [--rounds 3] [--before main]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import io
import math
import random
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import photos
import yaml
from conftest import CHROMIUM_ARGS
from generator_support import add_photo
from PIL import Image, ImageChops, ImageStat

from generator.build import build_site
from jobgallery import db
from jobgallery.config import load_config

REPO = Path(__file__).resolve().parent.parent
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
NETWORK = {"offline": False, "latency": 150, "downloadThroughput": 1_600_000 / 8, "uploadThroughput": 750_000 / 8}
CPU_SLOWDOWN = 4
SHAPES = [(400, 300)] * 6 + [(300, 400)] * 3 + [(480, 270), (1200, 300), (200, 600)]
TAGS = ["roof", "flashing", "gutter", "leak", "chimney", "before", "after"]
BEFORE_FILES = ("templates/job.html", "templates/static/gallery.css", "templates/static/gallery.js")
TEXT_TYPES = (".html", ".css", ".js")
# Bytes over the network so far: the page and every resource (headers and bodies as sent).
TRANSFERRED = """[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
    .reduce((sum, entry) => sum + entry.transferSize, 0)"""


# ---------------------------------------------------------------- part 1: the page on a phone


def make_data(folder: Path, count: int) -> Path:
    """The instance's data: one job of ``count`` small photos; returns the data folder."""
    config = site_config(folder / "after", folder / "data", None)
    rng = random.Random(7)
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "A thousand photos")
        for i in range(count):
            size = SHAPES[i % len(SHAPES)]
            taken = f"2026-03-{1 + i * 10 // count:02}T{8 + i % 10:02}:{i % 60:02}:00"
            tags = ",".join(rng.sample(TAGS, 2))
            data = photos.jpeg_bytes(*size, seed=i)
            add_photo(config, conn, job.id, data, size=size, taken_at=taken, tags=tags, description=f"Photo {i}")
    return folder / "data"


def site_config(folder: Path, data: Path, templates: Path | None):
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"paths": {"data": str(data), "output": str(folder / "output")}, "build": {"workers": 2}}
    if templates:
        settings["gallery"] = {"templates": str(templates)}
    (folder / "config.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return load_config(str(folder / "config.yaml"))


def before_templates(folder: Path, revision: str) -> Path:
    """The job page and its CSS and script as they were at ``revision``, as a template override folder."""
    for name in BEFORE_FILES:
        text = subprocess.run(["git", "show", f"{revision}:{name}"], cwd=REPO, capture_output=True, check=True).stdout
        target = folder / Path(name).relative_to("templates")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text)
    return folder


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, HTML, CSS and JS gzipped at level 1 when asked (Nginx's ``gzip on`` default)."""

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix not in TEXT_TYPES or "gzip" not in self.headers.get("Accept-Encoding", ""):
            return super().send_head()
        body = gzip.compress(path.read_bytes(), compresslevel=1)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format: str, *args) -> None:
        pass


def serve(output: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(GzipHandler, directory=str(output)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def visit(browser, url: str) -> dict:
    """One cold visit on the throttled phone: requests until load, the load event, thumbnails once settled."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", NETWORK)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(url, wait_until="load", timeout=120_000)
        at_load = len(requests)
        load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventStart")
        settle(page, requests)
        two_screens = page.eval_on_selector_all(
            "li.photo", "all => all.filter(li => li.getBoundingClientRect().top < 2 * innerHeight).length"
        )
        sent = page.evaluate(TRANSFERRED)
    finally:
        context.close()
    thumbs = len({u for u in requests if "-thumb" in u})
    return {"requests": at_load, "load_ms": load_ms, "thumbs": thumbs, "two_screens": two_screens, "kib": sent / 1024}


def settle(page, requests: list[str], quiet_ms: int = 1500, limit_ms: int = 30_000) -> None:
    """Wait until no request has started for ``quiet_ms`` (lazy thumbnails near the first screen come after load)."""
    waited, seen = 0, -1
    while waited < limit_ms:
        if len(requests) == seen:
            return
        seen = len(requests)
        page.wait_for_timeout(quiet_ms)
        waited += quiet_ms


def page_bytes(output: Path) -> tuple[int, int]:
    html = next((output / "jobs").glob("*/index.html")).read_bytes()
    return len(html), len(gzip.compress(html, compresslevel=1))


def part_one(args) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-job-page-") as temp:
        folder = Path(temp)
        print(f"building a {args.photos}-photo job twice (before: {args.before}, after: this checkout)...", flush=True)
        data = make_data(folder, args.photos)
        sites = {
            "before": site_config(folder / "before", data, before_templates(folder / "old-templates", args.before)),
            "after": site_config(folder / "after", data, None),
        }
        for config in sites.values():
            assert build_site(config).ok
        servers = {name: serve(config.paths.output) for name, config in sites.items()}
        results: dict[str, list[dict]] = {name: [] for name in sites}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for _ in range(args.rounds):
                for name, (_, url) in servers.items():
                    results[name].append(visit(browser, url + "jobs/1-a-thousand-photos/"))
            browser.close()
        for server, _ in servers.values():
            server.shutdown()
        report_part_one(sites, results)


def report_part_one(sites: dict, results: dict[str, list[dict]]) -> None:
    print(f"\nphone 390x844 @3x, CPU /{CPU_SLOWDOWN}, 1.6 Mbit/s, 150 ms RTT; medians of the rounds")
    header = f"{'':8}{'HTML raw':>10}{'HTML gz':>9}{'requests':>10}{'load ms':>9}{'thumbs':>8}{'in 2 screens':>14}"
    print(f"{header}{'KiB sent':>10}")
    medians = {}
    for name, rounds in results.items():
        raw, sent = page_bytes(sites[name].paths.output)
        row = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        medians[name] = row
        print(
            f"{name:8}{raw:>10,}{sent:>9,}{row['requests']:>10.0f}{row['load_ms']:>9.0f}"
            f"{row['thumbs']:>8.0f}{row['two_screens']:>14.0f}{row['kib']:>10.0f}"
        )
    before, after = medians["before"], medians["after"]
    load, sent = after["load_ms"] / before["load_ms"], after["kib"] / before["kib"]
    print(f"after/before: load event {load:.2f}, KiB sent {sent:.2f}")


# ---------------------------------------------------------------- part 2: WebP at the same quality


def psnr(made: Image.Image, exact: Image.Image) -> float:
    rms = ImageStat.Stat(ImageChops.difference(made.convert("RGB"), exact)).rms
    mean = math.sqrt(sum(value * value for value in rms) / len(rms))
    return 99.0 if mean == 0 else 20 * math.log10(255 / mean)


def encoded(image: Image.Image, fmt: str, quality: int) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=quality, progressive=True, optimize=True)
    else:
        image.save(out, "WEBP", quality=quality)
    return out.getvalue()


def webp_matching(exact: Image.Image, target: float) -> bytes:
    """The smallest WebP (lowest quality, by bisection) whose PSNR is at least ``target``."""
    low, high = 1, 100
    while low < high:
        middle = (low + high) // 2
        if psnr(Image.open(io.BytesIO(encoded(exact, "WEBP", middle))), exact) >= target:
            high = middle
        else:
            low = middle + 1
    return encoded(exact, "WEBP", low)


def scenes() -> list[Image.Image]:
    from screenshots import JOBS, photo_bytes

    shots = [photo for job in JOBS.values() for photo in job]
    return [Image.open(io.BytesIO(photo_bytes(photo, seed))).convert("RGB") for seed, photo in enumerate(shots, 1)]


def part_two(quality: int, shipped: int) -> None:
    print(f"\nthumbnails: JPEG q{quality} (ours) against WebP at the same PSNR, and at the shipped q{shipped}")
    savings = {}
    for height in (225, 450):
        jpeg_total = matched_total = shipped_total = below = 0
        for picture in scenes():
            exact = picture.resize((round(picture.width * height / picture.height), height), Image.Resampling.LANCZOS)
            jpeg = encoded(exact, "JPEG", quality)
            target = psnr(Image.open(io.BytesIO(jpeg)), exact)
            ours = encoded(exact, "WEBP", shipped)
            below += psnr(Image.open(io.BytesIO(ours)), exact) < target
            jpeg_total += len(jpeg)
            matched_total += len(webp_matching(exact, target))
            shipped_total += len(ours)
        savings[height] = 1 - shipped_total / jpeg_total
        print(
            f"{height} px tall: JPEG {jpeg_total:,} B; WebP same PSNR {matched_total:,} B "
            f"({1 - matched_total / jpeg_total:.0%} less); WebP q{shipped} {shipped_total:,} B "
            f"({savings[height]:.0%} less, {below} of {len(scenes())} below the JPEG's PSNR)"
        )
    verdict = "adopt" if min(savings.values()) > 0.25 else "keep JPEG only (saving not over 25 %)"
    print(f"WebP q{shipped} beside JPEG: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default="main", help="git revision whose job page is the baseline")
    parser.add_argument("--skip-page", action="store_true", help="only the WebP measurement")
    args = parser.parse_args()
    if not args.skip_page:
        part_one(args)
    defaults = load_config(str(REPO / "config.yaml")).images
    part_two(defaults.thumb_quality, defaults.thumb_webp_quality)


if __name__ == "__main__":
    main()
