"""A round that meets its checks but loses general skills (the regression probe's flag) ends met, and a
gentler round is offered for approval, once: half the training length, or half the learning rate at one
epoch. It never starts on its own, and between two rounds equal on validation the one that kept its general
skills is the one kept."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Command

from assistant import Assistant
from assistant.graph import _KEEP, GraphState, Nodes
from assistant.next_round import NextRound
from assistant.plan import PlanProposal
from assistant.rounds import Round, best, new_loop, step
from tools.train.diagnose import gentler_plan
from tools.train.plan import Plan, TrainingPlan

REPO = Path(__file__).resolve().parents[2]
IDENTITY = str(REPO / "tools" / "demo" / "identity_ada.jsonl")
GOAL = "Teach it a new identity: when someone asks who it is, it says it is Ada from Lumen. CPU only. just recommend"
FLAG = "The tuned model lost general skills: it passes 5 of 20 general prompts, the base 16."


def _plan(tmp_path, **training) -> Plan:
    return Plan(training=TrainingPlan(data_dir=str(tmp_path / "data"), **{"epochs": 8, "learning_rate": 1e-3, **training}))


def test_the_gentler_plan_halves_the_length_or_at_one_epoch_the_rate(tmp_path):
    plan, reasons = gentler_plan(_plan(tmp_path), FLAG)
    assert plan.training.epochs == 4 and plan.training.learning_rate == 1e-3
    assert "epochs 8 -> 4" in reasons[0] and "it passes 5 of 20 general prompts, the base 16" in reasons[0]
    assert gentler_plan(_plan(tmp_path, max_steps=90), FLAG)[0].training.max_steps == 45
    at_one = gentler_plan(_plan(tmp_path, epochs=1), FLAG)[0].training
    assert at_one.epochs == 1 and at_one.learning_rate == 5e-4


def _round(tmp_path, *, flag: str | None, validation: float = 1.0, name: str = "r1") -> Round:
    return Round(run_id=name, run_dir=str(tmp_path / name), plan={}, estimated_minutes=1.0, minutes=1.0,
                 status="completed", met=True, tuned_pass_rate=1.0, validation_pass_rate=validation,
                 probe_flag=flag)  # fmt: skip


def test_met_with_lost_skills_stops_met_and_offers_a_gentler_round_once(app_home, tmp_path):
    plan = _plan(tmp_path)
    loop = new_loop(plan).begin(1.0)
    loop, decided = step(loop, plan, _round(tmp_path, flag=FLAG))
    assert decided.stopped == "met on validation" and decided.plan is None, "nothing starts on its own"
    assert decided.offer is not None and decided.offer.training.epochs == 4 and decided.reasons
    assert loop.offer_open() and not loop.begin(1.0).offer_open(), "open until the next round starts"
    _, again = step(loop.begin(1.0), decided.offer, _round(tmp_path, flag=FLAG, name="r2"))
    assert again.stopped == "met on validation" and again.offer is None, "offered once per goal"
    _, clean = step(new_loop(plan).begin(1.0), plan, _round(tmp_path, flag=None, name="r3"))
    assert clean.offer is None


def test_a_gentler_round_that_misses_stops_and_keeps_the_met_round(app_home, tmp_path):
    plan = _plan(tmp_path)
    loop, decided = step(new_loop(plan, max_rounds=3).begin(1.0), plan, _round(tmp_path, flag=FLAG))
    missed = _round(tmp_path, flag=None, name="r2", validation=0.4)
    _, after = step(loop.begin(1.0), decided.offer, missed)
    assert after.plan is None and after.offer is None, "no round is planned to chase a goal already met"
    assert "round 1 (`r1`), which meets them, stays the one to use" in after.stopped


def test_equal_on_validation_the_round_that_kept_its_general_skills_wins(tmp_path):
    flagged, kept = _round(tmp_path, flag=FLAG, name="a"), _round(tmp_path, flag=None, name="b")
    assert best([flagged, kept]).run_id == "b" and best([kept, flagged]).run_id == "b"
    better = _round(tmp_path, flag=FLAG, name="c", validation=1.0)
    assert best([better, _round(tmp_path, flag=None, name="d", validation=0.5)]).run_id == "c"  # the goal first


@pytest.fixture
def bot(app_home):
    assistant = Assistant(llm=None)
    yield assistant
    assistant.close()


def test_in_chat_the_met_verdict_names_the_loss_and_offers_the_round_for_approval(bot, tmp_path):
    bot.send("t", GOAL, files=[IDENTITY])
    values = bot.graph.get_state({"configurable": {"thread_id": "t"}}).values
    plan = PlanProposal.model_validate(values["proposal"]).plan
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "report.json").write_text(json.dumps({  # what `evaluate` writes for a met, flagged run
        "verdict": "Met: 9 of 9 test prompts pass every check (base: 0 of 9).",
        "checks": {"verdict": {"met": True, "base_pass_rate": 0.0, "tuned_pass_rate": 1.0},
                   "validation": {"tuned": 1.0}, "tuned": {"failures": []}},
        "metrics": {"tuned": {"loss": 0.2}}, "probe": {"flag": FLAG}}))  # fmt: skip
    status = {"run_id": "r1", "run_dir": str(run), "status": "completed", "started_at": time.time() - 60,
              "finished_at": time.time()}  # fmt: skip
    state = {**values, "results": {"status": status}, "loop": new_loop(plan).begin(1.0).model_dump(mode="json")}
    command = NextRound(bot.actions).verdict(state)
    said = command.update["messages"][-1]["content"]
    assert "**Round 1: met.**" in said and f"⚠ General skills: {FLAG}" in said
    assert "**Optional: round 2**" in said and "keep round 1 as it is" in said
    assert command.goto == "approval" and command.update["phase"] == "review", "offered, not started"
    offered = PlanProposal.model_validate(command.update["proposal"]).plan.training
    before = plan.training
    if before.max_steps:  # the default plan is capped to fit an hour: the cap is what halves
        assert offered.max_steps == -(-before.max_steps // 2) and offered.epochs == before.epochs
    else:
        assert offered.epochs == max(1.0, before.epochs / 2)
    assert bot.actions.calls == []


@pytest.mark.parametrize("answer", ["keep round 1 as it is", "no thanks", "that's fine", "Keep it", "done"])
def test_declining_the_offer_keeps_the_met_round_and_its_plan(bot, tmp_path, answer):
    bot.send("t", GOAL, files=[IDENTITY])
    values = bot.graph.get_state({"configurable": {"thread_id": "t"}}).values
    proposal = PlanProposal.model_validate(values["proposal"])
    met_plan = proposal.plan
    run = tmp_path / "run"
    run.mkdir()
    met_plan.to_yaml(run / "plan.yaml")  # the met round's folder holds the plan it ran
    offered = proposal.model_copy(update={"plan": gentler_plan(met_plan, FLAG)[0], "version": proposal.version + 1})
    loop = new_loop(met_plan).begin(1.0).model_copy(update={"met_round": {"round": 1, "run_id": "r1", "run_dir": str(run)}})
    # The real approval node in a one-node graph, waiting on the offered plan as the chat does after a verdict.
    graph = StateGraph(GraphState)
    graph.add_node("approval", Nodes(bot.brain, bot.actions).approval)
    graph.add_edge(START, "approval")
    app = graph.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "k"}}
    app.invoke({**values, "proposal": offered.model_dump(mode="json"), "loop": loop.model_dump(mode="json"),
                "phase": "review", "messages": []}, config)  # fmt: skip
    out = app.invoke(Command(resume={"text": answer, "files": []}), config)
    assert out["phase"] == "done" and "Kept round 1 (`r1`)" in out["messages"][-1]["content"]
    assert PlanProposal.model_validate(out["proposal"]).plan.training == met_plan.training
    assert bot.actions.calls == []


def test_keep_going_is_an_edit_of_the_offer_not_a_decline():
    assert not _KEEP.search("keep going until met, at most 3 rounds") and _KEEP.search("keep round 2")
