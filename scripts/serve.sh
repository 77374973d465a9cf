#!/usr/bin/env bash
# Set up jobgallery in .venv and run the upload daemon on the shipped config.yaml.
# The daemon serves output/ itself (server.serve_output), so no Nginx is needed to try it.
# Installs only what changed since the last start (see python-packages.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/debian-packages.sh
. scripts/python-packages.sh
ensure_packages "python3 -c 'import venv, ensurepip'":python3-venv
ensure_installed serve
exec .venv/bin/jobgallery --config config.yaml serve
