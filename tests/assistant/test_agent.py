"""The agent's flow: the approval gate, edits, rejection, threads, restarts, and the tools after approval."""

from __future__ import annotations

import gc

import pytest

from assistant import Assistant, agent
from assistant.actions import Actions, ToolError
from assistant.tools import ACTING, default_tools
from tools import paths
from tools.train.plan import Plan, TrainingPlan, cuda_available

READY = ["support bot from 800 chat logs, CPU only", "just recommend"]


@pytest.fixture
def bot(app_home):
    assistant = Assistant(llm=None)
    yield assistant
    assistant.close()


def talk(bot: Assistant, thread: str, messages: list[str]):
    turn = None
    for text in messages:
        turn = bot.send(thread, text)
    return turn


def test_a_plan_waits_for_approval_and_nothing_runs(bot):
    turn = talk(bot, "t", READY)
    assert turn.awaiting_approval and turn.phase == "review"
    assert turn.plan["training"]["method"] == "lora" and turn.plan_card_markdown
    # More information while the plan waits: a new recommendation, still waiting, still nothing run.
    turn = bot.send("t", "actually we have 5,000 chat logs")
    assert turn.awaiting_approval and turn.state["data"]["rows"] == 5000
    assert turn.tools_called == [] and bot.actions.calls == []


def test_edits_loop_back_to_the_card(bot):
    talk(bot, "t", READY)
    turn = bot.edit("t", "use rank 32 and 3 epochs")
    assert turn.awaiting_approval and "Updated" in turn.reply
    assert (turn.plan["training"]["lora_r"], turn.plan["training"]["epochs"]) == (32, 3.0)
    turn = bot.edit("t", "batch size 0")
    assert "can't make that change" in turn.reply and turn.plan["training"]["batch_size"] != 0
    assert bot.actions.calls == []


def test_reject_runs_nothing_and_returns_to_the_interview(bot):
    talk(bot, "t", READY)
    turn = bot.reject("t")
    assert not turn.awaiting_approval and turn.phase == "interview" and turn.plan is None
    assert "nothing was run" in turn.reply
    assert bot.actions.calls == [] and not any(paths.runs_dir().iterdir())


def test_approve_without_a_plan_does_nothing(bot):
    turn = bot.approve("empty")
    assert "no plan" in turn.reply and bot.actions.calls == []


def test_approval_without_a_data_file_asks_for_it_before_any_tool(bot):
    talk(bot, "t", READY)
    turn = bot.approve("t")
    assert turn.phase == "need_data" and "attach your data file" in turn.reply
    assert bot.actions.calls == []


def test_after_approval_prepare_runs_first_and_a_bad_file_stops_before_training(bot, tmp_path):
    bad = tmp_path / "chats.jsonl"
    bad.write_text("not json at all\n{also broken\n")
    talk(bot, "t", READY)
    bot.approve("t")
    turn = bot.send("t", "here it is", files=[str(bad)])
    assert [c["tool"] for c in turn.tools_called] == ["prepare_data"]
    assert "Preparing the data failed" in turn.reply and "chats.jsonl" in turn.reply
    assert turn.awaiting_approval  # back at the card: fix the file, then approve again
    assert not any(paths.runs_dir().iterdir())


def test_threads_never_see_each_other(bot):
    talk(bot, "alice", READY)
    turn = bot.send("bob", "classify clauses from a labelled CSV with 3,000 rows")
    assert not turn.awaiting_approval and turn.recommendation is None
    assert turn.state["data"]["rows"] == 3000 and turn.state["use_case"]["task_kind"] == "classification"
    alice = bot.snapshot("alice")
    assert alice.awaiting_approval and alice.state["data"]["rows"] == 800


def test_a_conversation_survives_a_restart(app_home):
    first = Assistant(llm=None)
    talk(first, "t", READY)
    first.close()
    second = Assistant(llm=None)
    try:
        turn = second.snapshot("t")
        assert turn.awaiting_approval and turn.plan["training"]["objective"] == "sft"
        turn = second.edit("t", "use rank 4")
        assert turn.plan["training"]["lora_r"] == 4
        assert len(second.history("t")) > 4
    finally:
        second.close()


