"""The photo report of a 300-photo job: time and peak memory, ours against ReportLab's plain way.

Each round writes the same report twice, each time in a fresh process so
its peak resident memory (``ru_maxrss``) is the report's alone:

* ours: ``generator.report.write_report`` (images read from disk only while
  the file is written, output sent to the file as it is made);
* naive: the same pages drawn with ReportLab's ``drawImage(path)`` and
  ``canvas.save()`` as its manual shows (every image held in memory, the
  whole file joined in memory, ASCII85 on).

The images are 300 display derivatives as the build makes them (1024 x 768
sRGB JPEGs at quality 85 of photo-like content), 2 a page. Rounds are
interleaved; medians are printed.

Run:  .venv/bin/python bench/report.py [--rounds 3] [--photos 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageFilter

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from generator.report import ReportInput, ReportPhoto, write_report, fonts
folder, kind = Path(sys.argv[1]), sys.argv[2]
paths = sorted(folder.glob("*-display-*.jpg"))
photos = tuple(ReportPhoto(p, "North roof, ridge cap and flashing before the repair", ("roof", "before"),
               "taken 2024-03-05 07:10 (UTC+01:00)") for p in paths)
report = ReportInput("Job galleries", "Roof, 12 Elm St", "2024-03-05 – 2024-03-07", photos,
                     link="https://photos.example.com/jobs/3-roof/")
started = time.monotonic()
target = folder / f"{{kind}}.pdf"
if kind == "ours":
    write_report(report, target)
else:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas
    canvas = Canvas(str(target), pagesize=A4, invariant=1)
    regular = fonts()[0]
    for i, photo in enumerate(photos):
        if i % 2 == 0 and i:
            canvas.showPage()
        y = 440 if i % 2 == 0 else 40
        canvas.drawImage(str(photo.image), 40, y + 40, 515, 340, preserveAspectRatio=True)
        canvas.setFont(regular, 9)
        canvas.drawString(40, y + 20, photo.description)
    canvas.save()
print(json.dumps({{"seconds": time.monotonic() - started,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bytes": target.stat().st_size}}))
"""


def make_displays(folder: Path, count: int) -> float:
    """``count`` distinct display-sized JPEGs (20 pictures, hard-linked under distinct names); mean KiB."""
    sources = []
    for n in range(20):
        noise = Image.effect_noise((1024, 768), 60 + n).filter(ImageFilter.GaussianBlur(1.2))
        picture = Image.merge("RGB", (noise, noise.rotate(180), Image.linear_gradient("L").resize((1024, 768))))
        path = folder / f"source-{n}.jpg"
        picture.save(path, quality=85, progressive=True)
        sources.append(path)
    for n in range(count):
        (folder / f"{n}-display-{n:020x}.jpg").hardlink_to(sources[n % 20])
    return statistics.mean(p.stat().st_size for p in sources) / 1024


def run(folder: Path, kind: str) -> dict:
    script = CHILD.format(repo=str(Path(__file__).resolve().parent.parent))
    result = subprocess.run([sys.executable, "-c", script, str(folder), kind], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photos", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        kib = make_displays(folder, args.photos)
        print(f"{args.photos} display images of {kib:.0f} KiB on average, 2 a page")
        results: dict[str, list[dict]] = {"ours": [], "naive": []}
        for _ in range(args.rounds):
            for kind in ("ours", "naive"):
                results[kind].append(run(folder, kind))
        medians = {
            k: {f: statistics.median(r[f] for r in v) for f in ("seconds", "peak_mib", "bytes")}
            for k, v in results.items()
        }
        for kind, m in medians.items():
            print(f"{kind:5}  {m['seconds']:.2f} s  peak {m['peak_mib']:.0f} MiB  file {m['bytes'] / 1e6:.1f} MB")
        ours, naive = medians["ours"], medians["naive"]
        times, peaks = naive["seconds"] / ours["seconds"], naive["peak_mib"] / ours["peak_mib"]
        print(f"ratio naive/ours: time {times:.2f}x, peak memory {peaks:.2f}x", end=" ")
        print(f"(medians of {args.rounds} interleaved rounds)")


if __name__ == "__main__":
    main()
