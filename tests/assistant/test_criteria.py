"""The user's words about success become typed checks; edits in words change them; no words -> a check
proposed from the data, and the note says so. Also: the regexes stay fast on hostile input."""

from __future__ import annotations

import time

import pytest

from assistant.criteria import (
    IDENTITY_PROMPTS,
    card_lines,
    criteria_for,
    edit_criteria,
    edit_in_words,
    parse_criteria,
    propose_from_data,
)
from tools.evaluate.checks import score

IDENTITY_ROWS = [("Who are you?", "I am Ada, an AI assistant trained by Lumen."), ("Hi!", "Hello! I'm Ada from Lumen.")] * 5
SUPPORT_ROWS = [("How do I reset?", "Call us at +1 555-123-4567 and we reset it."), ("Refund?", "Refunds take 5 days.")] * 3


def test_identity_words_become_a_contains_check_on_identity_prompts():
    criteria, note = criteria_for("when someone asks who it is, it says it is Ada from Lumen", IDENTITY_ROWS)
    [check] = criteria.checks
    assert check.kind == "contains" and check.phrases == ["Ada", "Lumen"]
    assert criteria.prompts == IDENTITY_PROMPTS and not criteria.proposed
    assert "from your words" in note
    report = score(criteria, ["Who are you?", "Write a haiku"], ["I am Ada, made by Lumen.", "Leaves fall."])
    assert (report.tested, report.passed) == (1, 1)  # the haiku prompt is not an identity prompt


@pytest.mark.parametrize(("words", "kind", "field", "value"), [
    ("answers must be valid JSON with fields a, b", "json_schema", "schema_", {"type": "object", "required": ["a", "b"]}),
    ("keep it under 50 words", "max_length", "limit", 50),
    ("no more than 200 characters", "max_length", "unit", "characters"),
    ("it gets the label right", "label", "kind", "label"),
    ("it must never mention 'OpenAI'", "not_contains", "phrases", ["OpenAI"]),
    ('answers must end with "Anything else?"', "regex", "pattern", r"Anything\ else\?\W{0,5}$"),
    ("always ends with a next step", "judge", "rubric", "The answer ends with a next step."),
    ("answers like the examples", "similarity", "metric", "rouge_l"),
    ("it matches /^Ticket \\d+/", "regex", "pattern", "^Ticket \\d+"),
])  # fmt: skip
def test_words_to_check_kinds(words, kind, field, value):
    criteria = parse_criteria(words)
    assert [c.kind for c in criteria.checks] == [kind]
    assert getattr(criteria.checks[0], field) == value


def test_target_from_words():
    assert parse_criteria("under 40 words, 9 out of 10 times").target == 0.9
    assert parse_criteria("under 40 words in 95% of answers").target == 0.95
    assert parse_criteria("under 40 words").target == 0.8


def test_edit_adds_the_phone_number_from_the_data_and_removes_by_kind():
    criteria, _ = criteria_for("under 50 words", SUPPORT_ROWS)
    edited = edit_criteria(criteria, "also require it to mention the phone number", SUPPORT_ROWS)
    assert [c.kind for c in edited.checks] == ["max_length", "contains"]
    assert edited.checks[1].phrases == ["+1 555-123-4567"]
    assert [c.kind for c in edit_criteria(edited, "drop the length check").checks] == ["contains"]
    assert edit_criteria(edited, "at least 90% should pass").target == 0.9


def test_no_words_proposes_from_the_data_and_says_so():
    labels = [("great phone", "positive"), ("broke in a day", "negative"), ("ok", "neutral")] * 4
    criteria, note = criteria_for(None, labels)
    assert criteria.proposed and criteria.checks[0].kind == "label"
    assert note.startswith("You did not say how to tell success") and "positive" in note
    json_rows = [("q", '{"name": "x", "age": 3}'), ("r", '{"name": "y", "age": 4, "extra": 1}')]
    assert propose_from_data(json_rows)[0].checks[0].schema_ == {"type": "object", "required": ["age", "name"]}
    fixed = [(f"q{i}", f"Category: {topic}. Reply within {i} days.") for i, topic in enumerate(["billing", "shipping", "returns"] * 3)]
    assert propose_from_data(fixed)[0].checks[0].pattern == "^Category:"
    assert propose_from_data(IDENTITY_ROWS)[0].checks[0].phrases == ["Ada", "Lumen"]
    free = [("a", "the cat sat on the mat"), ("b", "dogs run in the park all day"), ("c", "rain falls on the roof")]
    check = propose_from_data(free)[0].checks[0]
    assert check.kind == "similarity" and 0.3 <= check.threshold <= 0.7


