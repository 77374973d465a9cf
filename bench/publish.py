"""Benchmark of ``publish`` into a real S3-compatible server (moto in server mode, its own process).

    python bench/publish.py                  # 2,000 photos, 3 interleaved rounds
    python bench/publish.py --photos 300     # a smoke run

A site of N small photos is built once (rows and masters written directly,
then a real build: three derivatives each, two pages, CSS and JS). Then, in
interleaved rounds, each into a fresh bucket:

- first publish: ``publish`` into an empty bucket;
- no-op publish: ``publish`` again with nothing changed (a listing, then nothing sent);
- one new photo: ``publish`` after one photo was added and the site rebuilt;
- listing: the bucket's listing alone, which every publish starts with;
- baseline: every file uploaded (same headers, same number of threads), what a
  script that copies the folder with ``put_object`` would do each time.

Prints medians and the ratios against the baseline. moto keeps objects in
Python memory and answers a few hundred requests a second on a small box:
absolute figures are far below a real store's, the ratios are what count.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import yaml
from botocore.exceptions import BotoCoreError

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import photos  # noqa: E402

from generator.bucket import publish_site  # noqa: E402
from generator.build import build_site  # noqa: E402
from jobgallery import db, storage  # noqa: E402
from jobgallery.config import Config, load_config  # noqa: E402
from jobgallery.objectstore.headers import cache_control, content_type  # noqa: E402
from jobgallery.objectstore.mirror import scan_output  # noqa: E402

PHOTOS_PER_JOB = 100
os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")


def start_server(port: int) -> subprocess.Popen:
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    client = make_client(port)
    for _ in range(100):
        try:
            client.list_buckets()
            return process
        except BotoCoreError:  # still starting
            time.sleep(0.1)
    raise SystemExit("moto_server did not start")


def make_client(port: int):
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")


def make_site(folder: Path, port: int, count: int) -> Config:
    """Rows and masters written directly (ingest is not what is measured), then a real build."""
    settings = {
        "paths": {"data": "data", "output": "output"},
        "publish": {"bucket": "unset", "prefix": "depot", "endpoint_url": f"http://127.0.0.1:{port}"},
        "build": {"workers": 2},
    }
    settings["publish"].update(region="us-east-1", path_style=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(settings))
    config = load_config(str(folder / "config.yaml"))
    with db.open_db(config.db_path) as conn:
        for n in range(count):
            if n % PHOTOS_PER_JOB == 0:
                job = db.create_job(conn, f"Job {n // PHOTOS_PER_JOB + 1}")
            add_master(config, conn, job.id, n)
    build_site(config)
    return config


def add_master(config: Config, conn, job_id: int, seed: int) -> None:
    data = photos.jpeg_bytes(160, 120, seed=seed)
    sha = hashlib.sha256(data).hexdigest()
    name = f"img_{sha[:16]}.jpg"
    storage.atomic_write(storage.job_folder(config.paths.data, job_id) / name, data)
    db.insert_image(
        conn, job_id=job_id, filename=name, sha256=sha, byte_size=len(data), width=160, height=120, taken_at=None,
        timestamp="2024-06-01T08:00:00+00:00", description="", tags="", location=None,
    )  # fmt: skip


def with_bucket(config: Config, bucket: str) -> Config:
    folder = config.source.parent
    settings = yaml.safe_load(config.source.read_text())
    settings["publish"]["bucket"] = bucket
    path = folder / f"config-{bucket}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return load_config(str(path))


def upload_everything(config: Config, client) -> int:
    """The baseline: every file of output/ sent, whatever the bucket holds."""
    files = scan_output(config.paths.output, set())

    def put(item) -> None:
        with open(item.path, "rb") as body:
            client.put_object(
                Bucket=config.publish.bucket, Key=f"depot/{item.relative}", Body=body,
                ContentType=content_type(item.relative), CacheControl=cache_control(False, 60),
            )  # fmt: skip

    with ThreadPoolExecutor(config.publish.threads) as pool:
        list(pool.map(put, files))
    return len(files)


def timed(func) -> tuple[float, object]:
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


def count_objects(client, bucket: str) -> int:
    """The listing alone (what a no-op publish cannot do without): one request per thousand keys."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sum(len(page.get("Contents", ())) for page in pages)


def empty_bucket(client, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = 5990
    server = start_server(port)
    client = make_client(port)
    figures: dict[str, list[float]] = {"first": [], "noop": [], "one": [], "listing": [], "baseline": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            site = make_site(Path(tmp), port, args.photos)
            files = len(scan_output(site.paths.output, set()))
            print(f"site: {args.photos:,} photos, {files:,} files; moto_server on 127.0.0.1:{port}")
            for round_no in range(args.rounds):
                one_round(site, client, round_no, figures)
    finally:
        server.terminate()
        server.wait()
    report(figures)


def one_round(site: Config, client, round_no: int, figures: dict[str, list[float]]) -> None:
    for kind in ("baseline", "publish") if round_no % 2 == 0 else ("publish", "baseline"):
        bucket = f"bench-{kind}-{round_no}"
        client.create_bucket(Bucket=bucket)
        config = with_bucket(site, bucket)
        if kind == "baseline":
            seconds, _ = timed(lambda config=config: upload_everything(config, client))
            figures["baseline"].append(seconds)
        else:
            seconds, first = timed(lambda config=config: publish_site(config))
            figures["first"].append(seconds)
            seconds, noop = timed(lambda config=config: publish_site(config))
            assert noop.uploaded == 0, noop.summary()
            figures["noop"].append(seconds)
            figures["listing"].append(timed(lambda bucket=bucket: count_objects(client, bucket))[0])
            print(f"round {round_no + 1}: {first.summary()} | {noop.summary()}")
            figures["one"].append(one_new_photo(config, round_no))
        empty_bucket(client, bucket)


def one_new_photo(config: Config, round_no: int) -> float:
    with db.open_db(config.db_path) as conn:
        add_master(config, conn, 1, 10_000_000 + round_no)
    build_site(config, job_id=1)
    seconds, report = timed(lambda: publish_site(config))
    print(f"         one new photo: {report.summary()}")
    return seconds


def report(figures: dict[str, list[float]]) -> None:
    median = {kind: statistics.median(values) for kind, values in figures.items()}
    base = median["baseline"]
    print(f"upload every file (baseline): median {base:.2f} s")
    labels = (("first", "first publish"), ("noop", "no-op publish"), ("one", "one new photo"))
    for kind, label in (*labels, ("listing", "listing the bucket alone")):
        print(f"{label:>29}: median {median[kind]:.2f} s, {median[kind] / base:.2f}x the baseline")


if __name__ == "__main__":
    main()
