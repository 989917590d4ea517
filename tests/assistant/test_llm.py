"""The LLM brain, driven by a scripted chat model: structured extraction, phrasing, and fallbacks."""

from __future__ import annotations

import pytest

from assistant import Assistant
from assistant.llm import ENV_PREFIX, Brain, LLMConfig, default_brain
from assistant.state import ConversationState


@pytest.fixture
def llm_bot(app_home, scripted_model):
    bot = Assistant(llm=scripted_model)
    yield bot, scripted_model
    bot.close()


def test_the_llm_reads_what_the_rules_cannot(llm_bot):
    bot, model = llm_bot
    model.script += [
        # Turn 1: extraction, then the phrased questions.
        {"task_kind": "chat", "data_layout": "ratings", "has_ratings": True, "rows": 12000},
        "Thanks! Which GPU will you train on?",
        # Turn 2: extraction, then the phrased recommendation intro.
        {"hardware": "gpu", "gpu_name": "A100", "gpu_memory_gb": 80, "just_recommend": True},
        "Here is what I'd do.",
    ]
    turn = bot.send("t", "Our bot's answers get a 'was this helpful?' click; twelve thousand of those so far")
    assert turn.state["data"]["layout"] == "ratings" and turn.state["data"]["rows"] == 12000
    assert turn.reply == "Thanks! Which GPU will you train on?"
    turn = bot.send("t", "The big green one in the basement, go ahead and decide")
    assert turn.recommendation["objective"] == "kto"
    assert turn.reply.startswith("Here is what I'd do.") and turn.awaiting_approval
    assert turn.tools_called == [] and bot.actions.calls == []
    # The model was asked for structured output with the StateUpdate schema, with the system prompt.
    assert model.bound == ["StateUpdate"]
    assert "fine-tuning assistant" in str(model.seen[1][0].content)


def test_a_failing_model_falls_back_to_the_rules(app_home, scripted_model):
    scripted_model.script += [RuntimeError("endpoint down"), RuntimeError("still down")]
    bot = Assistant(llm=scripted_model)
    try:
        turn = bot.send("t", "support bot from 2,000 chat logs")
        assert turn.state["data"]["rows"] == 2000  # the rules' reading
        assert "What will you train on" in turn.reply  # the rules' own wording
        assert len(bot.brain.errors) == 2
    finally:
        bot.close()


def test_rules_fill_what_the_model_leaves_empty(scripted_model):
    scripted_model.script += [{"task_kind": "classification"}]
    update, _ = Brain(scripted_model).read(ConversationState(), "label 4,000 tickets from tickets.csv")
    assert update.task_kind == "classification" and update.rows == 4000 and update.data_location == "tickets.csv"


def test_config_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(ENV_PREFIX + "BASE_URL", raising=False)
    assert LLMConfig.from_env() is None and not default_brain().uses_llm
    monkeypatch.setenv(ENV_PREFIX + "BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv(ENV_PREFIX + "MODEL", "some-model")
    monkeypatch.setenv(ENV_PREFIX + "API_KEY", "sk-test")
    config = LLMConfig.from_env()
    assert (config.base_url, config.model) == ("http://127.0.0.1:9/v1", "some-model")
    assert config.api_key.get_secret_value() == "sk-test" and "sk-test" not in repr(config)
    brain = default_brain()
    assert brain.uses_llm and brain.model.model_name == "some-model"
    assert not default_brain(None).uses_llm


def test_stream_passes_the_llm_reply_and_the_card_once(llm_bot):
    bot, model = llm_bot
    model.script += [
        {"task_kind": "chat", "data_layout": "chat", "rows": 3000, "hardware": "cpu", "just_recommend": True},
        "My advice, in short:",
    ]
    chunks = list(bot.stream("t", "support chats, 3k, CPU, your call"))
    text = "".join(chunks)
    turn = bot.last_turn("t")
    assert text.startswith("My advice, in short:") and text.count("### Plan v1") == 1
    assert text.strip() == turn.reply.strip() and turn.awaiting_approval
