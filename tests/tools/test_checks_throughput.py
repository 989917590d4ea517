"""Measured throughput: seconds per trained token from a run's own metrics, cached per model/technique,
and the estimate for this machine scales it (startup + tokens x s/token + eval passes)."""

from __future__ import annotations

import json
import os
import time

import pytest

from tools.train import throughput
from tools.train.estimate import estimate
from tools.train.plan import TrainingPlan


def _run(tmp_path, sec_per_token=0.01, tokens_per_step=200, steps=6, startup=20.0):
    run = tmp_path / "run"
    run.mkdir()
    created = time.time() - 1000
    rows = [{"step": i, "loss": 2.0, "num_tokens": i * tokens_per_step, "elapsed": i * tokens_per_step * sec_per_token}
            for i in range(1, steps + 1)]  # fmt: skip
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "run.json").write_text(json.dumps({"created_at": created}))
    end = created + startup + rows[-1]["elapsed"]
    for name in ("metrics.jsonl", "run.json"):
        os.utime(run / name, (end, end))
    return run


def test_measure_reads_seconds_per_token_and_startup(tmp_path):
    found = throughput.measure(_run(tmp_path))
    assert found["sec_per_token"] == pytest.approx(0.01)
    assert found["startup_s"] == pytest.approx(20.0, abs=0.5)


def test_estimate_uses_the_measurement_for_this_machine_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    report = {"dataset_type": "conversational", "train_rows": 80, "validation_rows": 0, "usable_rows": 80,
              "tokens": {"max": 60, "total": 4000, "p50": 50}}  # fmt: skip
    (data / "report.json").write_text(json.dumps(report))
    plan = TrainingPlan(data_dir=str(data), batch_size=4, epochs=2, eval_split="none")
    throughput.record(plan, _run(tmp_path))
    est = estimate(plan)
    tokens = est.tokens  # 40 steps x 4 rows x 50 tokens
    assert tokens == 8000
    assert est.duration_s == pytest.approx(20.0 + 0.01 * tokens, abs=1.0)
    assert any("measured" in n for n in est.notes)
    other = estimate(plan, "1x RTX 4090 24 GB")
    assert not any("measured" in n for n in other.notes)