def test_stream_yields_each_message_as_its_step_finishes(bot):
    chunks = list(bot.stream("t", "support bot from 800 chat logs, CPU only, just recommend"))
    assert len(chunks) == 2  # the recommendation, then the plan card
    assert "".join(chunks).strip() == bot.last_turn("t").reply.strip()
    chunks = list(bot.stream("t", "use rank 4"))  # answering the waiting plan streams too
    assert "Updated" in chunks[0] and bot.last_turn("t").plan["training"]["lora_r"] == 4


def test_a_failing_step_reads_as_a_message_not_a_traceback(app_home):
    class Broken(Actions):
        def prepare_data(self, plan):
            raise MemoryError("simulated")  # not a ToolError: an unexpected failure

    bot = Assistant(llm=None, actions=Broken())
    try:
        for thread in ("sent", "streamed"):
            talk(bot, thread, READY)
            bot.approve(thread)
        turn = bot.send("sent", "data.jsonl")
        assert "that step failed" in turn.reply and "simulated" in turn.reply
        assert "".join(bot.stream("streamed", "data.jsonl")).endswith("try again, or rephrase.")
        assert "simulated" in bot.last_turn("streamed").reply
    finally:
        bot.close()


def test_tools_are_structured_tools_whose_schemas_are_the_functions_signatures():
    import inspect

    tools = {t.name: t for t in default_tools()}
    assert ACTING <= set(tools)
    for tool in tools.values():
        params = set(inspect.signature(tool.func).parameters) - {"overrides"}
        assert params <= set(tool.args_schema.model_fields) and tool.description
    # A plan argument is the Plan's own schema, not a dict of fields copied by hand.
    plan_schema = tools["estimate_plan"].args_schema.model_json_schema()
    assert "TrainingPlan" in str(plan_schema)


def test_an_acting_step_is_recorded_before_it_runs_and_fails_as_a_tool_error(tmp_path):
    actions = Actions()
    plan = Plan(source=str(tmp_path / "missing.jsonl"), training=TrainingPlan(data_dir=str(tmp_path / "out")))
    with pytest.raises(ToolError, match="missing.jsonl"):
        actions.prepare_data(plan)
    with pytest.raises(ToolError, match="training_status failed: .*no-such-run"):
        actions.training_status("no-such-run")
    assert [c["tool"] for c in actions.calls] == ["prepare_data", "training_status"]


@pytest.mark.slow
def test_approval_drives_prepare_train_evaluate_compare_in_order(bot, tiny_model_dir):
    import time

    from tools.quickstart.demo import demo_dataset_path

    bot.send("t", "support bot from our chat logs on a CPU; just recommend", files=[str(demo_dataset_path())])
    bot.edit("t", f"use model {tiny_model_dir}")
    turn = bot.edit("t", "4 max steps")
    assert turn.awaiting_approval and bot.actions.calls == []
    turn = bot.approve("t")
    assert [c["tool"] for c in turn.tools_called] == ["prepare_data", "estimate_plan", "launch_training"]
    assert turn.run_id and "Data ready" in turn.reply and "Training started" in turn.reply
    deadline = time.time() + 600
    while turn.phase == "training" and time.time() < deadline:
        time.sleep(2)
        turn = bot.advance("t")
    assert "**Round 1: not met.**" in turn.reply and turn.awaiting_approval, turn.reply  # the next round waits
    tools = [c["tool"] for c in turn.tools_called if c["tool"] != "training_status"]
    assert tools == ["prepare_data", "estimate_plan", "launch_training", "compare_models"]  # the job evaluates
    assert "Base:" in turn.reply and "Tuned:" in turn.reply


def test_confined_paths_refuse_a_typed_file_outside_the_data_dir(app_home, tmp_path):
    outside = tmp_path / "elsewhere" / "chats.jsonl"
    outside.parent.mkdir()
    outside.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n')
    bot = Assistant(llm=None, confine_paths=True)
    try:
        talk(bot, "t", [f"support bot from 800 chat logs in {outside}, CPU only", "just recommend"])
        turn = bot.approve("t")
        assert "outside the app's data dir" in turn.reply and turn.awaiting_approval
        assert bot.actions.calls == []
    finally:
        bot.close()


