#!/bin/sh
# Install Debian's chromium (for the browser end-to-end test of `posekit serve`) when missing.
# Idempotent and quiet: does nothing when a chromium binary is already on PATH. Needs root (or
# sudo without a password) and apt-get; anywhere else it says why and exits 0, so `make test`
# goes on and the browser test skips with its own reason.
set -eu
for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium: no apt-get here; install Chromium yourself to run the browser test" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_chromium: not root; run 'apt-get install chromium' as root to run the browser test" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || {
        echo "install_chromium: apt-get install chromium failed; the browser test will skip" >&2
        exit 0
    }
fi
