"""Time-limited training (``--time-limit``): posekit, not Ultralytics' epoch re-plan, decides
when mosaic augmentation is switched off, so a slow first epoch (start-up on a GPU) no longer
switches it off from epoch 2 for the whole run."""

from __future__ import annotations

import math

import pytest

from posekit.train.keypoints import _close_mosaic_now


def _simulate(limit_s: float, first_s: float, epoch_s: float, close_epochs: int):
    """Epochs of a time-limited run (first epoch ``first_s``, then ``epoch_s`` seconds each):
    the 1-based epoch before which posekit closes the mosaic, the one before which
    Ultralytics' rule (``epoch >= ceil(time / mean epoch time) - close_mosaic``) would, and the
    epochs that fit."""
    done: list[float] = []
    ours = theirs = None
    while sum(done) < limit_s:
        epoch = len(done)                                   # 0-based, about to start
        if ours is None and _close_mosaic_now(limit_s - sum(done), done, close_epochs):
            ours = epoch + 1
        if theirs is None and done:
            planned = math.ceil(limit_s / (sum(done) / len(done)))
            if epoch >= planned - close_epochs:
                theirs = epoch + 1
        done.append(first_s if not done else epoch_s)
    return ours, theirs, len(done)


def test_slow_first_epoch_closes_the_mosaic_for_the_last_epochs_only():
    # a GPU run's shape: the first epoch 13x a later one (start-up), 90 s limit, 10 epochs
    ours, theirs, n = _simulate(90.0, 22.0, 1.7, 10)
    assert theirs == 2                         # Ultralytics' own rule: off from epoch 2
    assert n > 30
    assert n - 11 <= ours <= n - 8             # posekit: the last ~10 epochs
    for first in (1.7, 5.0, 40.0):
        ours, _, n = _simulate(90.0, first, 1.7, 10)
        assert n - 11 <= ours <= n - 8


def test_slow_uniform_epochs_close_before_the_last_that_fits():
    # a CPU run's shape: 50 s epochs in 120 s: 3 epochs, the mosaic off for the last one
    ours, _, n = _simulate(120.0, 50.0, 50.0, 10)
    assert n == 3 and ours == 3


@pytest.mark.parametrize("seconds,close", [([], 10), ([20.0], 10), ([20.0, 2.0, 2.0], 0)])
def test_no_close_without_two_epochs_or_with_close_epochs_zero(seconds, close):
    assert not _close_mosaic_now(0.0, seconds, close)


def test_median_of_recent_epochs_ignores_one_outlier():
    # epochs of 2 s with one 30 s hiccup: 20 s left are 10 epochs of 2 s, not 1 of 30 s
    assert _close_mosaic_now(20.0, [25.0, 2.0, 30.0, 2.0], 10)
    assert not _close_mosaic_now(21.0, [25.0, 2.0, 30.0, 2.0], 10)


def test_ultralytics_has_what_posekit_calls_to_close_the_mosaic():
    pytest.importorskip("ultralytics")
    from ultralytics.data.build import InfiniteDataLoader
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.engine.trainer import BaseTrainer

    assert callable(getattr(BaseTrainer, "_close_dataloader_mosaic", None))
    assert callable(getattr(InfiniteDataLoader, "reset", None))
    assert callable(getattr(YOLODataset, "close_mosaic", None))
