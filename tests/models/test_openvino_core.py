"""OpenVINO Cores: one per process, so that Ctrl-C after models come and go stops cleanly."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

# Two models compiled on two Cores and closed in creation order, then a SIGINT handled by a
# Python handler. With a Core per model, the first Core's destruction freed the alternate
# signal stack the second had installed, the second's put the freed one back, and the signal
# crashed the process (exit status -11).
SCRIPT = textwrap.dedent("""
    import faulthandler, gc, os, signal
    faulthandler.enable()          # its own alternate stack, as pytest's plugin has
    import numpy as np
    from posekit.models.blazepose import BlazePose
    a = BlazePose(mode="image")
    a(np.zeros((256, 256, 3), np.uint8))
    b = BlazePose(mode="image")
    b(np.zeros((256, 256, 3), np.uint8))
    a.close(); del a; gc.collect()
    b.close(); del b; gc.collect()
    caught = []
    signal.signal(signal.SIGINT, lambda *_: caught.append(1))
    os.kill(os.getpid(), signal.SIGINT)
    print("caught", len(caught))
""")


def test_ctrl_c_after_models_are_closed_is_handled_not_a_crash():
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.strip().splitlines()[-1] == "caught 1"


def test_models_share_one_core_per_cache_folder(tmp_path, monkeypatch):
    from posekit.models.assets import openvino_core

    first = openvino_core()
    assert openvino_core() is first
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    other = openvino_core()
    assert other is not first and openvino_core() is other
