# Sourced by serve.sh and test.sh: keep the package in .venv current with this folder, installing only on change.
# Usage: ensure_installed serve|test   (test adds the test extra: pytest, Playwright, ruff...)
#
# .venv/jobgallery-installed.<what> holds a hash of what was installed: every file that goes into the
# package (all of the tree but tests, docs, scripts and other files the package never holds) plus setup.cfg.
# A changed, added or removed source file means a reinstall, so tests never run a stale copy; nothing
# changed means no pip at all. The dependencies are installed again only when setup.cfg changed.

source_hash() {
    local files
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        files=$(git ls-files --cached --others --exclude-standard -z | tr '\0' '\n')
    else
        files=$(find . -type f ! -path './.git/*' ! -path './.venv/*' -printf '%P\n')
    fi
    # Only what the package is made of: config.yaml, the README or a site's photos in this folder change nothing installed.
    printf '%s\n' "$files" \
        | grep -E '^((jobgallery|daemon|generator|templates)/|setup\.cfg$|pyproject\.toml$)' \
        | grep -Ev '(^|/)__pycache__/|\.pyc$' \
        | LC_ALL=C sort | while IFS= read -r file; do [ -f "$file" ] && printf '%s\0' "$file"; done \
        | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1
}

ensure_installed() {
    local what=$1 stamp=.venv/jobgallery-installed extra="" sources deps
    [ "$what" = test ] && extra="[test]"
    if [ ! -x .venv/bin/pip ]; then
        echo "creating .venv (a Python virtual environment in this folder)" >&2
        python3 -m venv .venv
    fi
    sources=$(source_hash)
    deps=$(sha256sum <setup.cfg | cut -d" " -f1)
    if [ "$(cat "$stamp.deps-$what" 2>/dev/null)" != "$deps" ] \
        && ! { [ "$what" = serve ] && [ "$(cat "$stamp.deps-test" 2>/dev/null)" = "$deps" ]; }; then
        echo "installing jobgallery and the Python packages it needs${extra:+ for the tests} into .venv" \
            "(setup.cfg is new or changed; a first install takes a minute or more):" >&2
        rm -rf build  # setuptools' build folder keeps files since deleted from the source: never install those
        .venv/bin/pip install --disable-pip-version-check --progress-bar off ".$extra" \
            | { grep --line-buffered -E '^(Collecting|Installing collected packages|Successfully installed)' || true; } \
            | sed -u 's/^Collecting /  collecting /' >&2
        echo "$deps" >"$stamp.deps-$what"
        echo "$sources" >"$stamp.source"
    elif [ "$(cat "$stamp.source" 2>/dev/null)" != "$sources" ] || [ ! -x .venv/bin/jobgallery ]; then
        echo "installing jobgallery from this folder into .venv (its files changed since the last install)" >&2
        rm -rf build
        .venv/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps .
        echo "$sources" >"$stamp.source"
    fi
}
