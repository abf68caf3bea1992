"""Helpers of the fault tests: a small real tmpfs (a full disk), files cut or damaged on
purpose, and readers that tell what survived (frames that decode, whole JSON lines)."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import av
import pytest


@contextlib.contextmanager
def tmpfs(parent: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted in a new folder under ``parent`` (needs root and a kernel
    that allows it); skips the test with the reason when the mount is refused."""
    d = Path(parent) / f"tmpfs-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        d.rmdir()
        pytest.skip(f"cannot mount a {size} tmpfs here (needs root): "
                    f"{(r.stderr or r.stdout).strip()[:200]}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)
        with contextlib.suppress(OSError):
            d.rmdir()


def decodable_frames(path: Path) -> tuple[int, str | None]:
    """(frames PyAV decodes from the start, the error that stopped it or None)."""
    n = 0
    try:
        with av.open(str(path)) as c:
            for _ in c.decode(c.streams.video[0]):
                n += 1
    except (av.FFmpegError, OSError, IndexError) as e:
        return n, f"{type(e).__name__}: {e}"
    return n, None


def jsonl_frames(path: Path) -> int:
    """Frame records in a JSON Lines file, asserting that the file ends on a whole line and
    that every line is valid JSON."""
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), f"{path.name} ends inside a line: {text[-80:]!r}"
    lines = [json.loads(x) for x in text.splitlines()]
    return sum(1 for x in lines if x.get("type") == "frame")


def csv_rows(path: Path) -> int:
    """Data rows of the long-form CSV, asserting that it ends on a whole row of 9 fields."""
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), f"{path.name} ends inside a row: {text[-80:]!r}"
    rows = text.splitlines()
    assert all(r.count(",") == 8 for r in rows), "a CSV row lost fields"
    return max(0, len(rows) - 1)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` RGB pixels, with one tiny (invalid)
    IDAT: a decompression bomb's header without its payload."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def cut(src: Path, dst: Path, n_bytes: int) -> Path:
    """``head -c n_bytes src > dst``."""
    with open(src, "rb") as f:
        dst.write_bytes(f.read(n_bytes))
    return dst


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
