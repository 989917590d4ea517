"""The regression probe: general-ability prompts and text (package data, `general.yaml`), base vs tuned.

    from tools.evaluate.probe import load_probe, compare
    probe = load_probe()
    result = compare(probe, base_answers, tuned_answers, base_ppl, tuned_ppl)
    result["flag"]   # None, or "The tuned model lost general skills: ..."

A fine-tune on narrow data can make a model worse at everything else; the success checks can't see that,
because they only ask about the task. The probe asks about everything else.
"""

from __future__ import annotations

from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tools.evaluate.checks import Check, SuccessCriteria, score

PASS_DROP = 0.15  # tuned may pass at most this share fewer probe prompts than the base...
PPL_RISE = 0.5  # ...and find general text at most 50% more perplexing, before it is flagged


class ProbeItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str
    check: Check


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompts: list[ProbeItem] = Field(..., min_length=1)
    text: str = Field(..., min_length=50)


def load_probe(name: str = "general") -> Probe:
    """The probe shipped as `tools/evaluate/probe/<name>.yaml`."""
    path = resources.files(__name__) / f"{name}.yaml"
    return Probe.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def score_answers(probe: Probe, answers: list[str]) -> tuple[int, list[dict]]:
    """(passed, failures) of one model's answers to the probe prompts, each against its own check."""
    passed, failures = 0, []
    for item, answer in zip(probe.prompts, answers, strict=True):
        report = score(SuccessCriteria(checks=[item.check]), [item.prompt], [answer])
        passed += report.passed
        failures += report.failures
    return passed, failures


def compare(probe: Probe, base: list[str], tuned: list[str], base_ppl: float | None = None,
            tuned_ppl: float | None = None) -> dict:  # fmt: skip
    """Base vs tuned on the probe, with `flag` set when the tuned model dropped beyond the tolerances."""
    n = len(probe.prompts)
    base_passed, _ = score_answers(probe, base)
    tuned_passed, tuned_failures = score_answers(probe, tuned)
    problems = []
    if (base_passed - tuned_passed) / n > PASS_DROP:
        problems.append(f"it passes {tuned_passed} of {n} general prompts, the base {base_passed}")
    if base_ppl and tuned_ppl and (tuned_ppl - base_ppl) / base_ppl > PPL_RISE:
        problems.append(f"perplexity on general text rose {(tuned_ppl - base_ppl) / base_ppl:.0%} ({base_ppl:.1f} -> {tuned_ppl:.1f})")
    flag = f"The tuned model lost general skills: {'; '.join(problems)}." if problems else None
    return {"prompts": n, "base_passed": base_passed, "tuned_passed": tuned_passed, "base_perplexity": base_ppl,
            "tuned_perplexity": tuned_ppl, "flag": flag, "tuned_failures": tuned_failures[:5]}  # fmt: skip
