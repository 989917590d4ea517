"""Scripted users through the whole interview with the built-in (no-LLM) brain.

Each must end with the right objective and method, a model the estimator says fits the user's hardware,
reasons that quote the user, and no tool run: nothing acts before approval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from assistant import Assistant
from tools import paths


@dataclass(frozen=True)
class Script:
    name: str
    messages: tuple[str, ...]
    objective: str
    method: str
    base_model: str | None = None  # catalogue name, when the choice is clear-cut
    risk_words: tuple[str, ...] = ()  # words that must appear in the risks


SCRIPTS: tuple[Script, ...] = (
    Script("support bot from chat logs",
           ("I want a support bot for our help desk", "We have 2,000 chat logs", "one RTX 4090",
            "no, the facts rarely change", "just recommend"),
           "sft", "qlora", "Qwen2.5-7B-Instruct"),
    Script("clause classifier from a labelled CSV",
           ("Classify contract clauses into 12 categories", "a labelled CSV clauses.csv with 5,000 rows",
            "A100 80GB", "just recommend"),
           "sft", "lora", "Qwen2.5-1.5B-Instruct"),
    Script("brand voice from blog posts",
           ("Write newsletters in our brand voice", "we have 400 blog posts", "an RTX 3090", "just recommend"),
           "sft", "qlora", None, ("Overfitting",)),
    Script("medical answers with personal data",
           ("Answer patient questions for our clinic",
            "8,000 question-answer pairs with patient names and phone numbers",
            "it must stay on-prem; we have one L40S", "just recommend"),
           "sft", "lora", None, ("Personal data", "stays on your machines")),
    Script("ratings from a feedback widget",
           ("Our assistant has a feedback widget: we have 30k thumbs up/down ratings on its answers",
            "one A100 80GB", "just recommend"),
           "kto", "lora"),
    Script("preference pairs for a chat assistant",
           ("We collected 5,000 preference pairs (chosen and rejected answers) for our chat assistant",
            "RTX 4090", "just recommend"),
           "dpo", "qlora"),
    Script("preference pairs teaching a new format",
           ("Extract invoice fields as JSON; we have 3,000 pairs with a chosen and a rejected answer each",
            "A10G", "just recommend"),
           "orpo", "lora", "Qwen2.5-1.5B-Instruct"),
    Script("20 rows only",
           ("I want a bot that answers like our support team", "we have only 20 examples", "CPU only"),
           "none", "none"),
    Script("facts that change often",
           ("Answer customer questions about our prices and stock levels, which change daily",
            "2000 chat logs", "RTX 4090"),
           "none", "none"),
    Script("large unlabelled domain corpus",
           ("We want the model to learn our domain's jargon",
            "a 40 GB corpus of unlabelled engineering manuals", "one H100 80GB", "just recommend"),
           "continued_pretraining", "lora", None, ("Forgetting",)),
    Script("CPU-only laptop",
           ("Summarise meeting notes into action items", "1,500 notes with summaries in notes.jsonl",
            "I only have a laptop, no GPU", "just recommend"),
           "sft", "lora", "SmolLM2-135M-Instruct"),
    Script("multi-GPU server with lots of data",
           ("Build a coding assistant for our internal APIs", "120k instruction-response pairs",
            "8x H100 80GB", "just recommend"),
           "sft", "full", None, ("Forgetting",)),
    Script("24 GB consumer GPU with a 7B",
           ("Fine-tune a 7B for legal Q&A from 10k question-answer pairs", "a 24 GB consumer GPU",
            "just recommend"),
           "sft", "qlora", "Qwen2.5-7B-Instruct"),
    Script("quality first on one big GPU",
           ("Chat assistant for our bank from 20k conversations; quality matters most", "one A100 80GB",
            "just recommend"),
           "sft", "dora"),
    Script("one adapter per customer",
           ("Sentiment classification with one adapter per customer, for hundreds of customers",
            "each has about 2,000 labelled reviews", "A10G", "just recommend"),
           "sft", "prompt_tuning"),
    Script("a small summarisation set",
           ("Summarize product reviews into one line", "we have 150 review/summary pairs", "a T4",
            "just recommend"),
           "sft", "prefix_tuning"),
    Script("user asks for DoRA",
           ("Support chats, about 3k of them, and please use DoRA", "RTX 4090", "just recommend"),
           "sft", "dora"),
    Script("multi-GPU server, modest data",
           ("A chat assistant for our sales team from 6,000 conversations", "4x A100 80GB", "just recommend"),
           "sft", "lora"),
)


@pytest.fixture
def bot(app_home):
    assistant = Assistant(llm=None)
    yield assistant
    assistant.close()


def _quoted(texts: list[str]) -> list[str]:
    return [q.rstrip("…") for t in texts for q in re.findall(r'"([^"]+)"', t)]


def nothing_ran(bot: Assistant, turn) -> None:
    assert turn.tools_called == []
    assert bot.actions.calls == []
    assert not any(paths.runs_dir().iterdir()), "a run folder exists before approval"
    assert not (paths.home() / "datasets").exists() or not any((paths.home() / "datasets").iterdir())


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_scripted_user_gets_the_right_recommendation_and_nothing_runs(bot, script):
    for message in script.messages:
        turn = bot.send(script.name, message)
    rec = turn.recommendation
    assert rec is not None, f"no recommendation after {script.messages}; last reply: {turn.reply}"
    assert (rec["objective"], rec["method"]) == (script.objective, script.method), rec["reasons"]
    if script.base_model:
        assert rec["base_model"] == script.base_model
    said = " ".join(script.messages)
    assert any(q in said for q in _quoted(rec["reasons"])), f"no reason quotes the user: {rec['reasons']}"
    for word in script.risk_words:
        assert any(word in r for r in rec["risks"]), f"{word!r} not in risks {rec['risks']}"
    if script.objective == "none":
        assert rec["instead"] and turn.plan is None and not turn.awaiting_approval
    else:
        assert rec["estimate"]["verdict"] != "won't fit", rec["estimate"]
        assert turn.awaiting_approval and turn.plan["training"]["base_model"] == rec["model"]
        assert "approve" in turn.plan_card_markdown
    nothing_ran(bot, turn)


def test_there_are_at_least_fifteen_distinct_users():
    assert len({s.name for s in SCRIPTS}) >= 15
    objectives = {s.objective for s in SCRIPTS}
    methods = {s.method for s in SCRIPTS}
    assert objectives == {"sft", "dpo", "orpo", "kto", "continued_pretraining", "none"}
    assert methods == {"full", "lora", "qlora", "dora", "prompt_tuning", "prefix_tuning", "none"}
