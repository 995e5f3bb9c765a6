"""The projector process's tuning (garbage collection and freed memory)."""

from __future__ import annotations

import gc

from aegis_stream.worker.tuning import GC_GEN0_THRESHOLD, tune_for_batches


def test_tuning_for_batches_collects_young_garbage_less_often_and_leaves_start_up_objects_out() -> None:
    before = gc.get_threshold()
    try:
        tune_for_batches()
        assert gc.get_threshold() == (max(before[0], GC_GEN0_THRESHOLD), before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
