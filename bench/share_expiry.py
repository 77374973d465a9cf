"""The cost of the daemon's share-expiry check, which runs every minute.

    python bench/share_expiry.py            # 100 active links, 2 jobs of 3 photos

The check (``daemon/share_expiry.py``) lists ``output/s/`` and asks the
database for the active links; a build runs only when a folder belongs to no
active link. Compared in interleaved rounds against the naive way to make
expiry prompt: a build every minute (here a build with nothing new, its
cheapest case). Prints medians in milliseconds and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from maintenance_support import job_with_photos  # noqa: E402

from daemon.share_expiry import stale_link  # noqa: E402
from generator.build import build_site  # noqa: E402
from jobgallery import db, shares  # noqa: E402
from jobgallery.config import load_config  # noqa: E402


def timed(func) -> float:
    started = time.perf_counter()
    func()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.yaml").write_text("{}\n")
        config = load_config(str(Path(folder) / "config.yaml"))
        with db.open_db(config.db_path) as conn:
            jobs = [job_with_photos(config, conn, count=3, title=f"Job {n}", seed=n) for n in range(2)]
            for n in range(args.links):
                shares.create(conn, jobs[n % 2].id, shares.now_utc().replace(year=2099))
        build_site(config)
        assert stale_link(config) == (False, None)
        check, build = [], []
        for _ in range(args.rounds):
            check.append(timed(lambda: stale_link(config)))
            build.append(timed(lambda: build_site(config)))
    check_ms, build_ms = statistics.median(check), statistics.median(build)
    print(f"share-expiry check, {args.links} active links: median {check_ms:.2f} ms ({args.rounds} rounds)")
    print(f"naive: a build with nothing new every minute:  median {build_ms:.2f} ms")
    print(
        f"ratio build/check: {build_ms / check_ms:.0f}x; per day at one check a minute: {check_ms * 1440 / 1000:.1f} s"
    )


if __name__ == "__main__":
    main()
