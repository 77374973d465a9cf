"""A command imports only what it uses: ``--version`` and a build with nothing to do never load boto3 or the decoders.

boto3 and numpy (through simplejpeg) cost every command about 0.35 s and 30
MiB when imported at start; ``python -X importtime`` lists every module a
real run of the installed command imported.
"""

from __future__ import annotations

import io
import subprocess
import sys

import photos
import pytest

from generator.build import build_site
from generator.ingest_output import IngestDerivatives
from jobgallery import db, ingest
from jobgallery.config import Config

HEAVY = ("boto3", "botocore", "numpy", "simplejpeg")


def imported(*args: str) -> set[str]:
    """The top-level packages a run of ``python -m jobgallery ARGS`` imported."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "jobgallery", *args], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")]
    return {name.split(".")[0] for name in lines}


@pytest.mark.parametrize("args", [("--version",), ("--help",)])
def test_the_version_and_help_import_neither_boto3_nor_the_decoders(args: tuple[str, ...]) -> None:
    assert imported(*args) & set(HEAVY) == set()


def test_a_build_with_nothing_to_do_imports_neither_boto3_nor_the_decoders(config: Config, conn) -> None:
    job = db.create_job(conn, "Imports")
    derivatives = IngestDerivatives.from_config(config)
    ingest.ingest_stream(config, conn, job.id, io.BytesIO(photos.jpeg_bytes(seed=1)), derivatives=derivatives)
    assert build_site(config).ok
    modules = imported("--config", str(config.source), "build")
    assert "generator" in modules and modules & set(HEAVY) == set()
