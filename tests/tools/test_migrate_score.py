"""Migration checks and scoring without training: checks derived from the old answers (tool calls, labels,
similarity), the tuned model scored against the old answers prompt by prompt, and blind votes in the
sentence. The "models" are a scripted chat backend (canned answers per question) and the recorded old one."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.evaluate.checks import (
    Label,
    Similarity,
    SuccessCriteria,
    ToolCall,
    outcomes,
    score,
    tool_calls_in,
    tool_calls_text,
)
from tools.evaluate.compare import compare, record_vote
from tools.evaluate.heldout import _example
from tools.migrate.checks import golden_criteria
from tools.migrate.golden import OLD, RecordedBackend, recorded_choices, recorded_messages
from tools.migrate.record import GOLDEN_FILE, prompt_id
from tools.migrate.score import markdown_lines, migration_report, vote_tally, with_votes
from tools.serve.backends import Sampling

WEATHER = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}}]


class ScriptedBackend:
    """A chat backend whose model `name` answers from a dict keyed by the last user turn."""

    kind, fallback_reason = "scripted", None

    def __init__(self, answers: dict[str, str], name: str = "tuned"):
        self.answers, self.asked, self.name = answers, [], name

    def models(self) -> dict[str, str]:
        return {self.name: "scripted", "base": "scripted"}

    def chat(self, model: str, messages: list[dict], sampling: Sampling) -> str:
        self.asked.append(messages)
        return self.answers.get(messages[-1]["content"], "I don't know.")

    def stream(self, model: str, messages: list[dict], sampling: Sampling) -> Iterator[str]:
        yield self.chat(model, messages, sampling)

    def close(self) -> None:
        pass


def _golden(folder: Path, rows: list[tuple[str, str | None, list | None, str | None]]) -> Path:
    """golden.jsonl as `migrate record` writes it: (question, old answer, old tool calls, data's reference)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, (question, answer, calls, reference) in enumerate(rows, 1):
        messages = [{"role": "system", "content": "You are Pip."}, {"role": "user", "content": question}]
        lines.append({"id": prompt_id(messages, None), "row": n, "messages": messages, "tools": None, "reference": reference,
                      "model": "ft:gpt-4o-mini:acme::x1", "answer": answer or "", "tool_calls": calls})  # fmt: skip
    (folder / GOLDEN_FILE).write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "meta.json").write_text(json.dumps({"model": "ft:gpt-4o-mini:acme::x1", "data": str(folder / "val.jsonl")}))
    return folder


def test_a_tool_call_matches_by_name_and_arguments_in_any_order_and_form():
    reference = tool_calls_text(WEATHER + [{"function": {"name": "get_time", "arguments": "{}"}}])
    assert tool_calls_in(reference) == [("get_weather", {"city": "Paris", "unit": "c"}), ("get_time", {})]
    check = ToolCall()
    swapped = '[{"name": "get_time", "arguments": {}}, {"name": "get_weather", "arguments": {"unit": "c", "city": "Paris"}}]'
    assert check.passes(swapped, reference) == (True, "")
    ok, why = check.passes('<tool_call>{"name": "get_weather", "arguments": {"city": "Lyon", "unit": "c"}}</tool_call>', reference)
    assert not ok and "get_weather" in why
    assert check.passes("It is sunny in Paris.", reference)[0] is False
    assert ToolCall(arguments="names").passes('{"name": "get_weather", "arguments": {}}\n{"x": 1}', tool_calls_text(WEATHER))[0]


