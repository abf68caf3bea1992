"""The cache's derived files stay within their budget (``posekit.models.assets.prune_cache``)."""

import os
import time

from posekit.models.assets import derived_bytes, openvino_core, prune_cache


def _file(path, size, age_s):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_prune_deletes_least_recently_used_until_within_budget(tmp_path):
    old_blob = _file(tmp_path / "openvino" / "1.blob", 4000, 5000)
    new_blob = _file(tmp_path / "openvino" / "2.blob", 4000, 1000)
    xml = _file(tmp_path / "openvino-ir" / "net-a.xml", 100, 4000)
    binf = _file(tmp_path / "openvino-ir" / "net-a.bin", 3900, 4000)
    export = tmp_path / "yolo-openvino" / "best-01_openvino_model"
    _file(export / "best.xml", 1000, 3000)
    _file(export / "best.bin", 3000, 3000)
    keep = _file(tmp_path / "bundle.task", 50_000, 9000)   # outside the pruned folders

    assert derived_bytes(tmp_path) == 16000          # the .task bundle is not counted
    freed = prune_cache(tmp_path, budget=8000, grace_s=60)
    # 16000 bytes in 4 entries: the two oldest (blob 1, the IR pair) go, 8000 are left
    assert freed == 8000
    assert not old_blob.exists() and not xml.exists() and not binf.exists()
    assert new_blob.exists() and (export / "best.bin").exists() and keep.exists()
    assert prune_cache(tmp_path, budget=8000, grace_s=60) == 0
    assert derived_bytes(tmp_path) == 8000


def test_prune_spares_entries_used_within_the_grace_period(tmp_path):
    a = _file(tmp_path / "openvino" / "a.blob", 5000, 30)
    b = _file(tmp_path / "openvino" / "b.blob", 5000, 10)
    assert prune_cache(tmp_path, budget=0, grace_s=60) == 0
    assert a.exists() and b.exists()
    assert prune_cache(tmp_path, budget=0, grace_s=20) == 5000
    assert not a.exists() and b.exists()


def test_a_folder_export_is_dated_by_its_newest_file(tmp_path):
    export = tmp_path / "yolo-openvino" / "m_openvino_model"
    _file(export / "m.xml", 10, 9000)
    _file(export / "m.bin", 10, 100)          # used recently
    blob = _file(tmp_path / "openvino" / "x.blob", 10, 5000)
    assert prune_cache(tmp_path, budget=20, grace_s=10) == 10
    assert export.is_dir() and not blob.exists()


def test_the_openvino_core_prunes_its_cache_when_created(tmp_path, monkeypatch):
    from posekit.models import assets

    stale = _file(tmp_path / "openvino" / "stale.blob", 10_000, 10 * 24 * 3600)
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(assets, "CACHE_BUDGET_BYTES", 1000)
    openvino_core()     # a new Core for this folder, kept for the process (see its docstring)
    assert not stale.exists()


def test_yolo_keypoint_branch_is_compiled_once_into_openvino_model_cache(tmp_path):
    """The branch's small networks are built node by node in each process; OpenVINO's model
    cache keys them on the serialized graph, so names drawn from the process's counters would
    add a compiled network to the cache on every start."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    from posekit.models.yolo import _KeypointHead

    rng = np.random.default_rng(0)
    c = 8
    layers = [tuple(rng.normal(size=s).astype(np.float32) for s in
                    [(51, c, 3, 3), (51,), (51, 51, 3, 3), (51,), (51, 51, 1, 1), (51,)])]
    core = ov.Core()
    core.set_property({"CACHE_DIR": str(tmp_path)})
    config = {"INFERENCE_NUM_THREADS": 1}
    _KeypointHead(None, layers, core, config)._net(0)
    ops.relu(ops.parameter([1], np.float32))     # moves the process's node counters on
    _KeypointHead(None, layers, core, config)._net(0)
    assert len(list(tmp_path.glob("*.blob"))) == 1
