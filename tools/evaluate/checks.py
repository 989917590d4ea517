"""Success checks: the user's criterion as typed, approvable tests of a model's answers.

    from tools.evaluate.checks import Contains, SuccessCriteria, score, verdict
    criteria = SuccessCriteria(checks=[Contains(phrases=["Ada", "Lumen"], applies_to=["who are you"])], target=0.8)
    base, tuned = score(criteria, examples, base_answers), score(criteria, examples, tuned_answers)
    verdict(criteria, base, tuned).sentence   # "Met: 9 of 10 test prompts pass every check (base: 0 of 10)."

A check applies to the prompts whose text contains one of its `applies_to` keywords (all prompts when
empty). An answer passes when every check that applies to its prompt passes; the pass rate is over the
prompts at least one check applies to. The judge check is pairwise (base vs tuned, both orders, so a
position bias cancels) and so lives in `judge_pairwise`, not in the per-answer `score`.
Cheap to import (pydantic and the standard library): `Plan` carries a `SuccessCriteria`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.evaluate.metrics import normalize, rouge_l, token_f1

_MAX_FAILURES = 5  # failing examples kept per check in a report: enough to see the pattern
_MAX_REGEX = 300  # a pattern longer than this is not a criterion a user typed
_NESTED_QUANTIFIER = re.compile(r"\([^()]{0,200}[+*}][^()]{0,200}\)[+*{]")


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    applies_to: list[str] = Field(default_factory=list, description="Prompt keywords (any, case-insensitive); empty: every prompt.")
    description: str = Field("", description="The user's words this check came from, shown on the plan card.")

    def applies(self, prompt: str) -> bool:
        lowered = prompt.lower()
        return not self.applies_to or any(k.lower() in lowered for k in self.applies_to)


class Contains(_Check):
    """The answer mentions every phrase (or any one, with `require='any'`)."""

    kind: Literal["contains"] = "contains"
    phrases: list[str] = Field(..., min_length=1)
    require: Literal["all", "any"] = "all"
    case_sensitive: bool = False

    def passes(self, answer: str, reference: str) -> tuple[bool, str]:
        found = [p for p in self.phrases if _has(answer, p, self.case_sensitive)]
        ok = len(found) == len(self.phrases) if self.require == "all" else bool(found)
        missing = [p for p in self.phrases if p not in found]
        return ok, "" if ok else f"missing {', '.join(repr(p) for p in missing)}"


class NotContains(_Check):
    """The answer mentions none of the phrases."""

    kind: Literal["not_contains"] = "not_contains"
    phrases: list[str] = Field(..., min_length=1)
    case_sensitive: bool = False

    def passes(self, answer: str, reference: str) -> tuple[bool, str]:
        found = [p for p in self.phrases if _has(answer, p, self.case_sensitive)]
        return not found, "" if not found else f"contains {', '.join(repr(p) for p in found)}"


class Regex(_Check):
    """The answer matches a regular expression (searched anywhere unless it anchors itself)."""

    kind: Literal["regex"] = "regex"
    pattern: str = Field(..., min_length=1, max_length=_MAX_REGEX)
    case_sensitive: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern {value!r} is not a valid regular expression ({exc})") from None
        if _NESTED_QUANTIFIER.search(value):
            # (a+)+ style patterns backtrack exponentially, and Python's re has no timeout.
            raise ValueError(f"pattern {value!r} repeats a repeated group; write it without nesting + or * inside (...)+")
        return value

    def passes(self, answer: str, reference: str) -> tuple[bool, str]:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        ok = re.search(self.pattern, answer, flags) is not None
        return ok, "" if ok else f"does not match /{self.pattern}/"


class Label(_Check):
    """Classification: the answer is exactly the reference label (case and surrounding punctuation ignored)."""

    kind: Literal["label"] = "label"
    labels: list[str] = Field(default_factory=list, description="The allowed labels, when known (shown; not required).")

    def passes(self, answer: str, reference: str) -> tuple[bool, str]:
        ok = normalize(answer) == normalize(reference)
        return ok, "" if ok else f"label {answer.strip()[:40]!r}, expected {reference.strip()[:40]!r}"


class Similarity(_Check):
    """Close enough to the reference answer: token F1 or ROUGE-L at or above a threshold."""

    kind: Literal["similarity"] = "similarity"
    metric: Literal["token_f1", "rouge_l"] = "rouge_l"
    threshold: float = Field(0.5, gt=0, le=1)

    def passes(self, answer: str, reference: str) -> tuple[bool, str]:
        value = (token_f1 if self.metric == "token_f1" else rouge_l)(answer, reference)
        ok = value >= self.threshold
        return ok, "" if ok else f"{self.metric} {value:.2f} < {self.threshold:.2f}"


class JsonSchema(_Check):
    """The answer is valid JSON (a ```json fence is allowed) that satisfies a JSON Schema."""

    kind: Literal["json_schema"] = "json_schema"
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    def passes(self, answer: str, reference: str) -> tuple[bool, str]:
        import jsonschema

        text = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", answer)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return False, f"not JSON ({exc.msg} at char {exc.pos})"
        try:
            jsonschema.validate(value, self.schema_)
        except jsonschema.ValidationError as exc:
            return False, f"JSON fails the schema: {exc.message[:120]}"
        return True, ""


class MaxLength(_Check):
    """The answer is at most `limit` words (or characters)."""

    kind: Literal["max_length"] = "max_length"
    limit: int = Field(..., ge=1)
    unit: Literal["words", "characters"] = "words"

    def passes(self, answer: str, reference: str) -> tuple[bool, str]:
        size = len(answer.split()) if self.unit == "words" else len(answer)
        ok = size <= self.limit
        return ok, "" if ok else f"{size} {self.unit} > {self.limit}"


class ToolCall(_Check):
    """Function calling: the answer calls the same tools with the same arguments as the reference.

    Parallel calls match in any order. The reference holds the expected calls as `<tool_call>` blocks
    (`tool_calls_text`); the answer may write them that way or as bare JSON (`{"name", "arguments"}`).
    """

    kind: Literal["tool_call"] = "tool_call"
    arguments: Literal["exact", "names"] = Field("exact", description="exact: same names and arguments; names: names only.")

    def passes(self, answer: str, reference: str) -> tuple[bool, str]:
        expected, got = tool_calls_in(reference) or [], tool_calls_in(answer) or []
        if self.arguments == "names":
            want, have = sorted(n for n, _ in expected), sorted(n for n, _ in got)
        else:
            want, have = sorted(map(_canonical, expected)), sorted(map(_canonical, got))
        if want == have:
            return True, ""
        if not got:
            return False, f"no tool call, expected {', '.join(n for n, _ in expected)}"
        names, wanted = ", ".join(n for n, _ in got), ", ".join(n for n, _ in expected)
        same_names = sorted(n for n, _ in expected) == sorted(n for n, _ in got)
        return False, f"called {names} with other arguments" if same_names else f"called {names}, expected {wanted}"


_TOOL_CALL = re.compile(r"<tool_call>\s{0,20}(.{0,20000}?)\s{0,20}</tool_call>", re.DOTALL)


def tool_calls_text(calls: Sequence[dict]) -> str:
    """OpenAI `tool_calls` as `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` lines: the text a
    reference holds for a turn that calls tools (arguments parsed from OpenAI's JSON string)."""
    lines = []
    for call in calls:
        function = call.get("function", call) if isinstance(call, dict) else {}
        args = function.get("arguments")
        parsed = _json_or_none(args) if isinstance(args, str) else None  # unparseable: compared as written
        args = args if parsed is None else parsed
        body = json.dumps({"name": function.get("name"), "arguments": args if args is not None else {}}, ensure_ascii=False)
        lines.append(f"<tool_call>{body}</tool_call>")
    return "\n".join(lines)


def tool_calls_in(text: str) -> list[tuple[str, Any]] | None:
    """(name, arguments) of each call written in `text`: `<tool_call>` blocks, else the whole text as JSON
    (a call, a list of calls, or `{"tool_calls": [...]}`), else one JSON call per line; None when it holds no call."""
    blocks = _TOOL_CALL.findall(text or "")
    values = [_json_or_none(b) for b in blocks] if blocks else [_json_or_none(_unfence(text or ""))]
    if values == [None]:
        values = [_json_or_none(line) for line in (text or "").splitlines()[:50] if line.strip().startswith("{")]
    calls = []
    for value in values:
        if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
            value = value["tool_calls"]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("function"), dict):
                item = item["function"]  # OpenAI's {"type": "function", "function": {...}}
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                args = item.get("arguments", item.get("parameters", {}))
                parsed = _json_or_none(args) if isinstance(args, str) else None
                calls.append((item["name"], args if parsed is None else parsed))
    return calls or None


def _unfence(text: str) -> str:
    return re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def _canonical(call: tuple[str, Any]) -> str:
    return json.dumps(call, sort_keys=True, ensure_ascii=False)


class Judge(_Check):
    """An LLM judge compares base and tuned answers with this rubric, both orders; needs a judge endpoint."""

    kind: Literal["judge"] = "judge"
    rubric: str = Field(..., min_length=3, max_length=2000)
    min_win_rate: float = Field(0.5, ge=0, le=1, description="Tuned must win at least this share of decided comparisons.")


Check = Annotated[Contains | NotContains | Regex | Label | Similarity | JsonSchema | MaxLength | ToolCall | Judge,
                  Field(discriminator="kind")]  # fmt: skip


class SuccessCriteria(BaseModel):
    """What "done" means for this fine-tune: the checks, the share of test prompts that must pass them all,
    and extra prompts asked besides the test split (e.g. three ways to ask who the model is)."""

    model_config = ConfigDict(extra="forbid")

    checks: list[Check] = Field(default_factory=list)
    target: float = Field(0.8, gt=0, le=1, description="Share of test prompts that must pass every check.")
    prompts: list[str] = Field(default_factory=list, description="Prompts asked besides the test split (no reference).")
    proposed: bool = Field(False, description="True when the assistant proposed these from the data (the user gave none).")
    # "Keep going until met": approved with the plan; 1 round means train once and report.
    max_rounds: int = Field(1, ge=1, le=20, description="Train again (diagnosed, re-planned) until met, at most this many rounds.")
    budget_min: float | None = Field(None, gt=0, description="...or until this many minutes are spent.")

    def describe(self) -> list[str]:
        """One plain line per check, for the plan card and the CLI."""
        return [describe(c) for c in self.checks]


def describe(check: Any) -> str:
    scope = f" (prompts mentioning {', '.join(repr(k) for k in check.applies_to[:4])})" if check.applies_to else ""
    text = {
        "contains": lambda c: f"answer mentions {(' and ' if c.require == 'all' else ' or ').join(repr(p) for p in c.phrases)}",
        "not_contains": lambda c: f"answer never mentions {', '.join(repr(p) for p in c.phrases)}",
        "regex": lambda c: f"answer matches /{c.pattern}/",
        "label": lambda c: "answer is exactly the expected label" + (f" (one of {', '.join(c.labels[:8])})" if c.labels else ""),
        "similarity": lambda c: f"{'ROUGE-L' if c.metric == 'rouge_l' else 'token F1'} vs the reference ≥ {c.threshold:.2f}",
        "json_schema": lambda c: f"answer is JSON matching {json.dumps(c.schema_)[:80]}",
        "max_length": lambda c: f"answer is at most {c.limit} {c.unit}",
        "tool_call": lambda c: "answer calls the same tools" + (" with the same arguments" if c.arguments == "exact" else "") + " as the reference",
        "judge": lambda c: f"an LLM judge prefers the tuned answer ({c.rubric[:60]})",
    }[check.kind](check)
    return text + scope


def _spaced_word_char(ch: str) -> bool:
    """A word character of a script that puts spaces between words. Chinese, Japanese, Thai, Lao, Khmer and
    Myanmar don't: "小明" must be found in "我是小明。", so no word boundary is asked for there."""
    if not ch or not (ch.isalnum() or ch == "_"):
        return False
    code = ord(ch)
    unspaced = (0x0E00 <= code <= 0x0EFF or 0x1000 <= code <= 0x109F or 0x1780 <= code <= 0x17FF
                or 0x2E80 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF or code >= 0x20000)
    return not unspaced


def _has(text: str, phrase: str, case_sensitive: bool) -> bool:
    """`phrase` appears in `text` as whole words: "Ada" is in "I am Ada." but not in "Canada" (a random or
    half-trained model emits such fragments, and they must not pass a check on a name)."""
    phrase = phrase.strip()
    left = r"(?<!\w)" if _spaced_word_char(phrase[:1]) else ""
    right = r"(?!\w)" if _spaced_word_char(phrase[-1:]) else ""
    flags = 0 if case_sensitive else re.IGNORECASE
    body = r"\s+".join(re.escape(word) for word in phrase.split())  # "Ada  Lovelace" across a line break too
    return re.search(left + body + right, text, flags) is not None


# --- scoring --------------------------------------------------------------------------------------------


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str
    kind: str
    tested: int = 0
    passed: int = 0
    pass_rate: float | None = None
    skipped: str | None = None  # why this check was not scored here (e.g. the judge is pairwise)
    failures: list[dict[str, str]] = Field(default_factory=list)


class CheckReport(BaseModel):
    """One model's answers against the criteria: per check and overall (every applicable check passes)."""

    model_config = ConfigDict(extra="forbid")

    tested: int = 0
    passed: int = 0
    pass_rate: float = 0.0
    checks: list[CheckResult] = Field(default_factory=list)
    failures: list[dict[str, str]] = Field(default_factory=list)


def score(criteria: SuccessCriteria, prompts: Sequence[str], answers: Sequence[str],
          references: Sequence[str] | None = None) -> CheckReport:  # fmt: skip
    """Score answers to `prompts` (references: the expected answers, "" where there is none)."""
    references = list(references) if references is not None else [""] * len(prompts)
    if not len(prompts) == len(answers) == len(references):
        raise ValueError(f"{len(prompts)} prompts, {len(answers)} answers and {len(references)} references; they must match")
    results = [CheckResult(check=describe(c), kind=c.kind) for c in criteria.checks]
    report = CheckReport(checks=results)
    for prompt, answer, reference in zip(prompts, answers, references, strict=True):
        applied, reasons = 0, []
        for check, result in zip(criteria.checks, results, strict=True):
            if not _scorable(check, reference, result) or not check.applies(prompt):
                continue
            ok, why = check.passes(answer, reference)
            applied, result.tested, result.passed = applied + 1, result.tested + 1, result.passed + ok
            if not ok:
                reasons.append(why)
                if len(result.failures) < _MAX_FAILURES:
                    result.failures.append({"prompt": prompt[:300], "answer": answer[:300], "why": why})
        if applied:
            report.tested += 1
            report.passed += not reasons
            if reasons and len(report.failures) < _MAX_FAILURES:
                report.failures.append({"prompt": prompt[:300], "answer": answer[:300], "why": "; ".join(reasons)})
    for result in results:
        result.pass_rate = result.passed / result.tested if result.tested else None
    report.pass_rate = report.passed / report.tested if report.tested else 0.0
    return report


def outcomes(criteria: SuccessCriteria, prompt: str, answer: str, reference: str) -> list[tuple[int, bool, str]]:
    """(check index, passed, why) for each check that applies to this prompt and can be scored against this
    reference; [] when none does (the prompt then counts in no pass rate). `score` counts the same way."""
    found = []
    for index, check in enumerate(criteria.checks):
        if _scorable(check, reference, CheckResult(check="", kind=check.kind)) and check.applies(prompt):
            found.append((index, *check.passes(answer, reference)))
    return found


def _scorable(check: Any, reference: str, result: CheckResult) -> bool:
    if check.kind == "judge":
        result.skipped = "pairwise: scored base vs tuned by judge_pairwise"
        return False
    if check.kind in ("label", "similarity") and not reference:
        return False  # a probe prompt has no reference to compare with
    if check.kind == "tool_call":
        return tool_calls_in(reference) is not None
    if check.kind in ("label", "similarity") and _TOOL_CALL.search(reference):
        return False  # a reference that calls tools is the tool-call check's to score
    return True


def judge_pairwise(check: Judge, ask: Callable[[str], str] | None, prompts: Sequence[str], base: Sequence[str],
                   tuned: Sequence[str]) -> dict[str, Any]:  # fmt: skip
    """Ask the judge about each prompt twice, tuned shown first then second, so position bias cancels.

    `ask(text) -> reply` calls the judge; None (no judge configured) skips the check with that reason.
    A pair counts as a win only when both orders prefer tuned, a loss when both prefer base, else a tie.
    """
    if ask is None:
        return {"check": describe(check), "skipped": "no judge endpoint configured (eval --judge-url/--judge-model)"}
    tally = {"tuned_wins": 0, "base_wins": 0, "ties": 0, "unparsed": 0}
    for prompt, b, t in zip(prompts, base, tuned, strict=True):
        first, second = _judge_once(ask, check.rubric, prompt, t, b), _judge_once(ask, check.rubric, prompt, b, t)
        if first is None or second is None:
            tally["unparsed"] += 1
            continue
        tuned_votes = (first == "A") + (second == "B")
        base_votes = (first == "B") + (second == "A")
        key = "tuned_wins" if tuned_votes == 2 else "base_wins" if base_votes == 2 else "ties"
        tally[key] += 1
    decided = tally["tuned_wins"] + tally["base_wins"] + tally["ties"]
    rate = (tally["tuned_wins"] + 0.5 * tally["ties"]) / decided if decided else None
    return {"check": describe(check), "win_rate": rate, "passed": rate is not None and rate >= check.min_win_rate,
            **tally}  # fmt: skip


_JUDGE_VERDICT = re.compile(r"verdict\s{0,3}[:\-]?\s{0,3}\**\s{0,3}(A|B|tie)\b", re.IGNORECASE)


def _judge_once(ask: Callable[[str], str], rubric: str, prompt: str, a: str, b: str) -> str | None:
    text = (f"Compare two answers to the same request by this rubric: {rubric}\n\n[Request]\n{prompt}\n\n"
            f"[Answer A]\n{a}\n\n[Answer B]\n{b}\n\nEnd with one line: \"Verdict: A\", \"Verdict: B\" or \"Verdict: tie\".")  # fmt: skip
    found = _JUDGE_VERDICT.findall(ask(text) or "")
    if not found:
        return None
    return "tie" if found[-1].lower() == "tie" else found[-1].upper()


# --- the verdict ----------------------------------------------------------------------------------------


class Verdict(BaseModel):
    """Met or not, by how much, in one sentence; what the chat, the report and `auto --json` show."""

    model_config = ConfigDict(extra="forbid")

    met: bool
    sentence: str
    target: float
    base_pass_rate: float
    tuned_pass_rate: float
    tested: int
    base_loss: float | None = None
    tuned_loss: float | None = None
    judge: list[dict[str, Any]] = Field(default_factory=list)


def verdict(criteria: SuccessCriteria, base: CheckReport, tuned: CheckReport, base_loss: float | None = None,
            tuned_loss: float | None = None, judge: list[dict[str, Any]] | None = None) -> Verdict:  # fmt: skip
    """Met when the tuned pass rate reaches the target and every judged check passed."""
    judge = judge or []
    judged_ok = all(j.get("passed", True) for j in judge if not j.get("skipped"))
    n, need = tuned.tested, _needed(criteria.target, tuned.tested)
    met = n > 0 and tuned.passed >= need and judged_ok
    head = f"{tuned.passed} of {n} test prompts pass every check (base: {base.passed} of {base.tested})"
    if not criteria.checks or n == 0:
        sentence = "Not met: no check applied to any test prompt; add a check (or prompts it applies to)."
    elif met:
        sentence = f"Met: {head}."
    else:
        short = f", {need - tuned.passed} short of the target {need} of {n}" if tuned.passed < need else ""
        why = "" if judged_ok else "; the judge did not prefer the tuned answers"
        sentence = f"Not met: {head}{short}{why}."
    if base_loss is not None and tuned_loss is not None and base_loss > 0:
        change = (tuned_loss - base_loss) / base_loss
        sentence += f" Held-out loss {'fell' if change < 0 else 'rose'} {abs(change):.0%} ({base_loss:.3f} -> {tuned_loss:.3f})."
    return Verdict(met=met, sentence=sentence, target=criteria.target, base_pass_rate=base.pass_rate,
                   tuned_pass_rate=tuned.pass_rate, tested=n, base_loss=base_loss, tuned_loss=tuned_loss,
                   judge=judge)  # fmt: skip


def _needed(target: float, n: int) -> int:
    return math.ceil(target * n - 1e-9)