def test_a_reference_that_calls_tools_is_scored_only_by_the_tool_call_check():
    criteria = SuccessCriteria(checks=[ToolCall(), Similarity(threshold=0.5)])
    reference = tool_calls_text(WEATHER)
    assert [i for i, _, _ in outcomes(criteria, "weather?", reference, reference)] == [0]
    assert [i for i, _, _ in outcomes(criteria, "hi", "hello there", "hello there")] == [1]
    # The data's own tool-call turns become such references when evaluated.
    row = {"messages": [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": "", "tool_calls": WEATHER}]}
    assert tool_calls_in(_example(row).reference) == [("get_weather", {"city": "Paris", "unit": "c"})]


def test_checks_follow_what_the_old_answers_are(tmp_path):
    calls = _golden(tmp_path / "a", [("weather in Paris?", None, WEATHER, None), ("hello", "Hi! How can I help?", None, None)])
    criteria, note = golden_criteria(calls)
    assert [c.kind for c in criteria.checks] == ["tool_call", "similarity"] and "tool calls" in note
    labels = [(f"ticket {i}", ["billing", "shipping", "billing"][i % 3], None, None) for i in range(9)]
    criteria, note = golden_criteria(_golden(tmp_path / "b", labels))
    assert [c.kind for c in criteria.checks] == ["label"] and set(criteria.checks[0].labels) == {"billing", "shipping"}
    prose = [(f"q{i}", f"Answer number {i} tells you about topic {i} in a few words.", None, None) for i in range(6)]
    first, _ = golden_criteria(_golden(tmp_path / "c", prose))
    assert first == golden_criteria(_golden(tmp_path / "c", prose))[0]  # the same golden set, the same checks
    assert first.checks[0].kind == "similarity" and 0.3 <= first.checks[0].threshold <= 0.7
    assert golden_criteria(_golden(tmp_path / "c", prose), threshold=0.9)[0].checks[0].threshold == 0.9


def test_matched_counts_each_prompt_that_passes_every_check_against_the_old_answer(tmp_path):
    rows = [("What are your hours?", "We are open 9 to 18, Tuesday to Saturday.", None, "Open 9-18, Tue-Sat."),
            ("Weather in Paris?", None, WEATHER, None),
            ("Do you sell bikes?", "Yes, we sell three e-bike models.", None, "Yes, three models."),
            ("Can I pay by card?", "Yes, all major cards.", None, None)]  # fmt: skip
    golden = _golden(tmp_path / "golden", rows)
    criteria = SuccessCriteria(checks=[ToolCall(), Similarity(metric="token_f1", threshold=0.6)], target=0.75)
    backend = ScriptedBackend({"What are your hours?": "We are open 9 to 18, Tuesday to Saturday!",
                               "Weather in Paris?": '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}',
                               "Do you sell bikes?": "No."})  # fmt: skip
    section = migration_report(backend, "tuned", golden, criteria, Sampling(max_tokens=16), run_id="run-1")
    assert [r["passed"] for r in section["prompts"]] == [True, True, False, False]
    assert (section["matched"], section["total"], section["met"]) == (2, 4, False)
    assert section["verdict"] == "The open model matches the old fine-tune on 50% of held-out prompts by the checks (2 of 4)."
    assert [(c["passed"], c["tested"]) for c in section["checks"]] == [(1, 1), (1, 3)]
    # Against the data's own answers (where the file had one): the old model and the tuned one, check by check.
    assert section["against_reference"]["old"]["tested"] == 2 and section["old_model"] == "ft:gpt-4o-mini:acme::x1"
    assert backend.asked[0] == rows_messages(golden)[0]  # the tuned model saw exactly what the old one saw
    assert "## Against the old fine-tune" in "\n".join(markdown_lines(section))


def rows_messages(golden: Path) -> list[list[dict]]:
    return [json.loads(line)["messages"] for line in (golden / GOLDEN_FILE).read_text().splitlines()]


def test_blind_votes_against_the_recorded_answers_join_the_sentence(tmp_path):
    golden = _golden(tmp_path / "golden", [("What are your hours?", "Open 9-18.", None, None), ("Card?", "Yes.", None, None)])
    backend = RecordedBackend(ScriptedBackend({"What are your hours?": "We open at 9."}, name="run-1"), golden)
    label, wanted = recorded_choices(golden)[0]
    assert label == "1. What are your hours?"
    messages = recorded_messages(golden, wanted)
    for seed in range(4):
        comp = compare(backend, "What are your hours?", tuned="run-1", base=OLD, blind=True, messages=messages,
                       rng=random.Random(seed))  # fmt: skip
        assert {comp.answer_a, comp.answer_b} == {"Open 9-18.", "We open at 9."}
        tuned_side = "A" if comp.order[0] == "tuned" else "B"
        choice = tuned_side if seed < 3 else "tie"
        record_vote(comp, choice)
    assert vote_tally("run-1") == (3, 4)
    section = with_votes({"matched": 1, "total": 2}, "run-1")
    assert section["verdict"].endswith("(1 of 2); you preferred it in 3 of 4 blind votes.")
    with pytest.raises(Exception, match="only recorded on the held-out prompts"):
        compare(backend, "Something new?", tuned="run-1", base=OLD)


def test_label_and_similarity_checks_score_old_and_tuned_against_the_data_the_same_way():
    criteria = SuccessCriteria(checks=[Label(labels=["billing", "shipping"])])
    report = score(criteria, ["a", "b"], ["Billing.", "shipping"], ["billing", "billing"])
    assert (report.passed, report.tested) == (1, 2)
    assert [outcomes(criteria, p, a, r)[0][1] for p, a, r in (("a", "Billing.", "billing"), ("b", "shipping", "billing"))] == [True, False]
