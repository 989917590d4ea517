"""Plan edits in words: "use rank 32 and 3 epochs", "learning rate 1e-4", "use Qwen2.5-1.5B", "no PII redaction".

    from assistant.edits import parse_edit, parse_eval_edit
    training_changes, data_changes = parse_edit("use rank 32 and 3 epochs")   # ({"lora_r": 32, ...}, {})
    parse_eval_edit("evaluate on 16 examples with 32 new tokens, no probe")    # {"max_examples": 16, ...}

`assistant.plan.apply_edit` applies and validates them. Patterns are bounded (security review H1): numbers
start at the beginning of a digit run (a lookbehind) and take at most 12 digits, gaps are at most a few
spaces, and the text is cut at MAX_CHARS first, so no message can make a match run long.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from assistant import catalogue
from assistant.paths_in_text import DATA_FILE, without_paths
from assistant.sizes import MAX_CHARS

_I = re.IGNORECASE

_NUM = r"(?<![\d.])(\d{1,12}(?:\.\d{1,12})?(?:e-?\d{1,3})?)"
_FIELD_EDITS: list[tuple[str, str, type]] = [
    (rf"\b(?:lora )?(?:rank|r)[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}", "lora_r", int),
    (rf"\balpha[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}", "lora_alpha", int),
    (rf"{_NUM}[ \t]{{0,3}}epochs?\b|\bepochs?[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}", "epochs", float),
    (rf"{_NUM}[ \t]{{0,3}}(?:max )?steps\b|\bmax[_ ]steps[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}", "max_steps", int),
    (rf"\b(?:learning[_ ]rate|lr)[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}", "learning_rate", float),
    (rf"\bbatch(?:[_ ]size)?[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}", "batch_size", int),
    (rf"\b(?:gradient[_ ]accumulation|grad(?:ient)? accum\w{{0,12}}) ?(?:steps)?[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}",
     "gradient_accumulation", int),
    (rf"\b(?:max(?:imum)?[_ ](?:length|len|tokens)|sequence length|context(?: length)?)[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}",
     "max_length", int),
    (rf"\b(?:lora[_ ])?dropout[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}", "lora_dropout", float),
    (rf"\bbeta[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}", "beta", float),
    (rf"\bseed[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}", "seed", int),
    (rf"{_NUM}[ \t]{{0,3}}virtual tokens|\bvirtual tokens[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}", "num_virtual_tokens", int),
]
_SWITCHES: list[tuple[str, str, Any]] = [
    (r"(turn on|enable|use|with) gradient checkpointing", "gradient_checkpointing", True),
    (r"(turn off|disable|no|without) gradient checkpointing", "gradient_checkpointing", False),
    (r"(turn on|enable|use|with) packing", "packing", True),
    (r"(turn off|disable|no|without) packing", "packing", False),
]
_METHODS = [("qlora", r"\bq-?lora\b"), ("dora", r"\bdora\b"), ("lora", r"\blora\b"),
            ("full", r"\bfull (fine-?tun\w*|training|weights)"), ("prompt_tuning", r"prompt[- ]tuning"),
            ("prefix_tuning", r"prefix[- ]tuning")]
_OBJECTIVES = [("orpo", r"\borpo\b"), ("kto", r"\bkto\b"), ("dpo", r"\bdpo\b"), ("sft", r"\bsft\b"),
               ("continued_pretraining", r"continued pre-?training")]


def parse_edit(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(training field changes, data-prep changes) named in `text`; empty when it names none."""
    written = text[:MAX_CHARS]
    text = without_paths(written)  # "use /srv/dpo-runs/llama-8b" names a model folder, not DPO nor 8 of anything
    changes: dict[str, Any] = {}
    for pattern, field, kind in _FIELD_EDITS:
        match = re.search(pattern, text, _I)
        if match:
            raw = next(g for g in match.groups() if g is not None)
            changes[field] = kind(float(raw))
    if "lora_r" in changes and "lora_alpha" not in changes:
        changes["lora_alpha"] = 2 * changes["lora_r"]  # keep the usual alpha = 2 x rank scaling
    for pattern, field, value in _SWITCHES:
        if re.search(pattern, text, _I):
            changes[field] = value
    for value, pattern in _METHODS:
        if re.search(rf"\b(use|with|switch to|try|do|go with)\b[^.]{{0,12}}{pattern}", text, _I):
            changes["method"] = value
            break
    for value, pattern in _OBJECTIVES:
        if re.search(rf"\b(use|with|switch to|try|do|go with)\b[^.]{{0,12}}{pattern}", text, _I):
            changes["objective"] = value
            break
    model = _model_in(written)
    if model:
        changes["base_model"] = model
    return changes, _data_edits(text, written)


