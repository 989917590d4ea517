"""The user's words about success -> `SuccessCriteria` (typed checks), and back again when they edit them.

    from assistant.criteria import criteria_for, edit_criteria
    criteria, note = criteria_for("when someone asks who it is, it says it is Ada from Lumen", rows)
    criteria = edit_criteria(criteria, "also require it to mention the phone number", rows)

Rule-based on purpose: the checks decide whether a run met its goal, so the same words must always give the
same checks, offline. Every regex here is bounded ({0,n} instead of * around free text, no nested
repetition), so a pasted essay can't make a pattern backtrack for minutes. When the user states no
criterion, `propose_from_data` derives one from the training rows and the note says so.
`rows` are (prompt, reference answer) pairs from the prepared data (train split; never the test split).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

from assistant.paths_in_text import without_paths
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
    describe,
)
from tools.evaluate.metrics import rouge_l

Rows = Sequence[tuple[str, str]]
_I = re.IGNORECASE
_MAX_WORDS = 2000  # longer input is not a criterion; cut before any regex runs

IDENTITY_KEYWORDS = ["who are you", "who r u", "your name", "call you", "made you", "created you", "built you",
                     "trained you", "developed you", "are you", "yourself", "who is this", "who am i talking"]  # fmt: skip
IDENTITY_PROMPTS = ["Who are you?", "What is your name?", "Who made you?"]

_NAME = r"([A-Z][\w\-]{0,40}(?: [A-Z][\w\-]{0,40}){0,2})"
_IDENTITY = re.compile(r"\b(?:who (?:it|you|they) (?:is|are)|its name|your name|identity|introduce|who (?:made|built|created))\b", _I)
_SAYS_NAME = re.compile(r"\b(?:it is|it's|i am|i'm|is called|named|called|as)\s{1,3}" + _NAME
                        + r"(?:,?\s{1,3}(?:an? [\w ]{0,30}?\s)?(?:from|by|made by|built by|of|at|trained by)\s{1,3}" + _NAME + r")?")  # fmt: skip
_QUOTED = re.compile(r"[\"“']([^\"”'\n]{1,80})[\"”']")
_LIMIT = re.compile(r"\b(?:under|at most|no more than|fewer than|less than|max(?:imum)?(?: of)?|within|up to)\s{1,3}(\d{1,5})\s{1,3}(words?|characters?|chars?)\b", _I)
_JSON = re.compile(r"\bjson\b", _I)
_SORT = re.compile(r"\b(?:sort|route|tag|bucket|triage|classif\w{0,8}|categori[sz]\w{0,3})\b", _I)
_FIELDS = re.compile(r"\b(?:fields?|keys?|properties)\s{1,3}([\w\-]{1,40}(?:\s{0,3}(?:,|and|&)\s{0,3}[\w\-]{1,40}){0,15})", _I)
_LABEL = re.compile(r"\b(?:labels?|categor(?:y|ies)|class(?:es|ify|ification)?|sentiment)\b", _I)
_MUST_NOT = re.compile(r"\b(?:never|must not|mustn't|should not|shouldn't|doesn't|does not|don't|do not|without)\s{1,3}(?:mention|say|include|use|name|reveal|contain)s?\s{1,3}(.{1,80}?)(?:[.;!?](?!\S)|\n|$)", _I)
_MUST = re.compile(r"\b(?:mentions?|says?|includes?|contains?|gives?|names?|requires? it to mention|must mention)\s{1,3}(.{1,80}?)(?:[.;!?](?!\S)|\n|$)", _I)
_ENDS = re.compile(r"\bends? with\s{1,3}([\"“'][^\"”'\n]{1,80}[\"”']|.{1,80}?(?:[.;!?\n]|$))", _I)
_STARTS = re.compile(r"\b(?:starts?|begins?) with\s{1,3}([\"“'][^\"”'\n]{1,80}[\"”']|.{1,80}?(?:[.;!?\n]|$))", _I)
# /…/ standing alone (flags after it allowed: /ada/i), not a piece of a path or a URL
_PATTERN = re.compile(r"(?<![\w/:])/([^/\n]{1,200})/([imsx]{0,4})(?![\w/])")
_SIMILAR = re.compile(r"\b(?:like the (?:examples?|references?|answers?)|close to the (?:reference|answers?)|similar to)\b", _I)
_TARGET = re.compile(r"\b(\d{1,3})\s{0,2}(?:%|percent)|\b(\d{1,3}) (?:out of|of) (\d{1,3})\b", _I)
_REMOVE = re.compile(r"\b(?:drop|remove|delete|no longer require|don't require|do not require)\b", _I)
_ROUNDS = re.compile(r"\b(?:keep going|keep training|until (?:it is |it's )?met|try again)\b", _I)
_ROUND_N = re.compile(r"\b(?:at most|up to|max(?:imum)?)?\s{0,3}(\d{1,2})\s{1,3}rounds?\b", _I)
_MINUTES = re.compile(r"\b(\d{1,4})\s{0,3}(?:min(?:ute)?s?|m)\b|\b(\d{1,2}(?:\.\d)?)\s{0,3}(?:hours?|h)\b", _I)
_LINK = re.compile(r"\b(?:https?://|www\.)[^\s\"'<>]{1,200}", _I)
_PHONE = re.compile(r"\+?\d[\d\-\s().]{6,18}\d")
_EMAIL = re.compile(r"[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63}){1,4}")
_NOISE = {"the", "a", "an", "it", "that", "this", "its", "their", "always", "clearly", "also"}


def criteria_for(words: str | None, rows: Rows = ()) -> tuple[SuccessCriteria, str]:
    """Checks from the user's words; from the data when the words give none. Returns (criteria, a note)."""
    parsed = parse_criteria(words or "", rows) if words else SuccessCriteria()
    if parsed.checks:
        return parsed, "Success checks from your words: " + "; ".join(parsed.describe()) + "."
    proposed, why = propose_from_data(rows)
    lead = "You did not say how to tell success, so" if not words else f'I could not turn "{words[:80]}" into a check, so'
    return proposed, f"{lead} I propose {why} Change it in words, e.g. \"it must mention X\" or \"under 50 words\"."


