"""``jobgallery import FOLDER --job ID [--description TEXT] [--tags a,b]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from jobgallery import db
from jobgallery.cli.build import publish
from jobgallery.cli.commands import add_command
from jobgallery.config import Config
from jobgallery.progress import Progress

if TYPE_CHECKING:
    from jobgallery import importer


def register(commands) -> None:
    parser = add_command(
        commands,
        "import",
        "Ingest every photo under a folder into a job and publish it.",
        "jobgallery import /media/sd --job 3",
        run_import,
    )
    parser.add_argument("folder", help="folder to walk, subfolders included (hidden files skipped, links refused)")
    parser.add_argument("--job", type=int, required=True, metavar="ID", help="the job the photos belong to")
    parser.add_argument("--description", default="", metavar="TEXT", help="description given to every photo")
    parser.add_argument("--tags", default="", metavar="a,b", help="comma-separated tags given to every photo")


def run_import(args: argparse.Namespace, config: Config) -> int:
    """Import, report, then publish the job's page as an upload would; exit 1 if a photo was refused."""
    # Imported here: the decoders (simplejpeg, numpy) cost every other command 0.2 s and 20 MiB.
    from generator.ingest_output import IngestDerivatives
    from jobgallery import importer, ingest

    details = ingest.clean_details(args.description, args.tags)
    with db.open_db(config.db_path) as conn:
        db.get_job(conn, args.job, live=True)
        found = importer.scan(Path(args.folder))
        with Progress(len(found.files), "importing") as progress:
            derivatives = IngestDerivatives.from_config(config)
            report = importer.import_files(config, conn, args.job, found, details, progress.advance, derivatives)
    print_report(report)
    built = publish(config, args.job).ok if report.imported else True
    if report.refused:
        print(f"jobgallery: {len(report.refused)} file(s) refused", file=sys.stderr)
    return 0 if built and not report.refused else 1


def print_report(report: importer.ImportReport) -> None:
    """Each skipped file with what it is, each refused file with its reason, then the totals line."""
    for name, kind in sorted(report.skipped):
        print(f"skipped {printable(name)}: {kind}")
    for name, reason in sorted(report.refused):
        print(f"refused {printable(name)}: {reason}")
    totals = f"imported {len(report.imported)}, duplicates {len(report.duplicates)}, refused {len(report.refused)}"
    if report.skipped:
        totals += f", skipped {len(report.skipped)} (not photos)"
    print(totals, flush=True)


def printable(name: str) -> str:
    """File names may hold control characters or characters the terminal cannot show; never send those to it."""
    encoding = sys.stdout.encoding or "utf-8"
    shown = "".join(ch if ch.isprintable() else "?" for ch in name)
    return shown.encode(encoding, "replace").decode(encoding)