def test_skip_moves_on_and_just_recommend_ends_the_interview(bot):
    first = bot.send("t", "hello there")
    assert "What should the fine-tuned model do" in first.reply
    turn = bot.send("t", "skip")
    assert "What should the fine-tuned model do" not in turn.reply and not turn.awaiting_approval
    assert set(turn.state["skipped"]) >= {"task", "data"}
    turn = bot.send("t", "just recommend")
    assert turn.recommendation is not None and turn.awaiting_approval
    assert turn.recommendation["assumptions"]  # it says what it had to assume
    assert bot.actions.calls == []


def test_the_web_ui_refuses_a_typed_model_folder_outside_the_data_dir(tmp_path):
    from tools.quickstart.demo import demo_dataset_path

    outside = tmp_path / "elsewhere-model"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    upload = paths.uploads_dir() / "chats.jsonl"
    upload.write_text(demo_dataset_path().read_text())
    bot = Assistant(llm=None, confine_paths=True)
    bot.send("t", f"A support bot from our chat logs in {upload}, CPU only. just recommend")
    bot.edit("t", f"use model {outside}")
    turn = bot.approve("t")
    assert "outside the app's data dir" in turn.reply
    assert bot.actions.calls == [], "nothing may be prepared or trained from a refused path"


CHAT_ROW = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'


def test_an_attached_file_shows_by_its_own_name_in_the_chat_and_on_the_card(bot):
    upload = paths.uploads_dir() / "session-7f3a" / "support_chats.jsonl"
    upload.parent.mkdir(parents=True)
    upload.write_text(CHAT_ROW * 40)
    turn = bot.send("t", "support bot from our chat logs, CPU only. just recommend", files=[str(upload)])
    assert turn.awaiting_approval and turn.plan["source"] == str(upload)
    assert turn.plan["source_name"] == "support_chats.jsonl" and "support_chats.jsonl" in turn.plan_card_markdown
    # A file attached while the plan waits becomes its data, and is said by name too.
    other = upload.with_name("more_chats.jsonl")
    other.write_text(CHAT_ROW * 40)
    turn = bot.send("t", "use this file instead", files=[str(other)])
    assert "data file → more_chats.jsonl" in turn.reply and turn.plan["source"] == str(other)
    shown = "\n".join(m["content"] for m in bot.history("t")) + turn.plan_card_markdown
    assert "📎 `support_chats.jsonl`" in shown and "📎 `more_chats.jsonl`" in shown
    assert "session-7f3a" not in shown and str(paths.uploads_dir()) not in shown
    assert bot.actions.calls == []


@pytest.mark.skipif(cuda_available(), reason="checks the refusal on a machine without CUDA")
def test_approval_refuses_a_plan_this_machine_cannot_run_and_says_why(bot):
    talk(bot, "t", READY)
    turn = bot.edit("t", "switch to qlora")
    assert turn.plan["training"]["method"] == "qlora"  # a coherent plan: it builds, the card warns
    assert "Can't run on this machine yet" in turn.plan_card_markdown
    turn = bot.approve("t")
    assert "can't start this plan on this machine" in turn.reply and "Use method lora instead" in turn.reply
    assert turn.awaiting_approval and bot.actions.calls == []
    turn = bot.edit("t", "use lora")
    assert "Can't run on this machine yet" not in turn.plan_card_markdown
    assert bot.approve("t").phase == "need_data"


def test_per_thread_state_stays_bounded_however_many_threads_talk(bot, monkeypatch):
    """L10: thread ids come from browsers without end; the assistant keeps its latest turns and no idle lock."""
    monkeypatch.setattr(agent, "_KEEP_TURNS", 3)
    for i in range(5):
        "".join(bot.stream(f"t{i}", "hello"))
    assert bot.last_turn("t4") is not None and bot.last_turn("t0") is None and len(bot._last) == 3
    gc.collect()
    assert len(bot._locks) == 0, "a lock lives only while a call holds it"
    bot.brain._note_errors(*(f"e{i}" for i in range(500)))
    assert len(bot.brain.errors) == 200 and bot.brain.errors[-1] == "e499"
