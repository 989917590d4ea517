"""The goal loop in chat: the user's criterion becomes checks on the plan card (approved with it, editable
in words), each run ends with a verdict in chat, and a run that misses the goal gets a diagnosis and a
next round, proposed for approval or, when the user approved "keep going", started on its own."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.rounds import Loop, rounds_of
from tools import paths, store
from tools.monitor.export import export
from tools.train import jobs
from tools.train.plan import Plan
from tools.train.run_dir import RunDir

REPO = Path(__file__).resolve().parents[2]
IDENTITY = str(REPO / "tools" / "demo" / "identity_ada.jsonl")
SUPPORT = str(REPO / "tools" / "demo" / "larkspur_support.jsonl")
GOAL = "Teach it a new identity: when someone asks who it is, it says it is Ada from Lumen. CPU only. just recommend"
# A run the tiny model finishes in seconds, judged on a few short answers (the probe is for real models).
QUICK = "2 max steps, max length 128, evaluate on 4 examples with 8 new tokens, no probe"


@pytest.fixture
def bot(app_home):
    assistant = Assistant(llm=None)
    yield assistant
    assistant.close()


def test_the_users_criterion_becomes_checks_on_the_card_and_in_the_plan(bot):
    turn = bot.send("t", GOAL, files=[IDENTITY])
    assert turn.awaiting_approval and bot.actions.calls == []
    card = turn.plan_card_markdown
    assert "**Success checks**" in card and "answer mentions 'Ada' and 'Lumen'" in card
    assert "proposed from your data" not in card  # the user said how to judge it
    assert "propose the next round for your approval" in card  # what happens when it is not met
    checks = turn.plan["checks"]
    assert checks["checks"][0]["phrases"] == ["Ada", "Lumen"] and "Who are you?" in checks["prompts"]


def test_without_a_criterion_the_card_proposes_checks_from_the_data_and_says_so(bot):
    turn = bot.send("t", "A support bot for my e-bike shop from these chats, CPU only. just recommend", files=[SUPPORT])
    assert turn.awaiting_approval
    assert "proposed from your data" in turn.plan_card_markdown and "ROUGE-L" in turn.plan_card_markdown
    assert turn.plan["checks"]["proposed"] is True


def test_checks_are_edited_in_words_on_the_same_path_as_settings(bot):
    bot.send("t", GOAL, files=[IDENTITY])
    turn = bot.edit("t", "it must also mention Acme, and use rank 32")
    assert "check added: answer mentions 'Acme'" in turn.reply and "LoRA rank → 32" in turn.reply
    assert [c["phrases"] for c in turn.plan["checks"]["checks"]] == [["Ada", "Lumen"], ["Acme"]]
    turn = bot.edit("t", "drop the mention checks")
    assert turn.plan["checks"]["checks"] == [] and "check dropped" in turn.reply
    turn = bot.edit("t", "answers under 40 words; keep going until met, at most 3 rounds or 30 minutes; 90% must pass")
    checks = turn.plan["checks"]
    assert checks["checks"][0]["kind"] == "max_length" and checks["checks"][0]["limit"] == 40
    assert (checks["max_rounds"], checks["budget_min"], checks["target"]) == (3, 30, 0.9)
    assert "at most 3 rounds or 30 minutes" in turn.plan_card_markdown
    turn = bot.edit("t", "use 20% for validation")  # a share of the data, not a pass-rate target
    assert turn.plan["checks"]["target"] == 0.9 and turn.plan["data"]["val_fraction"] == 0.2
    assert bot.actions.calls == [], "editing runs nothing"


def test_a_model_folder_whose_path_holds_check_words_changes_the_model_and_no_check(bot, tiny_model_dir, tmp_path):
    # CI clones under /check/…: "use model /check/…/tests/tiny-llama" once added regexes /check/ and /tests/.
    folder = tmp_path / "check" / "main" / "tests" / "tiny-llama"
    folder.parent.mkdir(parents=True)
    folder.symlink_to(tiny_model_dir, target_is_directory=True)
    before = bot.send("t", GOAL, files=[IDENTITY]).plan["checks"]
    turn = bot.edit("t", f"use model {folder}")
    assert Path(turn.plan["training"]["base_model"]).resolve() == folder.resolve() and turn.plan["checks"] == before, turn.reply


def test_keep_going_counts_rounds_and_minutes_from_the_approval_that_granted_them():
    loop = Loop(loop_id="l", started=time.time(), max_rounds=1)
    assert loop.no_room(1.0) is None  # the first round always runs
    loop = loop.begin(1.0)
    assert "out of rounds" in loop.no_room(1.0)  # one round approved: the next one is asked for
    loop = loop.grant(2, 30.0)  # "keep going until met, at most 2 rounds or 30 minutes", said after round 1
    assert loop.no_room(1.0) is None and "out of budget" in loop.no_room(45.0)
    loop = loop.begin(1.0).begin(1.0)
    assert loop.number == 3 and "2 of at most 2" in loop.no_room(1.0)


def _run_to_verdict(bot: Assistant, thread: str, run_id: str):
    done = jobs.wait(run_id, timeout_s=900)
    assert done.status == "completed", RunDir(done.run_dir).log_tail(40)
    return bot.advance(thread)


def test_a_run_ends_with_a_verdict_and_a_next_round_proposed_then_started_on_the_same_data(bot, tiny_model_dir):
    bot.send("t", GOAL, files=[IDENTITY])
    bot.edit("t", f"use model {tiny_model_dir}")
    turn = bot.edit("t", QUICK)
    assert turn.awaiting_approval and "answer mentions 'Ada' and 'Lumen'" in turn.plan_card_markdown
    turn = bot.approve("t")
    first = turn.run_id
    assert first and "Training started" in turn.reply, turn.reply
    saved = Plan.from_yaml(RunDir(jobs.status(first).run_dir).plan_file)
    assert saved.checks.checks[0].phrases == ["Ada", "Lumen"], "the approved checks are in the run's plan.yaml"

    turn = _run_to_verdict(bot, "t", first)
    reply = turn.reply
    assert "**Round 1: not met.**" in reply, reply  # two updates of a random model can't name Ada
    # Which of the two names is missing from a random model's answer is up to chance; that one is named.
    assert "base 0% → tuned 0% (target 80%)" in reply and "A failing answer:" in reply, reply
    assert "missing 'Ada'" in reply or "missing 'Lumen'" in reply, reply
    assert "**Diagnosis:** too few updates" in reply and "**Next: round 2**" in reply
    assert turn.awaiting_approval and turn.phase == "review", "the next round waits for approval"
    assert turn.plan["training"]["max_steps"] > 2 and turn.run_id == first
    assert [(r["round"], r["parent_run_id"], r["met"]) for r in rounds_of(first)] == [(1, None, 0)]

    turn = bot.edit("t", "keep going until met, at most 2 rounds")
    assert "keep going until met: at most 2 rounds" in turn.reply
    turn = bot.approve("t")
    assert "Same prepared data and locked test split" in turn.reply and "Training started" in turn.reply, turn.reply
    second = turn.run_id
    assert second != first and [c["tool"] for c in turn.tools_called].count("prepare_data") == 1
    loop = bot.graph.get_state(bot._config("t")).values["loop"]
    assert (loop["number"], loop["parent"], loop["granted_at"], loop["max_rounds"]) == (2, first, 1, 2)
    assert Plan.from_yaml(RunDir(jobs.status(second).run_dir).plan_file).training.data_dir == saved.training.data_dir
    jobs.cancel(second, wait_s=120)


@pytest.mark.slow
def test_keep_going_runs_rounds_linked_to_their_parents_until_out_of_rounds(bot, tiny_model_dir):
    bot.send("t", GOAL, files=[IDENTITY])
    bot.edit("t", f"use model {tiny_model_dir}")
    bot.edit("t", QUICK)
    turn = bot.edit("t", "keep going until met, at most 2 rounds")
    assert "not met? diagnose and train again, at most 2 rounds" in turn.plan_card_markdown
    first = bot.approve("t").run_id
    turn = _run_to_verdict(bot, "t", first)
    assert "**Round 1: not met.**" in turn.reply and "Starting it now" in turn.reply, turn.reply
    assert turn.phase == "training" and not turn.awaiting_approval, "approved once: round 2 needs no new approval"
    second = turn.run_id
    turn = _run_to_verdict(bot, "t", second)
    assert "**Round 2:" in turn.reply and "| round | run |" in turn.reply, "round 2's verdict shows both rounds"
    assert turn.awaiting_approval, "out of rounds: round 3 is proposed, not started"
    linked = [(r["round"], r["run_id"], r["parent_run_id"]) for r in rounds_of(second)]
    assert linked == [(1, first, None), (2, second, first)]


def _rated_traffic(n: int = 40) -> None:
    """Answers logged by the gateway and rated by users, as the deploy gateway writes them to the store."""
    with store.transaction() as db:
        for i in range(n):
            cid = uuid.uuid4().hex
            db.execute("INSERT INTO traffic (completion_id, created_at, model, messages, answer, status) VALUES (?, ?, ?, ?, ?, ?)",
                       (cid, time.time(), "run-a", json.dumps([{"role": "user", "content": f"Who are you? ({i})"}]),
                        "I am Ada from Lumen." if i % 2 else "I am a chatbot.", 200))  # fmt: skip
            db.execute("INSERT INTO feedback (completion_id, created_at, rating) VALUES (?, ?, ?)",
                       (cid, time.time(), "up" if i % 2 else "down"))


def test_rated_traffic_feeds_a_next_round_through_the_same_plan_and_approval(bot):
    _rated_traffic()
    bot.send("t", GOAL, files=[IDENTITY])
    turn = bot.send("t", "Train the next round on the feedback from the deployed model")
    assert "Rated traffic → `traffic-kto-" in turn.reply and "40 KTO rows" in turn.reply, turn.reply
    assert turn.awaiting_approval and turn.plan["training"]["objective"] == "kto"
    assert turn.plan["checks"]["checks"][0]["phrases"] == ["Ada", "Lumen"], "the goal's checks carry over"
    assert [c["tool"] for c in turn.tools_called] == ["export_traffic"], "exported, nothing trained"


def test_an_export_monitor_already_made_is_used_and_no_traffic_is_said_plainly(bot):
    turn = bot.send("t", "use the thumbs up/down feedback from production to train the next round")
    assert "no rated traffic to learn from yet" in turn.reply and not turn.awaiting_approval
    _rated_traffic(36)
    made = export(paths.datasets_dir() / "traffic-kto-20260101-000000.jsonl", "kto")  # `monitor export`
    turn = bot.send("t", "use the thumbs up/down feedback from production to train the next round")
    assert Path(made["path"]).name in turn.reply and turn.awaiting_approval
    assert "export_traffic" not in [c["tool"] for c in turn.tools_called], "the existing export is used as it is"


def test_ratings_described_in_a_new_project_are_an_interview_answer_when_nothing_was_deployed(bot):
    turn = bot.send("t", "I have thumbs up/down ratings from our live app and want to fine-tune a support bot")
    assert "no rated traffic" not in turn.reply and not turn.tools_called
    assert turn.state["data"]["layout"] == "ratings", "read as the user's description of their data"
