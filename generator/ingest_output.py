"""Derivatives made while a photo is ingested, from the pixels its check decoded (decode once).

An upload or an import proves a photo whole by decoding it; ``Maker`` makes
the display image and thumbnails from that same decode, and once the photo's
row exists they are written into its job's folder under ``output/`` with the
names a build would give them. The build then finds them there and only
renders pages (``Build.adopt``). Nothing depends on this having happened: a
crash before or during the writes leaves files a build makes again, and
every file is written atomically, so a name always holds whole bytes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from generator.derivatives import Made, Maker, Recipe, derivative_name
from jobgallery import db
from jobgallery.config import Config
from jobgallery.storage import atomic_write, within


@dataclass(frozen=True)
class IngestDerivatives(Maker):
    """``ingest.Derivatives`` for the gallery in ``output``: makes with ``Maker``, publishes into the job's folder."""

    output: Path = Path()
    public_index: bool = False

    @classmethod
    def from_config(cls, config: Config) -> IngestDerivatives:
        return cls(Recipe.from_config(config), output=config.paths.output, public_index=config.gallery.public_index)

    def publish(self, conn: sqlite3.Connection, image: db.Image, made: Made) -> None:
        """Write each derivative ``made`` for ``image`` (stored: it has its id); raises OSError or JobGalleryError."""
        folder = self.output / db.get_job(conn, image.job_id).gallery_path(self.public_index)
        for kind, (data, _size) in made.files.items():
            atomic_write(within(self.output, folder / derivative_name(image.id, image.sha256, kind, self.recipe)), data)
