# Sourced by the other scripts: install missing Debian packages (as root, or with sudo).
# Usage: ensure_packages COMMAND:PACKAGE ...   (PACKAGE is installed when COMMAND is missing)

ensure_packages() {
    local missing=() pair
    for pair in "$@"; do
        if ! eval "${pair%%:*}" >/dev/null 2>&1; then
            missing+=("${pair##*:}")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then
            sudo="sudo"
        else
            echo "please install these Debian packages as root: ${missing[*]}" >&2
            return 1
        fi
    fi
    echo "installing Debian packages: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}
