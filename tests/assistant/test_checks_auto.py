"""The goal loop, end to end on the tiny model: the plan carries the checks, nothing runs without --yes,
and with approval each round is a run linked to its parent, evaluated on the locked test split."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from assistant.auto import draft, rounds_of, run_rounds
from tools.evaluate.heldout import EvalConfig
from tools.train.plan import Plan, TrainingPlan

REPO = Path(__file__).resolve().parents[2]
IDENTITY = REPO / "tools" / "demo" / "identity_ada.jsonl"
GOAL = "Teach it a new identity: when someone asks who it is, it says it is Ada from Lumen"


def test_without_yes_the_cli_prints_the_plan_with_its_checks_and_trains_nothing(tmp_path, tiny_model_dir):
    out = tmp_path / "auto"
    proc = subprocess.run([sys.executable, "-m", "ui.cli", "auto", "--goal", GOAL, "--data", str(IDENTITY),
                           "--model", str(tiny_model_dir), "--output", str(out), "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "answer mentions 'Ada' and 'Lumen'" in proc.stdout and "Nothing was run" in proc.stdout
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["met"] is False and last["rounds"] == [] and last["checks"][0]["phrases"] == ["Ada", "Lumen"]
    plan = Plan.from_yaml(out / "plan.yaml")
    assert plan.checks.checks[0].kind == "contains" and plan.data.test_fraction > 0
    assert not (out / "rounds").exists()
    report = json.loads((out / "data" / "report.json").read_text())
    assert report["test_rows"] >= 3 and report["test_sha256"]


def test_an_output_folder_holding_something_else_is_a_plain_error_not_a_traceback(tmp_path, tiny_model_dir):
    out = tmp_path / "auto"
    (out / "rounds" / "round-1").mkdir(parents=True)
    (out / "rounds" / "round-1" / "notes.txt").write_text("someone's file")
    proc = subprocess.run([sys.executable, "-m", "ui.cli", "auto", "--goal", GOAL, "--data", str(IDENTITY),
                           "--model", str(tiny_model_dir), "--output", str(out), "--yes", "--no-probe"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "round-1 exists and is not empty; choose a new output folder" in proc.stderr
    assert (out / "rounds" / "round-1" / "notes.txt").read_text() == "someone's file"


def test_rounds_link_parents_and_report_on_test(tmp_path, tiny_model_dir):
    drafted = draft(GOAL, IDENTITY, output=tmp_path / "auto", model=str(tiny_model_dir), probe=False)
    quick = TrainingPlan(**{**drafted.plan.training.model_dump(), "max_steps": 2})
    drafted = drafted.model_copy(update={"plan": drafted.plan.model_copy(update={"training": quick})})
    result = run_rounds(drafted, budget_min=60, max_rounds=2,
                        eval_config=EvalConfig(max_examples=3, max_new_tokens=4, probe=False))  # fmt: skip
    assert [r.status for r in result.rounds] == ["completed", "completed"]
    first, second = result.rounds
    assert second.parent_run_id == first.run_id and first.diagnosis and first.next_reasons
    assert not result.met and result.best_run_dir in (first.run_dir, second.run_dir)
    line = result.as_json()
    assert set(line) >= {"met", "checks", "best_run_dir", "rounds"}
    assert set(line["rounds"][0]) >= {"run_dir", "plan", "estimated_minutes", "minutes", "base", "tuned", "met", "diagnosis"}
    json.dumps(line)
    assert [r["round"] for r in rounds_of(second.run_id)] == [1, 2]
    report = json.loads((Path(first.run_dir) / "eval" / "report.json").read_text())
    assert report["checks"]["split"].endswith("test.jsonl") and "validation" in report["checks"]
    assert Plan.from_yaml(Path(second.run_dir) / "plan.yaml").training.data_dir == drafted.plan.training.data_dir
