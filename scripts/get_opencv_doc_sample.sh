#!/bin/sh
# Fetch one sample file (vtest.avi or messi5.jpg) from Debian's opencv-doc package without
# installing it: apt-get download, then extract the single file.  Usage: NAME DEST
set -eu
name=$1; dest=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download opencv-doc >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get download opencv-doc >/dev/null
fi
dpkg-deb -x opencv-doc_*.deb x
f=$(find x -name "$name" | head -n 1)
[ -n "$f" ] || { echo "error: $name not found in opencv-doc" >&2; exit 1; }
cd - >/dev/null
cp "$tmp/$f" "$dest"