_EVAL_EDITS: list[tuple[str, str]] = [
    (rf"\b(?:evaluat\w{{0,4}}|eval|test)\b[^.\d]{{0,20}}?{_NUM}[ \t]{{0,3}}(?:held-?out |validation |test )?(?:examples|rows|prompts)\b"
     rf"|{_NUM}[ \t]{{0,3}}(?:eval(?:uation)?|held-?out|validation|test) (?:examples|rows|prompts)\b", "max_examples"),
    (rf"{_NUM}[ \t]{{0,3}}(?:max(?:imum)? )?new tokens\b|\b(?:max(?:imum)?[_ ])?new[_ ]tokens[ \t]{{0,3}}(?:=|to|of|:)?[ \t]{{0,3}}{_NUM}"
     rf"|\b(?:answers?|generat\w{{0,4}})\b[^.\d]{{0,20}}?(?:up to |at most )?{_NUM}[ \t]{{0,3}}tokens\b", "max_new_tokens"),
]
_PROBE = r"(?:the[ \t]{1,3})?(?:general[- ](?:skills?|ability)[ \t]{1,3}|regression[ \t]{1,3})?probe\b"


def parse_eval_edit(text: str) -> dict[str, Any]:
    """Changes to the evaluation after training ("evaluate on 16 examples", "32 new tokens", "no probe")."""
    text = without_paths(text[:MAX_CHARS])
    changes: dict[str, Any] = {}
    for pattern, field in _EVAL_EDITS:
        match = re.search(pattern, text, _I)
        if match:
            changes[field] = int(float(next(g for g in match.groups() if g is not None)))
    if re.search(rf"\b(?:no|skip|without|turn off|disable|drop)[ \t]{{1,3}}{_PROBE}", text, _I):
        changes["probe"] = False
    elif re.search(rf"\b(?:with|run|turn on|enable)[ \t]{{1,3}}{_PROBE}", text, _I):
        changes["probe"] = True
    return changes


def _model_in(text: str) -> str | None:
    known = catalogue.mentioned(text)
    if known:
        return known.model
    named = re.search(r"\b(?:use|model|switch to|with) {1,3}(?:the )?(?:model )?(?<![~\w./-])([~\w./-]{1,200}/[\w.-]{1,100})", text, _I)
    if not named:
        return None
    candidate = named.group(1).rstrip(".")
    local = Path(candidate).expanduser()
    if (local / "config.json").is_file():
        return str(local.resolve())  # a local model folder
    return candidate if candidate.count("/") == 1 and not candidate.startswith((".", "/", "~")) else None


def _data_edits(text: str, written: str) -> dict[str, Any]:
    """Data-prep changes: settings from `text` (paths blanked), the data file from `written` (as typed)."""
    out: dict[str, Any] = {}
    if re.search(r"(no|without|skip|turn off|disable|don'?t) (the )?(pii|personal data) ?(redaction|scrubbing)?|"
                 r"don'?t redact|keep (the )?personal data", text, _I):
        out["pii_redaction"] = False
    elif re.search(r"(redact|scrub) (the )?(pii|personal data)", text, _I):
        out["pii_redaction"] = True
    val = re.search(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3})?) ?% ?(?:for |as )?(?:validation|holdout|held[- ]out|eval)", text, _I)
    if val:
        out["val_fraction"] = float(val.group(1)) / 100
    data_file = DATA_FILE.search(written)
    if data_file:
        out["source"] = data_file.group(1)
    return out
