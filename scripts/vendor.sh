#!/usr/bin/env bash
# Fetch the front-end libraries the upload form and the job pages ship, check them, copy their browser files and licence.
#
#   ./scripts/vendor.sh          # rewrites templates/static/vendor/ from the pinned packages
#   ./scripts/vendor.sh --check  # exit 1 when the committed files differ from what the packages hold
#
# Each package is fetched with `npm pack` at a pinned version; its tarball must match the sha512
# integrity pinned here (the registry's own metadata for that version) before anything is copied.
# Nothing is fetched at run time: the daemon serves the upload form's copies under /upload/static/vendor/,
# and the generator publishes the gallery's under output/static/ with content-hashed names.
#
# js-sha256 (MIT): SHA-256 for pages without a secure context, where WebCrypto's digest is missing.
# photoswipe (MIT): the job page's photo viewer (pinch, wheel and double-tap zoom, pan, swipe, keys).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
    # name version integrity files-to-copy (space separated, from the package folder)
    "js-sha256|1.0.0|sha512-Bqxf6ENUzYIMzuELCmRNrJOVbjKH1oMgbfYJBKVr/W1Xf9fazpahqCbb24v1pR7XV1isuqhM+w9KWpK7zCyUQw==|build/sha256.min.js LICENSE.txt"
    "photoswipe|5.4.4|sha512-WNFHoKrkZNnvFFhbHL93WDkW3ifwVOXSW3w1UuZZelSmgXpIGiZSNlZJq37rR8YejqME2rHs9EhH9ZvlvFH2NA==|dist/photoswipe.esm.min.js dist/photoswipe.css LICENSE"
)
DEST=templates/static/vendor
mode=${1:-write}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out"

for entry in "${PACKAGES[@]}"; do
    IFS='|' read -r name version integrity files <<<"$entry"
    (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
    tarball=$(ls "$work"/"$name"-"$version".tgz)
    actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    if [ "$actual" != "$integrity" ]; then
        echo "vendor: $name@$version does not match its pinned integrity ($actual)" >&2
        exit 1
    fi
    mkdir -p "$work/unpacked/$name" "$work/out/$name"
    tar -xzf "$tarball" -C "$work/unpacked/$name"
    for file in $files; do
        cp "$work/unpacked/$name/package/$file" "$work/out/$name/$(basename "$file")"
    done
    echo "$name $version $integrity" >"$work/out/$name/VERSION"
done

if [ "$mode" = "--check" ]; then
    diff -r "$work/out" "$DEST" && echo "vendor: $DEST matches the pinned packages"
else
    rm -rf "$DEST"
    mkdir -p "$DEST"
    cp -r "$work/out/." "$DEST/"
    echo "vendor: wrote $DEST"
fi
