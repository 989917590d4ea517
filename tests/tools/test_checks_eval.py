"""Evaluation with success checks: scored base vs tuned on the locked test split (plus the criteria's own
prompts), the verdict sentence replaces the generic one, the probe compares general skills, and a changed
test split is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tools.data.testsplit import TestSplitChanged, sha256
from tools.evaluate.checks import Contains, MaxLength, SuccessCriteria
from tools.evaluate.heldout import EvalConfig, evaluate
from tools.evaluate.probe import PASS_DROP, compare, load_probe
from tools.quickstart.demo import demo_dataset_path
from tools.train.plan import Plan, TrainingPlan


@pytest.fixture
def run_dir(served_models, tmp_path) -> Path:
    model, adapter = served_models
    data = tmp_path / "data"
    data.mkdir()
    rows = demo_dataset_path().read_text().splitlines()
    (data / "validation.jsonl").write_text("\n".join(rows[:2]) + "\n")
    (data / "test.jsonl").write_text("\n".join(rows[2:4]) + "\n")
    (data / "report.json").write_text(json.dumps({"dataset_type": "conversational", "test_sha256": sha256(data / "test.jsonl")}))
    run = tmp_path / "run"
    shutil.copytree(adapter, run / "adapter")
    criteria = SuccessCriteria(checks=[Contains(phrases=["Larkspur"]), MaxLength(limit=400)], prompts=["Who are you?"])
    training = TrainingPlan(base_model=str(model), data_dir=str(data), method="lora", objective="sft")
    Plan(training=training, checks=criteria).to_yaml(run / "plan.yaml")
    return run


def test_evaluate_scores_the_checks_on_the_locked_test_split(run_dir):
    report = evaluate(run_dir, EvalConfig(max_examples=2, max_new_tokens=6))
    checked = report["checks"]
    assert checked["split"].endswith("test.jsonl")
    assert checked["tuned"]["tested"] == 3  # two test rows and the criteria's own prompt
    sentence = checked["verdict"]["sentence"]
    assert sentence.startswith(("Met: ", "Not met: ")) and "test prompts pass every check" in sentence
    assert report["verdict"] == sentence
    rows = [json.loads(r)["messages"] for r in Path(checked["split"]).read_text().splitlines()]
    test_prompts = {[m for m in msgs if m["role"] == "user"][-1]["content"] for msgs in rows}
    assert test_prompts <= {a["prompt"] for a in checked["answers"]}
    md = (run_dir / "eval" / "report.md").read_text()
    assert "## Success checks" in md and "## General-ability probe" in md
    probe = report["probe"]
    assert probe["prompts"] == len(load_probe().prompts) and probe["base_perplexity"] > 1


def test_evaluate_refuses_a_changed_test_split(run_dir):
    data = Path(Plan.from_yaml(run_dir / "plan.yaml").training.data_dir)
    with (data / "test.jsonl").open("a") as fh:
        fh.write('{"messages": [{"role": "user", "content": "easy"}, {"role": "assistant", "content": "Larkspur"}]}\n')
    with pytest.raises(TestSplitChanged, match="changed since it was prepared"):
        evaluate(run_dir, EvalConfig(max_examples=2, max_new_tokens=4, probe=False))


def test_probe_flags_a_drop_beyond_the_tolerance():
    probe = load_probe()
    assert len(probe.prompts) >= 20
    right = ["4", "7", "30", "the sea waves", "autumn leaves", "merci", "hola", "very big", "plants use light",
             "red", "apple", "Paris", "Tokyo", "7", "blue", "cold", "cat", "sleep", "because", "yes"]  # fmt: skip
    assert compare(probe, right, right, 10.0, 11.0)["flag"] is None
    worse = ["I am Ada from Lumen."] * len(right)
    flagged = compare(probe, right, worse, 10.0, 30.0)
    assert flagged["tuned_passed"] < len(right) * (1 - PASS_DROP)
    assert "lost general skills" in flagged["flag"] and "perplexity on general text rose 200%" in flagged["flag"]
