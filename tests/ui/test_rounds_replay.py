"""The UI's side of the goal loop, through its callbacks (no browser): the rounds of one goal side by side
in the Runs tab, and the Compare tab's replay of a run's locked test prompts through both models."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from assistant.rounds import Loop, Round, record
from tools.data import DataSpec, prepare_data
from tools.evaluate.checks import Contains, SuccessCriteria
from tools.train.plan import EvalSettings, Plan, TrainingPlan
from tools.train.run_dir import RunDir
from tools.train.runs import upsert
from ui import sessions
from ui.callbacks import Callbacks
from ui.services import AppConfig, Services

REPO = Path(__file__).resolve().parents[2]
IDENTITY = REPO / "tools" / "demo" / "identity_ada.jsonl"
CHECKS = SuccessCriteria(checks=[Contains(phrases=["Ada", "Lumen"])], target=0.8)


def _run(home: Path, run_id: str, training: dict, data_dir: str, base: str = "tiny") -> Plan:
    """A finished run as the job leaves it: a folder with its plan.yaml, and its row in the store."""
    run_dir = home / "runs" / run_id
    plan = Plan(training=TrainingPlan(base_model=base, data_dir=data_dir, output_dir=str(run_dir), **training),
                checks=CHECKS, eval_settings=EvalSettings(max_examples=4, max_new_tokens=6, probe=False))  # fmt: skip
    RunDir(run_dir).write_plan(plan)
    RunDir(run_dir).update_info(status="completed")
    upsert(run_id, run_dir=str(run_dir), status="completed", base_model=base, objective="sft", method="lora")
    return plan


def test_the_runs_tab_shows_a_goals_rounds_side_by_side(app_home):
    loop = Loop(loop_id="goal1", started=time.time(), max_rounds=3)
    shown = []
    for number, (run_id, lr, steps, tuned, diagnosis) in enumerate(
            [("r1", 2e-4, 33, 0.0, "too few updates (33 optimizer updates)"), ("r2", 1e-3, 126, 1.0, "")], start=1):
        plan = _run(app_home, run_id, {"learning_rate": lr, "max_steps": steps, "lora_r": 16}, "data")
        outcome = Round(run_id=run_id, run_dir=str(app_home / "runs" / run_id), parent_run_id="r1" if number == 2 else None,
                        plan=plan.model_dump(mode="json"), estimated_minutes=2.0 * number, minutes=1.5 * number,
                        status="completed", base_pass_rate=0.0, tuned_pass_rate=tuned, validation_pass_rate=tuned,
                        met=tuned >= 0.8, diagnosis=diagnosis)  # fmt: skip
        record(loop.loop_id, number, outcome)  # what the round step records after each run
        shown.append(outcome)
    rows, note = Callbacks(Services()).rounds("r2")
    assert note == ""
    assert [r[:2] for r in rows] == [[1, "r1"], [2, "r2"]]
    first, second = rows
    assert "lr 0.0002" in first[2] and "33 steps" in first[2] and "r 16" in first[2] and "126 steps" in second[2]
    assert first[3:5] == ["2.0", "1.5"] and second[3:5] == ["4.0", "3.0"], "minutes estimated vs measured"
    assert (first[5], first[6], first[8]) == ("0%", "0%", "no") and (second[6], second[8]) == ("100%", "yes")
    assert "too few updates" in first[9]
    _run(app_home, "r3", {"max_steps": 5}, "data")  # a run never judged against checks
    rows, note = Callbacks(Services()).rounds("r3")
    assert rows == [] and "no rounds" in note
    rows, note = Callbacks(Services()).rounds("elsewhere")
    assert rows == [] and "no run 'elsewhere'" in note, "an unknown (or another user's) run shows nothing"


def test_replay_fills_the_prompt_list_from_the_locked_test_split_and_runs_both_sides(app_home, served_models):
    model, adapter = served_models
    data_dir = app_home / "datasets" / "identity"
    report = prepare_data(IDENTITY, data_dir, DataSpec(model=str(model), max_length=128))
    assert report.test_rows >= 3
    _run(app_home, "r1", {"max_steps": 2}, str(data_dir), base=str(model))
    shutil.copytree(adapter, app_home / "runs" / "r1" / "adapter")
    cb = Callbacks(Services(AppConfig(backend="transformers")))
    try:
        steps = list(cb.replay("r1"))
    finally:
        cb.s.close()
    prompts, _, notice = steps[0]
    tests = [line for line in (data_dir / "test.jsonl").read_text().splitlines() if line.strip()]
    assert len(prompts.splitlines()) == len(tests) and "Loading" in notice, "the list is the test split, first"
    _, rows, summary = steps[-1]
    assert len(rows) == len(tests) and all(r[2] is not None and r[3] is not None for r in rows)
    assert {r[4] for r in rows} <= {"✅", "❌", "–"} and f"Replayed {len(tests)} test prompts" in summary

    (data_dir / "test.jsonl").write_text("{}\n")  # an edited test split is refused, as the verdict refuses it
    *_, (_, _, message) = list(Callbacks(Services()).replay("r1"))
    assert "changed since it was prepared" in message


def test_a_verdict_note_reaches_the_chat_and_refreshes_the_plan_card(app_home):
    """The job's verdict comes back on the Train tab's timer: the note joins the chat, and the next round's
    card (waiting for approval) replaces the old one with the approve button on."""
    services = Services(AppConfig(llm="rules"))
    cb = Callbacks(services)
    session = sessions.issue()
    thread = sessions.thread_of(session)
    try:
        services.assistant.send(thread, "A support bot for my e-bike shop from these chats, CPU only. just recommend",
                                files=[str(REPO / "tools" / "demo" / "larkspur_support.jsonl")])  # fmt: skip
        quiet = cb.monitor(None, None, session, [])
        assert all(isinstance(v, dict) and v.get("__type__") == "update" and len(v) == 1 for v in quiet[4:])
        services._notes[thread] = ["**Round 1: not met.** Pass rate on the locked test prompts: base 0% → tuned 0%."]
        progress, _, _, _, chat, card, approve, reject, edit, run_id = cb.monitor(None, None, session, [])
        assert chat[-1]["content"].startswith("**Round 1: not met.**")
        assert "Plan v1" in card and "Waiting for your approval" in card and "Success checks" in card
        assert approve["interactive"] is True and edit["interactive"] is True
    finally:
        services.close()