def _statements(words: str) -> str:
    """The words a check is read from: cut to _MAX_WORDS, file paths out (a quoted path or a URL stays: an
    answer may have to give it)."""
    return without_paths(" ".join(words.split()[:_MAX_WORDS]), urls=False, quoted=False)


def parse_criteria(words: str, rows: Rows = ()) -> SuccessCriteria:
    """Every check the words state (none when they state none); see the module docstring for the phrases."""
    text = _statements(words)
    checks, prompts = [], []
    identity = _identity_check(text)
    if identity:
        checks.append(identity)
        prompts = list(IDENTITY_PROMPTS)
    checks += _json_checks(text) + _length_checks(text)
    # A label check when the words name labels and correctness ("gets the label right"), or name a sorting
    # task ("sort each ticket into billing, shipping or account") over data whose answers are a few labels.
    if _LABEL.search(text) and re.search(r"\b(?:right|correct|exact|accura|match|predict)", text, _I) or (
            (_LABEL.search(text) or _SORT.search(text)) and _labels(rows)):
        checks.append(Label(labels=_labels(rows), description=text[:200]))
    if _SIMILAR.search(text):
        checks.append(Similarity(metric="rouge_l", threshold=_similarity_threshold(rows), description=text[:200]))
    checks += _phrase_checks(text, rows, skip_names=identity.phrases if identity else [])
    for match in _PATTERN.finditer(text):
        try:
            checks.append(Regex(pattern=match.group(1), description=text[:200]))
        except ValueError:
            continue  # not a usable pattern (invalid or catastrophic); the words still say what they say
    return SuccessCriteria(checks=_unique(checks), target=_target(text), prompts=prompts, **_rounds(text))


def edit_criteria(criteria: SuccessCriteria, words: str, rows: Rows = ()) -> SuccessCriteria:
    """Apply an edit in words: "also require ..." adds checks, "drop the length check" removes by kind,
    "at least 90%" changes the target. Unrecognised words leave the criteria as they were."""
    text = _statements(words)
    checks = list(criteria.checks)
    if _REMOVE.search(text):
        kinds = _kinds_named(text)
        checks = [c for c in checks if c.kind not in kinds]
        added = []
    else:
        added = parse_criteria(text, rows).checks
    target = _target(text) if _TARGET.search(text) else criteria.target
    rounds = _rounds(text) or {"max_rounds": criteria.max_rounds, "budget_min": criteria.budget_min}
    prompts = criteria.prompts + [p for p in (IDENTITY_PROMPTS if any(c.applies_to == IDENTITY_KEYWORDS for c in added) else [])
                                  if p not in criteria.prompts]  # fmt: skip
    return SuccessCriteria(checks=_unique(checks + added), target=target, prompts=prompts, proposed=False, **rounds)


