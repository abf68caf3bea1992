"""The CPU a benchmark ran on, and ``--isa``: run a benchmark as on a CPU with fewer vector
instructions (shared by ``bench_defaults.py`` and ``bench_mot.py``).

posekit's INT8 person detector runs about twice as fast with the CPU's integer dot-product
instructions (AVX-512 VNNI or AVX-VNNI) as with AVX2 alone, and its exact outputs differ
between the two. ``--isa avx2`` caps oneDNN (OpenVINO's CPU plugin and PyTorch) with
``ONEDNN_MAX_CPU_ISA`` and PyTorch's own ATen kernels with ``ATEN_CPU_CAPABILITY``, so one
machine measures what a CPU without those instructions gets. The caps do not reach
MediaPipe, whose TFLite XNNPACK kernels pick their instructions themselves: a capped
``bench_defaults.py --parts body3d`` compares capped posekit with uncapped MediaPipe
(MediaPipe's loops ran at 62-66 frames/s capped and 64 uncapped on the same VM).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

#: ``--isa`` choices: the environment that caps oneDNN and ATen at that instruction set.
ISA_CAPS = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}


def add_isa_arg(ap) -> None:
    """Add ``--isa`` to an argparse parser."""
    ap.add_argument("--isa", choices=sorted(ISA_CAPS), default=None,
                    help="cap the instruction set the networks use (see bench/_machine.py)")


def apply_isa(isa: str | None) -> None:
    """With ``isa``: restart this process with the caps set (the libraries read them when
    they load), unless they are set already."""
    if isa and any(os.environ.get(k) != v for k, v in ISA_CAPS[isa].items()):
        os.environ.update(ISA_CAPS[isa])
        os.execv(sys.executable, [sys.executable, *sys.argv])


def cpu_line() -> str:
    """The CPU's model name and the vector instructions that set INT8 and bfloat16 speed
    (from ``/proc/cpuinfo``), with any cap from ``--isa``."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and ":" in line:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    have = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile") if f in flags]
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return (f"CPU: {name}, {os.cpu_count()} logical cores; {' '.join(have) or 'no AVX2'}"
            + (f"; capped at {cap} (--isa)" if cap else ""))