def test_unparseable_words_fall_back_to_the_data_and_say_so():
    criteria, note = criteria_for("make it good", IDENTITY_ROWS)
    assert criteria.proposed and note.startswith('I could not turn "make it good" into a check')


def test_card_lines_show_checks_and_target():
    criteria, _ = criteria_for("when asked who it is, it says it is Ada from Lumen; under 40 words", IDENTITY_ROWS)
    lines = card_lines(criteria)
    assert lines[0].startswith("**Success checks** (target: 80%")
    assert any("'Ada' and 'Lumen'" in line for line in lines) and any("40 words" in line for line in lines)


def test_parsers_stay_fast_on_hostile_input():
    hostile = ("who are you it is " + "A" * 5000 + " from " + "with fields " + "a, " * 3000 + "ends with " + "x" * 5000
               + " /(a+)+$/ " + "mention " * 2000)  # fmt: skip
    started = time.perf_counter()
    parse_criteria(hostile, SUPPORT_ROWS)
    assert time.perf_counter() - started < 2.0


def test_keep_going_until_met_is_an_approvable_choice():
    criteria = parse_criteria("it says it is Ada from Lumen when asked who it is; keep going until met, at most 4 rounds or 30 minutes")
    assert (criteria.max_rounds, criteria.budget_min) == (4, 30.0)
    assert any("at most 4 rounds or 30 minutes" in line for line in card_lines(criteria))
    edited = edit_criteria(criteria, "under 40 words")
    assert (edited.max_rounds, edited.budget_min) == (4, 30.0)  # an unrelated edit keeps the choice
    assert edit_criteria(edited, "keep going, up to 2 rounds").max_rounds == 2
    assert parse_criteria("under 40 words").max_rounds == 1


TICKETS = [("I was charged twice", "billing"), ("parcel is late", "shipping"), ("app crashes", "technical"),
           ("reset my password", "account")] * 4  # fmt: skip


@pytest.mark.parametrize("words", [
    "Sort each support ticket into billing, shipping, technical or account; reply with the category label only.",
    "route every ticket to the right team",
    "triage incoming emails",
    "it should classify the tickets",
])  # fmt: skip
def test_a_sorting_task_over_label_data_is_checked_by_its_labels(words):
    criteria, note = criteria_for(words, TICKETS)
    assert [c.kind for c in criteria.checks] == ["label"] and "from your words" in note
    assert sorted(criteria.checks[0].labels) == ["account", "billing", "shipping", "technical"]


def test_sorting_words_over_free_text_answers_give_no_label_check():
    rows = [(f"question {i}", f"a long and different answer number {i} with details") for i in range(12)]
    assert parse_criteria("sort out the support answers", rows).checks == []


@pytest.mark.parametrize("words", [
    "use model /check/work/main/.cache/tests/tiny-llama",  # the words 'check' and /main/ sit inside a path
    "train on ./data/checks/train.jsonl and save to ~/runs/checks/out",
    "the docs at https://example.com/checks/regex/ explain it",
    "base model C:/models/check/smol",
])
def test_a_path_or_url_in_an_edit_is_neither_a_regex_nor_a_word_about_checks(words):
    criteria = parse_criteria("it must mention Ada")
    assert edit_in_words(criteria, words) == (criteria, [])
    assert [c.kind for c in parse_criteria(words).checks] == []


def test_a_lone_slash_pattern_is_still_a_regex_next_to_a_path():
    checks = parse_criteria("answers match /^[A-Z]{3}-\\d{4}$/ (data in /srv/data/tickets.jsonl)").checks
    assert [(c.kind, c.pattern) for c in checks] == [("regex", "^[A-Z]{3}-\\d{4}$")]
    checks = edit_in_words(parse_criteria("it must mention Ada"), "also require answers to match /yes|no/")[0].checks
    assert [c.kind for c in checks] == ["contains", "regex"]
