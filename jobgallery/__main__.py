"""``python -m jobgallery`` runs the same CLI as the console script."""

from jobgallery.cli import run

run()
