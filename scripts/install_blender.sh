#!/bin/sh
# Install Debian's Blender (for the test that imports posekit's BVH with Blender's own importer,
# tests/io/test_mocap.py) when missing. Idempotent: does nothing when `blender` is already on PATH.
# Needs root (or sudo without a password) and apt-get; anywhere else it says why and exits 0, so
# `make test` goes on and the Blender test skips with its own reason. The download is large
# (several hundred MB with its libraries) and can take minutes.
set -eu
if command -v blender >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_blender: no apt-get here; install Blender yourself to run the BVH import test" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_blender: not root; run 'apt-get install blender' as root to run the BVH import test" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq --no-install-recommends blender >/dev/null 2>&1; then
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    $SUDO apt-get install -y -qq --no-install-recommends blender >/dev/null 2>&1 || {
        echo "install_blender: apt-get install blender failed; the BVH import test will skip" >&2
        exit 0
    }
fi
command -v blender >/dev/null 2>&1 || echo "install_blender: blender still not on PATH" >&2
