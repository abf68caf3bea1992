"""One batch task without Ray: the pipeline on real clips, the table part, the model cache."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from posekit.batch.table import TABLE_DIR, jsonl_to_table, read_table
from posekit.batch.worker import ModelCache, batch_config, process_source
from posekit.errors import ConfigError
from tests.conftest import data_path

pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """Two real sources (a video, an image folder) and a corrupt file, one shared cache."""
    out = tmp_path_factory.mktemp("batch")
    video = data_path("Human-Activity-Recognition/wave.mp4")
    folder = data_path("mmpose/tests/data/posetrack18/videos/000001_mpiinew_test")
    bad = out / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 100)
    cfg = replace(batch_config(), max_frames=12).to_dict()
    cache = ModelCache(threads=1)
    reports: list[tuple[int, int | None]] = []
    res = {name: process_source(str(src), out / name, cfg, cache=cache,
                                on_progress=lambda n, e: reports.append((n, e)))
           for name, src in (("wave", video), ("seq", folder), ("broken", bad))}
    cache.close()
    return out, res, cache, reports


def _jsonl_persons(path) -> tuple[int, list]:
    n, first = 0, None
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["type"] == "frame":
            n += len(rec["persons"])
            if first is None and rec["persons"]:
                first = (rec["frame"], rec["persons"][0])
    return n, first


def test_outputs_and_failure(done):
    out, res, cache, reports = done
    assert res["wave"]["error"] is None and res["wave"]["frames"] == 12
    assert res["seq"]["error"] is None and res["seq"]["frames"] == 5  # all 5 images
    assert "broken.mp4" in res["broken"]["error"]
    assert not (out / TABLE_DIR / "broken.parquet").exists()
    assert reports[-1][0] == 5 and (12, 12) in reports  # frames done, frames expected
    # models load once per worker: one per mode (video, image folder), not once per source
    assert cache.loads == 2


def test_part_matches_jsonl(done):
    out, res, _, _ = done
    for name in ("wave", "seq"):
        n, (frame, person) = _jsonl_persons(out / name / "poses.jsonl")
        t = jsonl_to_table(out / name / "poses.jsonl", name)
        assert n == t.num_rows == res[name]["persons"] > 0
        row = t.filter(t["frame"].to_numpy() == frame).slice(0, 1).to_pylist()[0]
        assert row["source"] == name
        x, y, s = person["keypoints"][0]
        assert math.isclose(row["nose_x"], x, abs_tol=0.01)          # px (JSONL: 2 decimals)
        assert math.isclose(row["nose_y"], y, abs_tol=0.01)
        assert math.isclose(row["nose_score"], s, abs_tol=1e-4)
        assert math.isclose(row["nose_world_z"], person["world"][0][2], abs_tol=1e-4)  # m
        assert [row[f"box_{c}"] for c in ("x1", "y1", "x2", "y2")] == pytest.approx(
            person["box"], abs=0.01)
        meta = json.loads(t.schema.metadata[b"posekit"])
        assert meta["skeleton"] == "blazepose33" and len(meta["keypoints"]) == 33


def test_table_reads_in_pandas_polars_duckdb(done):
    out, res, _, _ = done
    total = res["wave"]["persons"] + res["seq"]["persons"]
    t = read_table(out)
    assert t.num_rows == total
    assert set(t["source"].to_pylist()) == {"wave", "seq"}
    tids = t.filter(t["source"].to_numpy(zero_copy_only=False) == "wave")["track_id"]
    assert tids.null_count == 0  # tracked video
    pd = pytest.importorskip("pandas")
    df = pd.read_parquet(out / TABLE_DIR)
    assert len(df) == total and df["left_knee_y"].dtype == np.float32
    pl = pytest.importorskip("polars")
    assert pl.read_parquet(str(out / TABLE_DIR / "*.parquet")).height == total
    duckdb = pytest.importorskip("duckdb")
    n, src_count = duckdb.sql(
        f"SELECT count(*), count(DISTINCT source) FROM "
        f"read_parquet('{out / TABLE_DIR}/*.parquet')").fetchall()[0]
    assert (n, src_count) == (total, 2)


def test_batch_config_refuses_absolute_outputs(tmp_path):
    from posekit.config import OutputConfig, PipelineConfig

    with pytest.raises(ConfigError, match="relative to the source's folder"):
        batch_config(PipelineConfig(outputs=OutputConfig(json=tmp_path / "p.jsonl")))


def test_model_cache_gives_one_thread_where_the_backend_takes_it():
    cache = ModelCache(threads=1)
    try:
        blaze = cache.factory("blazepose", mode="image")
        assert blaze.config.num_threads == 1
        assert cache.factory("blazepose", mode="image").config is blaze.config  # kept
        mp = cache.factory("blazepose-mediapipe", mode="image")  # takes no num_threads
        assert mp.skeleton.name == "blazepose33" and cache.loads == 2
    finally:
        cache.close()
