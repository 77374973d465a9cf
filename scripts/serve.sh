#!/usr/bin/env bash
# Set up jobgallery in .venv and run the upload daemon on the shipped config.yaml.
# The daemon serves output/ itself (server.serve_output), so no Nginx is needed to try it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/debian-packages.sh
ensure_packages "python3 -c 'import venv, ensurepip'":python3-venv
[ -x .venv/bin/pip ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check .
exec .venv/bin/jobgallery --config config.yaml serve