_ABOUT_CHECKS = re.compile(r"\b(?:checks?|criteri\w{0,4}|success|must|requires?|match(?:es|ing)?|pattern|mentions?|never|says?|pass(?:es)?|target|rounds?|"
                           r"keep going|until met|words|characters|json|labels?|regex|similar|judge|ends? with|starts? with)\b", _I)
_VALIDATION_SHARE = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3})? ?% ?(?:for |as )?(?:validation|holdout|held[- ]out|eval)", _I)


def edit_in_words(criteria: SuccessCriteria, words: str, rows: Rows = ()) -> tuple[SuccessCriteria, list[str]]:
    """`edit_criteria` for a plan edit that may also change other settings ("use rank 32, and it must mention
    Acme"): words that say nothing about the checks leave them alone. Returns (criteria, what changed)."""
    text = _VALIDATION_SHARE.sub(" ", _statements(words))  # "20% for validation" is no target
    if not _ABOUT_CHECKS.search(text):
        return criteria, []
    new = edit_criteria(criteria, text, rows)
    before, after = criteria.describe(), new.describe()
    changed = [f"check added: {line}" for line in after if line not in before]
    changed += [f"check dropped: {line}" for line in before if line not in after]
    if new.target != criteria.target:
        changed.append(f"target → {new.target:.0%} of test prompts")
    if (new.max_rounds, new.budget_min) != (criteria.max_rounds, criteria.budget_min):
        budget = f" or {new.budget_min:g} minutes" if new.budget_min else ""
        changed.append(f"keep going until met: at most {new.max_rounds} rounds{budget}")
    return (new, changed) if changed else (criteria, [])


def propose_from_data(rows: Rows) -> tuple[SuccessCriteria, str]:
    """A check the data itself suggests, with the reason in words (ends with a period)."""
    answers = [a.strip() for _, a in rows if a and a.strip()]
    if not answers:
        return SuccessCriteria(checks=[Similarity()], proposed=True), "ROUGE-L ≥ 0.50 against the reference answers."
    labels = _labels(rows)
    if labels:
        check = Label(labels=labels, description="proposed: the answers are a few short labels")
        return SuccessCriteria(checks=[check], proposed=True), (
            f"exact label accuracy: the answers are {len(labels)} short labels ({', '.join(labels[:6])}).")
    if all(_is_json(a) for a in answers):
        keys = set.intersection(*(set(json.loads(_unfence(a))) if isinstance(json.loads(_unfence(a)), dict) else set()
                                  for a in answers))  # fmt: skip
        schema = {"type": "object", "required": sorted(keys)} if keys else {}
        return SuccessCriteria(checks=[JsonSchema(schema=schema)], proposed=True), (
            f"valid JSON{' with fields ' + ', '.join(sorted(keys)) if keys else ''}: every answer in the data is JSON.")
    names = _shared_names(answers)
    if names:
        check = Contains(phrases=names, description="proposed: every answer names these")
        return SuccessCriteria(checks=[check], prompts=[], proposed=True), (
            f"that answers mention {' and '.join(names)}: most answers in the data do.")
    shape = _common_shape(answers)
    if shape:
        return SuccessCriteria(checks=[Regex(pattern=shape, description="proposed: the answers' common shape")], proposed=True), (
            f"that answers keep the data's fixed format (regex /{shape}/).")
    threshold = _similarity_threshold(rows)
    check = Similarity(metric="rouge_l", threshold=threshold, description="proposed: closer to the reference than a generic answer")
    return SuccessCriteria(checks=[check], proposed=True), (
        f"ROUGE-L ≥ {threshold:.2f} against each reference answer (a generic in-domain answer scores about "
        f"{max(threshold - 0.2, 0):.2f}).")


