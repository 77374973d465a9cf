"""Hand the built site to object storage: which files are content-named, then ``objectstore.mirror``.

The build knows which names carry a hash of their bytes (its manifest lists
every derivative; ``static/`` holds only hashed CSS and JS), and those may be
cached for a year and skipped when an object of their size is already there.
The daemon calls ``publish_site`` after each rebuild (in a job of its own), the CLI for ``publish``.
"""

from __future__ import annotations

import re

from generator.assets import STATIC_FOLDER
from generator.handover import content_named_files
from generator.manifest import load_manifest
from jobgallery.config import Config
from jobgallery.objectstore.client import DEFAULT_TIMEOUTS, publish_location
from jobgallery.objectstore.mirror import PublishReport, publish

# A derivative's name: photo id, kind, then a digest of the master and the recipe (generator/derivatives.py).
DERIVATIVE = re.compile(r"[0-9]+-[a-z0-9]+(?:-[a-z0-9]+)*-[0-9a-f]{20}\.(?:jpg|webp)")
JOBS_FOLDER = "jobs"


def publish_site(
    config: Config, dry_run: bool = False, progress: bool = False, timeouts: tuple[float, float] = DEFAULT_TIMEOUTS
) -> PublishReport:
    """Mirror ``output/`` into the ``publish.*`` bucket; UsageError when none is set, StoreError on failure.

    The manifest is read inside ``publish``'s hold of the maintenance lock,
    together with the listing of ``output/``: read before it, a build in
    between could add derivatives it does not name, sent with a page's headers.
    """
    location = publish_location(config)
    return publish(
        config, location, lambda: content_named(config), dry_run=dry_run, progress=progress, timeouts=timeouts
    )


def content_named(config: Config) -> set[str]:
    """Paths relative to ``output/`` whose names change with their bytes."""
    paths = load_manifest(config.paths.output).derivative_paths() | content_named_files(config.paths.output)
    paths.update(unlisted_derivatives(config))
    static = config.paths.output / STATIC_FOLDER
    if static.is_dir():
        paths.update(f"{STATIC_FOLDER}/{p.name}" for p in static.iterdir() if p.is_file() and p.name.count(".") >= 2)
    return paths


def unlisted_derivatives(config: Config) -> set[str]:
    """Derivatives an upload wrote since the last build, which the manifest does not name yet.

    Told by their names alone: sent with a page's headers they would stay so,
    since a content-named file is never sent twice.
    """
    jobs = config.paths.output / JOBS_FOLDER
    if not jobs.is_dir():
        return set()
    return {
        f"{JOBS_FOLDER}/{folder.name}/{path.name}"
        for folder in jobs.iterdir()
        if folder.is_dir() and not folder.is_symlink()
        for path in folder.iterdir()
        if DERIVATIVE.fullmatch(path.name) and path.is_file()
    }
