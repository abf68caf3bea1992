"""Batch workers share the machine: OpenVINO must not pin their threads to the same core."""

import subprocess
import sys

import pytest

pytest.importorskip("openvino")

PROBE = """
import sys
from posekit.batch.worker import limit_threads
if sys.argv[1] == "worker":
    limit_threads(1)
from posekit.models import load_model
m = load_model("blazepose", runtime="openvino", num_threads=1)
req, _ = m._lmk._compiled(1)
print(req.get_compiled_model().get_property("ENABLE_CPU_PINNING"))
"""


@pytest.mark.parametrize("role, pinned", [("worker", "False"), ("single", "True")])
def test_openvino_pins_threads_only_outside_batch_workers(role, pinned):
    # OpenVINO counts cores from the first in every process: pinned, two workers share core 0
    # (bench/bench_batch.py --control shows what two processes give)
    out = subprocess.run([sys.executable, "-c", PROBE, role], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == pinned