# --- the pieces -----------------------------------------------------------------------------------------


def _identity_check(text: str) -> Contains | None:
    if not _IDENTITY.search(text):
        return None
    said = [m for m in _SAYS_NAME.finditer(text) if m.group(1).lower() not in _NOISE]
    if not said:
        return None
    match = said[-1]
    phrases = [p for p in (match.group(1), match.group(2)) if p]
    return Contains(phrases=phrases, applies_to=list(IDENTITY_KEYWORDS), description=text[:200])


def _json_checks(text: str) -> list:
    if not _JSON.search(text):
        return []
    schema: dict = {"type": "object"}
    fields = _FIELDS.search(text)
    if fields:
        names = [f for f in re.split(r"\s{0,3}(?:,|\band\b|&)\s{0,3}", fields.group(1)) if f.strip()]
        schema["required"] = names
    return [JsonSchema(schema=schema, description=text[:200])]


def _length_checks(text: str) -> list:
    checks = []
    for number, unit in _LIMIT.findall(text):
        checks.append(MaxLength(limit=int(number), unit="words" if unit.lower().startswith("word") else "characters",
                                description=text[:200]))  # fmt: skip
    return checks


def _phrase_checks(text: str, rows: Rows, skip_names: list[str]) -> list:
    checks: list = []
    for match in _MUST_NOT.finditer(text):
        phrases = _phrases(match.group(1), rows)
        if phrases:
            checks.append(NotContains(phrases=phrases, description=text[:200]))
    cleaned = _MUST_NOT.sub(" ", text)
    for match in _MUST.finditer(cleaned):
        phrases = [p for p in _phrases(match.group(1), rows) if p not in skip_names]
        if phrases and not _IDENTITY.search(match.group(0)):
            checks.append(Contains(phrases=phrases, description=text[:200]))
    for match in _ENDS.finditer(cleaned):
        quoted = _QUOTED.search(match.group(1))
        if quoted:
            checks.append(Regex(pattern=re.escape(quoted.group(1)) + r"\W{0,5}$", description=text[:200]))
        else:
            rubric = f"The answer ends with {match.group(1).strip().rstrip('.;!?')}."
            checks.append(Judge(rubric=rubric, description=text[:200]))
    for match in _STARTS.finditer(cleaned):
        quoted = _QUOTED.search(match.group(1))
        if quoted:
            checks.append(Regex(pattern=r"^\W{0,5}" + re.escape(quoted.group(1)), description=text[:200]))
    return checks


def _phrases(fragment: str, rows: Rows) -> list[str]:
    """Quoted phrases, else a value found in the data (a phone number, an email), else capitalised names."""
    quoted = [q.strip() for q in _QUOTED.findall(fragment) if q.strip()]
    if quoted:
        return quoted
    lowered = fragment.lower()
    for word, finder in (("phone", _PHONE), ("number", _PHONE), ("email", _EMAIL), ("address", _EMAIL)):
        if word in lowered:
            found = Counter(m.strip() for _, a in rows for m in finder.findall(a))
            if found:
                return [found.most_common(1)[0][0]]
    # "must include (the link) https://acme.com/returns", "give support@acme.com": the exact string, when it is
    # what the words name first (not a link mentioned later in the clause: "mention Ada, docs at https://…").
    head = " ".join(fragment.split()[:3])
    literal = [m.rstrip(".,;:!?)'\"") for m in _LINK.findall(head)] + _EMAIL.findall(head)
    if literal:
        return literal[:4]
    names = re.findall(r"\b[A-Z][\w\-]{1,40}\b", fragment)
    return [n for n in names if n.lower() not in _NOISE and n != "I"][:4]


