"""Keep the LLM brain honest: a slot it fills is written only when the user's words support it.

    from assistant.crosscheck import cross_check, strip_leaks
    checked = cross_check(llm_update, offline_update, user_text)
    checked.update        # the offline reading plus the model's supported additions
    checked.rejected      # what was dropped and why (Brain.errors, the UI's details)

What a weak model did with two user lines (issue 11): the assistant's own question became the user's
description, audience and data location; RAM became 1000 GB; "one RTX 4090" became a CPU; "just
recommend" appeared although the user never said it. The rules below stop each of those:
- words (description, domain, tone, file, criteria...): most of their words must be in the user's message,
  and they must not be about "the assistant";
- numbers: equal to the offline reader's, or written in the message;
- choices (layout, task, hardware, flags): the offline reader must agree, or, for the slots it reads by
  meaning, its nearest examples must support the model's label. A confident offline reading that the
  model contradicts stays, and the slot is put to the user as one clarifying question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assistant import understand
from assistant.sizes import number_at, tokens_of
from assistant.state import StateUpdate

_TEXT_FIELDS = ("description", "domain", "audience", "tone", "data_location", "data_format", "success_criteria",
                "example_answer", "budget", "gpu_name", "wants_base_model", "deployment_target")
_NUMBER_FIELDS = ("rows", "tokens", "size_mb", "gpu_memory_gb", "num_gpus", "ram_gb", "time_limit_hours")
_ASK_ON_CONFLICT = ("data_layout", "facts_change_often")
# Lines a model writes about its task instead of the reply itself.
_LEAK = re.compile(r"^\s{0,8}(?:\*\*)?(?:draft|reply|rewritten|rewrite|assistant|answer|response|output|final)"
                   r"(?: reply| answer| version)?(?:\*\*)?\s{0,3}:\s{0,3}", re.I)
_META = re.compile(r"^\s{0,8}(?:here(?:'s| is) (?:the|a|my) (?:rewritten|reworded|revised)|sure[,!]? here)", re.I)
_SELF = re.compile(r"\b(the assistant|assistant (?:just )?asked|you asked|i asked|as an ai)\b", re.I)


@dataclass
class Checked:
    update: StateUpdate
    rejected: list[str] = field(default_factory=list)


def strip_leaks(reply: str) -> str:
    """The reply without "Draft:" / "Reply:" labels, meta lines ("Here is the rewritten reply:") or the
    draft itself echoed after a label: the user sees one answer, in the assistant's voice."""
    lines = reply.strip().splitlines()
    kept: list[str] = []
    for line in lines:
        if _META.match(line):
            continue
        label = _LEAK.match(line)
        if label and label.group(0).strip().lower().startswith(("draft", "**draft")):
            continue  # the draft echoed back: drop the whole line
        kept.append(line[label.end():] if label else line)
    return "\n".join(kept).strip()


def cross_check(llm: StateUpdate, offline: StateUpdate, text: str) -> Checked:
    """The offline reading, plus each model field the user's words (or the offline reader) support."""
    merged = offline.model_dump(exclude_none=True)
    rejected: list[str] = []
    unclear = list(offline.unclear or [])
    words = set(tokens_of(text))
    numbers = _numbers(text)
    for key, value in llm.model_dump(exclude_none=True).items():
        if key == "unclear":
            continue
        mine = merged.get(key)
        if mine is not None and _same(mine, value):
            continue
        if mine is not None:
            asks = key in _ASK_ON_CONFLICT and understand.changes_answer(key, _label(mine), _label(value))
            if key in understand.SLOTS and not asks and understand.supports(text, key, _label(value)):
                merged[key] = value  # two readings the words allow, and the choice doesn't change the answer
                continue
            rejected.append(f"{key}: model said {value!r}, the user's words say {mine!r}; kept {mine!r}")
            if asks:
                unclear.append(f"{key}:{_label(mine)}|{_label(value)}")
            continue
        why = _unsupported(key, value, text, words, numbers)
        if why:
            rejected.append(f"{key}: {value!r} dropped ({why})")
        else:
            merged[key] = value
    merged["unclear"] = list(dict.fromkeys(unclear)) or None
    return Checked(StateUpdate(**merged), rejected)


def _unsupported(key: str, value: Any, text: str, words: set[str], numbers: set[float]) -> str | None:
    """Why the message doesn't support `key = value`, or None when it does."""
    if key in _TEXT_FIELDS:
        said = strip_leaks(str(value))
        if _SELF.search(said):
            return "the assistant's words, not the user's"
        content = [w for w in tokens_of(said) if len(w) > 2 and w[0].isalnum()]
        if not content:
            return "empty"
        share = sum(w in words for w in content) / len(content)
        return None if share >= 0.6 else f"only {share:.0%} of its words are in the message"
    if key in _NUMBER_FIELDS:
        return None if float(value) in numbers else "the number is not in the message"
    if key in understand.SLOTS:
        return None if understand.supports(text, key, _label(value)) else "the message doesn't say so"
    return "the offline reader found nothing that says so"


def _numbers(text: str) -> set[float]:
    tokens = tokens_of(text)
    found = set()
    for i in range(len(tokens)):
        hit = number_at(tokens, i)
        if hit:
            found.add(float(hit[0]))
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 0.01 * max(abs(float(a)), 1.0)
    return str(a).lower() == str(b).lower()


def _label(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
