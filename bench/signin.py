"""What signing in costs per request: the session cookie, cached Basic, and a password check.

Starts a real ``jobgallery serve`` on a loopback port in a temporary
instance and times ``GET /api/jobs`` (one job listed) signed in three ways:

* the session cookie of ``/login`` (one indexed read of the session and its
  user per request);
* HTTP Basic whose credentials were checked a moment ago (cached; the cache
  entry is checked against the user's row, one indexed read, so a reset or
  demotion takes effect at once);
* HTTP Basic whose password is checked with scrypt every time (the naive
  baseline: each request as a new user who has not signed in before).

Prints the median and the 90th percentile of each, and the ratios to the baseline.

Run:  .venv/bin/python bench/signin.py [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import yaml
from daemon_support import basic, http, running_daemon
from session_support import cookie, session_token, sign_in

from jobgallery import db, users
from jobgallery.config import load_config

CREW = ("crew", "crew-password-1")
BASELINE_REQUESTS = 20


def timings(url: str, headers_for, count: int) -> list[float]:
    """Seconds per request; ``headers_for(i)`` gives the i-th request's headers."""
    spent = []
    for i in range(count):
        started = time.perf_counter()
        reply = http("GET", url + "/api/jobs", headers=headers_for(i))
        spent.append(time.perf_counter() - started)
        assert reply.status == 200, reply.text
    return spent


def line(name: str, spent: list[float], baseline: float) -> str:
    median = statistics.median(spent)
    p90 = statistics.quantiles(spent, n=10)[-1]
    return f"{name:<34} median {median * 1000:7.2f} ms   p90 {p90 * 1000:7.2f} ms   {baseline / median:6.1f}x faster"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.yaml"
        config_path.write_text(yaml.safe_dump({"server": {"log_level": "warning"}}), encoding="utf-8")
        config = load_config(str(config_path))
        fresh = [(f"new{i}", f"new-password-{i}") for i in range(BASELINE_REQUESTS)]
        with db.open_db(config.db_path) as conn:
            users.add_user(conn, *CREW, admin=False)
            for name, password in fresh:
                users.add_user(conn, name, password, admin=False)
            db.create_job(conn, "Bench")
        with running_daemon(config_path) as daemon:
            session = cookie(session_token(sign_in(daemon.url, *CREW)))
            baseline = timings(daemon.url, lambda i: basic(*fresh[i]), BASELINE_REQUESTS)
            by_session = timings(daemon.url, lambda i: session, args.requests)
            by_basic = timings(daemon.url, lambda i: basic(*CREW), args.requests)
    base = statistics.median(baseline)
    print(f"GET /api/jobs, {args.requests} requests each ({BASELINE_REQUESTS} for the baseline), one at a time")
    print(line("session cookie", by_session, base))
    print(line("Basic, cached and revalidated", by_basic, base))
    print(line("Basic, scrypt every time (naive)", baseline, base))


if __name__ == "__main__":
    main()