def _labels(rows: Rows) -> list[str]:
    """The distinct answers when the data looks like classification: few, short, each used repeatedly."""
    answers = [a.strip() for _, a in rows if a and a.strip()]
    if len(answers) < 6:
        return []
    counts = Counter(answers)
    short = all(len(a.split()) <= 3 for a in counts)
    if short and len(counts) <= max(2, min(20, len(answers) // 3)):
        return [label for label, _ in counts.most_common()]
    return []


def _shared_names(answers: list[str]) -> list[str]:
    """Capitalised words (not sentence starts) found in at least 60% of answers: a name the data teaches."""
    counts: Counter[str] = Counter()
    for answer in answers:
        words = re.findall(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z\-]{1,40}\b", answer)
        counts.update({w for w in words if w not in ("I", "AI", "OK")})
    names = [w for w, n in counts.most_common(3) if n >= 0.6 * len(answers)][:2]
    joined = " ".join(answers)
    return sorted(names, key=joined.find)  # in reading order, not set order


def _common_shape(answers: list[str]) -> str | None:
    """A regex for answers that share a fixed prefix (e.g. "Category: ...") or a fixed ending."""
    prefix = _common_prefix(answers)
    if len(prefix.strip()) >= 4:
        return "^" + re.escape(prefix.strip())
    suffix = _common_prefix([a[::-1] for a in answers])[::-1]
    if len(suffix.strip()) >= 4:
        return re.escape(suffix.strip()) + r"\W{0,5}$"
    return None


def _common_prefix(texts: list[str]) -> str:
    first, last = min(texts), max(texts)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def _similarity_threshold(rows: Rows) -> float:
    """0.2 above what a generic in-domain answer scores (each reference vs another one), within 0.3..0.7."""
    answers = [a for _, a in rows if a][:60]
    if len(answers) < 2:
        return 0.5
    pairs = [rouge_l(answers[i], answers[(i + 1) % len(answers)]) for i in range(len(answers))]
    generic = sorted(pairs)[len(pairs) // 2]
    return round(min(0.7, max(0.3, generic + 0.2)), 2)


def _rounds(text: str) -> dict:
    """ "keep going until met, at most 3 rounds or 30 minutes" -> {max_rounds: 3, budget_min: 30}."""
    if not (_ROUNDS.search(text) or _ROUND_N.search(text)):
        return {}
    found = _ROUND_N.search(text)
    minutes = _MINUTES.search(text)
    budget = None
    if minutes:
        budget = float(minutes.group(1)) if minutes.group(1) else float(minutes.group(2)) * 60
    return {"max_rounds": min(20, max(1, int(found.group(1)))) if found else 3, "budget_min": budget}


def _target(text: str) -> float:
    match = _TARGET.search(text)
    if not match:
        return 0.8
    if match.group(1):
        return min(1.0, max(0.01, int(match.group(1)) / 100))
    part, whole = int(match.group(2)), int(match.group(3))
    return min(1.0, max(0.01, part / whole)) if whole else 0.8


def _kinds_named(text: str) -> set[str]:
    words = {"length": "max_length", "words": "max_length", "json": "json_schema", "schema": "json_schema",
             "label": "label", "similar": "similarity", "rouge": "similarity", "regex": "regex", "format": "regex",
             "judge": "judge", "mention": "contains", "name": "contains", "never": "not_contains"}  # fmt: skip
    lowered = text.lower()
    return {kind for word, kind in words.items() if word in lowered}


def _unique(checks: list) -> list:
    seen, out = set(), []
    for check in checks:
        key = check.model_dump_json(exclude={"description"})
        if key not in seen:
            seen.add(key)
            out.append(check)
    return out


def _unfence(text: str) -> str:
    return re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text)


def _is_json(text: str) -> bool:
    try:
        json.loads(_unfence(text))
    except json.JSONDecodeError:
        return False
    return True


def card_lines(criteria: SuccessCriteria) -> list[str]:
    """The plan card's "Success checks" section."""
    if not criteria.checks:
        return []
    head = f"**Success checks** (target: {criteria.target:.0%} of test prompts pass every check"
    head += "; proposed from your data — say how you'd judge success to change them)" if criteria.proposed else ")"
    lines = [head] + [f"- {describe(c)}" for c in criteria.checks]
    if criteria.prompts:
        lines.append(f"- also asked: {', '.join(repr(p) for p in criteria.prompts)}")
    if criteria.max_rounds > 1:
        budget = f" or {criteria.budget_min:g} minutes" if criteria.budget_min else ""
        lines.append(f"- not met? diagnose and train again, at most {criteria.max_rounds} rounds{budget}")
    else:
        lines.append("- not met? I diagnose the run and propose the next round for your approval (or say "
                     "\"keep going until met, at most 3 rounds or 30 minutes\")")
    return lines
