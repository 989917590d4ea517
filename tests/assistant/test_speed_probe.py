"""The chat's first plan is sized from this machine's measured speed and the attached file's own row lengths.

The issue's new user saw "roughly 46 min" for a 5.6 min run, and an hour-long guess capped the updates.
Here the default model is the tests' tiny Llama (FINETUNE_ASSISTANT_DEFAULT_MODEL), so the probe the
chat runs before its first plan takes seconds instead of a minute.
"""

import json
import shutil

import pytest

from assistant import Assistant
from assistant.fit import held_out_rows
from assistant.state import ConversationState
from tools.models.resolve import ENV_DEFAULT
from tools.train import throughput
from tools.train.estimate import DataSample, estimate
from tools.train.hardware import Hardware
from tools.train.plan import TrainingPlan

GOAL = "Teach it its new identity: when someone asks who it is, it says it is Ada from Lumen. This laptop, CPU only."


def _chat_file(tmp_path, rows=40, words=6):
    path = tmp_path / "identity.jsonl"
    answer = " ".join(["I am Ada, an assistant made by Lumen."] * words)
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Who are you, question {i}?"},
                                                     {"role": "assistant", "content": answer}]}) + "\n"
                            for i in range(rows)))  # fmt: skip
    return path


@pytest.fixture
def probing(monkeypatch, tiny_model_dir):
    monkeypatch.setenv("FINETUNE_ASSISTANT_SPEED_PROBE", "on")
    monkeypatch.setenv(ENV_DEFAULT, str(tiny_model_dir))
    return tiny_model_dir


def _estimate_notes(bot, thread):
    values = bot.graph.get_state({"configurable": {"thread_id": thread, "user": None}}).values
    return values["recommendation"]["estimate"]["notes"]


def test_the_first_plan_is_timed_here_once_and_later_plans_reuse_the_measurement(probing, tmp_path):
    data = _chat_file(tmp_path)
    bot = Assistant(llm=None)
    turn = bot.send("t1", GOAL, files=[str(data)])
    turn = bot.send("t1", "just recommend") if not turn.awaiting_approval else turn
    assert turn.awaiting_approval, turn.reply
    assert "timing a few training steps" in turn.reply and "Timed: this machine trains about" in turn.reply
    assert any(t["tool"] == "measure_speed" for t in turn.tools_called)
    training = TrainingPlan.model_validate({**turn.plan["training"], "data_dir": "x"})
    assert throughput.lookup(training) is not None, "the probe's speed is cached for this model and technique"
    notes = _estimate_notes(bot, "t1")
    assert any("measured training speed" in n for n in notes), notes
    assert any("measured on the first rows of identity.jsonl" in n for n in notes), notes
    assert bot.actions.calls == [], "the probe acts on a copy of the file's first rows, not through the plan's tools"

    again = bot.send("t2", GOAL, files=[str(data)])
    again = bot.send("t2", "just recommend") if not again.awaiting_approval else again
    assert again.awaiting_approval and "timing a few training steps" not in again.reply
    assert any("measured training speed" in n for n in _estimate_notes(bot, "t2"))


def test_a_plan_for_the_users_other_machine_is_not_timed_on_this_one(probing, tmp_path, app_home):
    bot = Assistant(llm=None)
    turn = bot.send("t", "Teach it to say it is Ada from Lumen. We train on one A100 80GB.", files=[str(_chat_file(tmp_path))])
    turn = bot.send("t", "just recommend") if not turn.awaiting_approval else turn
    assert turn.awaiting_approval and "timing" not in turn.reply
    assert not (app_home / "throughput.json").exists()


