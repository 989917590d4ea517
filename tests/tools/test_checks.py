"""Success checks: each kind passes and fails on real strings, the union round-trips through plan.yaml,
the verdict sentence says met or not and by how much, and the pairwise judge cancels position bias."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tools.evaluate.checks import (
    Contains,
    JsonSchema,
    Judge,
    Label,
    MaxLength,
    NotContains,
    Regex,
    Similarity,
    SuccessCriteria,  # fmt: skip
    judge_pairwise,
    score,
    verdict,
)
from tools.train.plan import Plan, TrainingPlan


@pytest.mark.parametrize(("check", "answer", "reference", "ok"), [
    (Contains(phrases=["Ada", "Lumen"]), "I am ada, made by LUMEN.", "", True),
    (Contains(phrases=["Ada", "Lumen"]), "I am Ada.", "", False),
    (Contains(phrases=["Ada", "Lumen"], require="any"), "I am Ada.", "", True),
    (Contains(phrases=["Ada"], case_sensitive=True), "i am ada", "", False),
    (Contains(phrases=["Ada"]), "Greetings from Canada", "", False),  # whole words: a fragment is not the name
    (Contains(phrases=["Ada Lovelace"]), "I'm ada\n lovelace!", "", True),  # any spacing between its words
    (Contains(phrases=["C++"]), "I write C++ daily", "", True),  # a phrase ending in punctuation still matches
    (NotContains(phrases=["AI"]), "I said it again", "", True),
    (Contains(phrases=["小明"]), "我是小明。", "", True),  # no spaces between words: no word boundary asked
    (Contains(phrases=["アダ"]), "私はアダです", "", True),
    (NotContains(phrases=["OpenAI"]), "I was trained by openai", "", False),
    (NotContains(phrases=["OpenAI"]), "I was trained by Lumen", "", True),
    (Regex(pattern=r"^Order #\d+: (shipped|pending)\.$"), "Order #12: shipped.", "", True),
    (Regex(pattern=r"^Order #\d+: (shipped|pending)\.$"), "Your order shipped.", "", False),
    (Label(), " Positive. ", "positive", True),
    (Label(), "negative", "positive", False),
    (Similarity(metric="token_f1", threshold=0.5), "the cat sat", "the cat sat down", True),
    (Similarity(metric="rouge_l", threshold=0.5), "dogs bark", "the cat sat down", False),
    (JsonSchema(schema={"type": "object", "required": ["a", "b"]}), '```json\n{"a": 1, "b": 2}\n```', "", True),
    (JsonSchema(schema={"type": "object", "required": ["a", "b"]}), '{"a": 1}', "", False),
    (JsonSchema(), "not json", "", False),
    (MaxLength(limit=3), "one two three", "", True),
    (MaxLength(limit=10, unit="characters"), "one two three", "", False),
])  # fmt: skip
def test_each_check_kind(check, answer, reference, ok):
    passed, why = check.passes(answer, reference)
    assert passed is ok
    assert bool(why) is not ok  # a failure always says why


def test_regex_rejects_invalid_and_catastrophic_patterns():
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        Regex(pattern="(unclosed")
    with pytest.raises(ValidationError, match="repeats a repeated group"):
        Regex(pattern=r"(a+)+$")


def test_criteria_round_trip_through_plan_yaml(tmp_path):
    criteria = SuccessCriteria(
        checks=[Contains(phrases=["Ada"], applies_to=["who are you"]), JsonSchema(schema={"type": "object"}),
                Judge(rubric="friendlier")], target=0.9, prompts=["Who are you?"])  # fmt: skip
    plan = Plan(training=TrainingPlan(data_dir=str(tmp_path / "d")), checks=criteria)
    loaded = Plan.from_yaml(plan.to_yaml(tmp_path / "plan.yaml") and tmp_path / "plan.yaml")
    assert loaded.checks == criteria
    assert "schema:" in plan.to_yaml()  # the user-facing name, not the python attribute
    assert Plan(training=TrainingPlan(data_dir=str(tmp_path))).checks.checks == []


def test_unknown_check_kind_is_rejected():
    with pytest.raises(ValidationError, match="kind"):
        SuccessCriteria.model_validate({"checks": [{"kind": "vibes"}]})


def test_score_counts_only_prompts_a_check_applies_to_and_keeps_failures():
    criteria = SuccessCriteria(checks=[Contains(phrases=["Ada", "Lumen"], applies_to=["who", "your name"])])
    prompts = ["Who are you?", "What is your name?", "Write a haiku", "Who made you?"]
    answers = ["I am Ada from Lumen.", "Ada.", "Leaves fall", "I am Ada, by Lumen"]
    report = score(criteria, prompts, answers)
    assert (report.tested, report.passed) == (3, 2)
    assert report.pass_rate == pytest.approx(2 / 3)
    assert report.failures == [{"prompt": "What is your name?", "answer": "Ada.", "why": "missing 'Lumen'"}]


def test_reference_checks_skip_probe_prompts_without_a_reference():
    criteria = SuccessCriteria(checks=[Label()])
    report = score(criteria, ["Review: great", "probe"], ["positive", "x"], ["positive", ""])
    assert (report.tested, report.passed) == (1, 1)


def test_verdict_sentences():
    criteria = SuccessCriteria(checks=[Contains(phrases=["Ada"])], target=0.8)
    prompts = [f"q{i}" for i in range(10)]
    base = score(criteria, prompts, ["no"] * 10)
    tuned = score(criteria, prompts, ["Ada"] * 9 + ["no"])
    met = verdict(criteria, base, tuned, base_loss=2.0, tuned_loss=1.0)
    assert met.met and met.sentence.startswith("Met: 9 of 10 test prompts pass every check (base: 0 of 10).")
    assert "Held-out loss fell 50% (2.000 -> 1.000)" in met.sentence
    weak = verdict(criteria, base, score(criteria, prompts, ["Ada"] * 4 + ["no"] * 6))
    assert not weak.met
    assert weak.sentence == "Not met: 4 of 10 test prompts pass every check (base: 0 of 10), 4 short of the target 8 of 10."


def test_verdict_without_applicable_checks_is_not_met():
    criteria = SuccessCriteria(checks=[Contains(phrases=["Ada"], applies_to=["zzz"])])
    report = score(criteria, ["hi"], ["Ada"])
    assert not verdict(criteria, report, report).met


def test_judge_both_orders_cancel_position_bias():
    check = Judge(rubric="names itself Ada")
    always_a = lambda text: "Verdict: A"  # noqa: E731 - a judge that always prefers the first answer
    biased = judge_pairwise(check, always_a, ["Who?"] * 4, ["base"] * 4, ["tuned"] * 4)
    assert biased["ties"] == 4 and biased["win_rate"] == 0.5

    def fair(text: str) -> str:
        a = text.split("[Answer A]\n")[1].split("\n")[0]
        return "Verdict: A" if "Ada" in a else "Verdict: B"

    judged = judge_pairwise(check, fair, ["Who?"] * 2, ["I am a model"] * 2, ["I am Ada"] * 2)
    assert judged["tuned_wins"] == 2 and judged["passed"]
    skipped = judge_pairwise(check, None, ["Who?"], ["a"], ["b"])
    assert "no judge endpoint" in skipped["skipped"]
    criteria = SuccessCriteria(checks=[check])
    assert score(criteria, ["Who?"], ["x"]).checks[0].skipped
