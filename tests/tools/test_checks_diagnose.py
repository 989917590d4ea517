"""Diagnosis from curves and data, and the next round's plan with reasons."""

from __future__ import annotations

import json

import pytest

from tools.train.diagnose import diagnose, inconsistent_prompts, next_plan
from tools.train.plan import Plan, TrainingPlan


def _rows(losses, evals=None):
    rows = [{"step": i + 1, "loss": v} for i, v in enumerate(losses)]
    for step, v in (evals or {}).items():
        rows.append({"step": step, "eval_loss": v})
    return rows


@pytest.fixture
def plan(tmp_path) -> Plan:
    return Plan(training=TrainingPlan(data_dir=str(tmp_path / "data"), epochs=3, learning_rate=2e-4, lora_r=8, lora_alpha=16))


def test_few_updates_and_flat_loss_raise_lr_and_epochs(plan):
    found = diagnose(_rows([2.0, 1.98, 1.97, 1.96] * 8), plan.training, train_rows=72)
    assert found.codes == ["too_few_updates", "lr_too_low"] and found.updates == 32
    new, reasons = next_plan(plan, found)
    assert new.training.learning_rate == pytest.approx(6e-4) and new.training.epochs == 11.3  # 3 x 120/32
    assert any("barely moved" in r for r in reasons) and any("updates were too few" in r for r in reasons)
    capped = Plan(training=TrainingPlan(**{**plan.training.model_dump(), "max_steps": 2}))
    assert next_plan(capped, diagnose(_rows([2.0, 1.99]), capped.training, 72))[0].training.max_steps == 8


def test_diverging_loss_lowers_the_rate(plan):
    found = diagnose(_rows([2.0 - i * 0.01 for i in range(100)] + [float("nan")]), plan.training, 500)
    assert "lr_too_high" in found.codes
    new, _ = next_plan(plan, found)
    assert new.training.learning_rate == 6.7e-5 and new.training.epochs == 3  # rates shown to two digits


def test_overfitting_halves_epochs(plan):
    losses = [2.0 * 0.98**i for i in range(150)]
    found = diagnose(_rows(losses, {50: 1.5, 100: 1.4, 150: 1.8}), plan.training, 500)
    assert "overfitting" in found.codes
    assert next_plan(plan, found)[0].training.epochs == 1.5


def test_still_improving_and_budget_cap(plan):
    losses = [2.0 - 0.01 * i for i in range(150)]
    found = diagnose(_rows(losses), plan.training, 500)
    assert found.codes == ["still_improving"]
    new, reasons = next_plan(plan, found, minutes_left=10, minutes_per_update=0.02)  # 300 updates = 6 min: fits
    assert new.training.epochs == 6
    tight, reasons = next_plan(plan, found, minutes_left=4, minutes_per_update=0.02)  # 200 updates affordable
    assert tight.training.epochs == 4 and any("Capped" in r for r in reasons)
    spent, reasons = next_plan(plan, found, minutes_left=-1, minutes_per_update=0.02)  # over budget: not shrunk
    assert spent.training.epochs == 6 and not any("Capped" in r for r in reasons)
    assert any("minutes are spent" in r and "about 6 min" in r for r in reasons), reasons


def test_inconsistent_and_small_data_are_named(plan, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"prompt": "Who are you?", "completion": "Ada"}, {"prompt": "who are you? ", "completion": "Bob"},
            {"prompt": "Hi", "completion": "Hello"}]  # fmt: skip
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert inconsistent_prompts(data / "train.jsonl") == 1
    found = diagnose(_rows([2.0, 1.0, 0.5, 0.4] * 40), plan.training, 3, data)
    assert {"data_too_small", "inconsistent_data"} <= set(found.codes)
    assert any("conflicting answers" in r for r in next_plan(plan, found)[1])