def test_a_probe_that_fails_still_gives_the_plan_with_the_guess_and_says_why(monkeypatch, tiny_model_dir, tmp_path):
    broken = tmp_path / "no-weights"  # config and tokenizer, no weights: training can't start
    shutil.copytree(tiny_model_dir, broken, ignore=shutil.ignore_patterns("*.safetensors"))
    monkeypatch.setenv("FINETUNE_ASSISTANT_SPEED_PROBE", "on")
    monkeypatch.setenv(ENV_DEFAULT, str(broken))
    bot = Assistant(llm=None)
    turn = bot.send("t", GOAL, files=[str(_chat_file(tmp_path))])
    turn = bot.send("t", "just recommend") if not turn.awaiting_approval else turn
    assert turn.awaiting_approval, turn.reply
    assert "I couldn't time it here" in turn.reply and "rough guess" in turn.reply
    assert turn.reply.count("timing a few training steps") == 1, "a failed probe is not retried in a loop"


def test_the_draft_is_sized_from_the_files_rows_and_lengths_not_max_length(tmp_path):
    from assistant.fit import estimate_for

    data = _chat_file(tmp_path, rows=90, words=2)
    state = ConversationState()
    state.data.location, state.data.rows = str(data), 90
    plan = TrainingPlan(base_model="default", data_dir="<prepared dataset>", max_length=512, batch_size=4, epochs=2)
    est = estimate_for(state, plan, Hardware.parse("cpu 24 GB"))
    val, test = held_out_rows(90)
    assert (val, test) == (9, 9)
    assert est.total_steps == 2 * -(-(90 - val - test) // 4)  # the rows that train, not 1000 assumed rows
    mean = est.tokens // (est.total_steps * 4)
    assert 20 < mean < 80, "a short two-turn chat row is tens of tokens, not the 512 of max_length"
    guessed = estimate(plan, Hardware.parse("cpu 24 GB"), DataSample(rows=72, mean_tokens=512, longest_tokens=512))
    assert est.tokens < guessed.tokens / 4 and est.peak_memory_gb < guessed.peak_memory_gb


def test_without_a_file_the_draft_assumes_full_rows_and_says_so():
    from assistant.fit import estimate_for

    state = ConversationState()
    state.data.rows = 500
    plan = TrainingPlan(base_model="default", data_dir="<prepared dataset>", max_length=256, batch_size=4, epochs=1)
    est = estimate_for(state, plan, Hardware.parse("cpu 24 GB"))
    assert est.total_steps == -(-(500 - 50 - 50) // 4) and est.tokens == est.total_steps * 4 * 256
    assert any("assumed to fill max_length" in n for n in est.notes)


def _rec(model="default"):
    from assistant.recommend import Recommendation

    return Recommendation(objective="sft", method="lora", base_model="SmolLM2-135M-Instruct", model=model,
                          licence="Apache-2.0", hardware="CPU", hyperparameters={"max_length": 256, "batch_size": 4})


def _conv(tmp_path):
    conv = ConversationState()
    conv.data.location, conv.data.rows = str(_chat_file(tmp_path)), 40
    conv.constraints.hardware = "cpu"
    return conv


def test_no_probe_for_a_hub_model_or_while_another_run_holds_the_machine(probing, tmp_path):
    from assistant import speed
    from tools.train import runs

    conv = _conv(tmp_path)
    assert speed.probe_wanted(_rec(), conv) is not None, "the default model, on disk, trains here: timed"
    assert speed.probe_wanted(_rec("Qwen/Qwen2.5-0.5B-Instruct"), conv) is None, "no download before approval"
    runs.upsert("busy", run_dir=str(tmp_path / "busy"), status="queued")
    assert speed.probe_wanted(_rec(), conv) is None, "a probe beside another run would time both"


def test_a_gpu_the_user_names_is_this_machines_gpu_when_the_driver_calls_it_by_a_longer_name(monkeypatch):
    import importlib

    est_module = importlib.import_module("tools.train.estimate")  # the package re-exports the function

    here = Hardware.parse("1x NVIDIA H200 141 GB")
    monkeypatch.setattr(est_module, "_this_machine", lambda: here)
    assert est_module.runs_here(Hardware.parse("H200"))
    assert not est_module.runs_here(Hardware.parse("2x H200")), "two cards train at another speed than one"
    assert not est_module.runs_here(Hardware.parse("A100 80GB"))
    assert not est_module.runs_here(Hardware.parse("cpu 16 GB"))
