#!/usr/bin/env bash
# Set up everything the test suite needs and run all of it.
# Debian packages: nginx (real proxy tests), chromium (browser tests), systemd (unit checks),
# libgs-common (ICC profiles, press CMYK and Adobe RGB among them, for the colour tests),
# poppler-utils (pdftoppm renders a report's cover to read its QR code), fonts-dejavu-core (report text).
# Python: the package itself (not editable, as users get it) with its test extra, in .venv, installed
# again only when its files or setup.cfg changed (python-packages.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/debian-packages.sh
. scripts/python-packages.sh
ensure_packages \
    "python3 -c 'import venv, ensurepip'":python3-venv \
    "command -v nginx || test -x /usr/sbin/nginx":nginx \
    "command -v chromium":chromium \
    "command -v systemd-analyze":systemd \
    "test -f /usr/share/color/icc/ghostscript/default_cmyk.icc":libgs-common \
    "command -v pdftoppm":poppler-utils \
    "test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf":fonts-dejavu-core
ensure_installed test
PATH="/usr/sbin:$PATH" exec .venv/bin/pytest "$@"
