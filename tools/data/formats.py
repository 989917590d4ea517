"""Detect a source's layout and convert its rows to the dataset types TRL trains on.

    openai_chat / sharegpt / alpaca / question_answer -> conversational  {"messages": [...], "tools"?}
    classification (a text and a label column)        -> conversational: the text as the user turn, the label as the answer
    prompt_completion                                 -> prompt_completion {"prompt", "completion"}
    preference / sharegpt_preference / openai_preference -> preference {"prompt", "chosen", "rejected"}
    unpaired_preference                               -> unpaired_preference {"prompt", "completion", "label"}
    text                                              -> language_modeling {"text"}

Detection votes over the first rows' keys; a column mapping (canonical name -> source column)
renames columns first, for sources whose names we cannot guess.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tools.data.spec import DataError
from tools.data.validate import (
    RowProblem,
    as_label,
    check_turns,
    parse_messages,
    require,
    text_value,
    type_name,
)
from tools.vocab import DATASET_TYPE_OF_LAYOUT

DATASET_TYPES = DATASET_TYPE_OF_LAYOUT
PROMPT_KEYS = ("prompt", "question", "query", "instruction", "input", "user", "human", "request")
ANSWER_KEYS = ("completion", "answer", "response", "output", "assistant", "gpt", "target", "reply")
TEXT_KEYS = ("text", "content", "document", "body", "passage")
CHAT_KEYS = ("messages", "conversations", "conversation", "dialog", "chat")
# A labelled table: a text column and a label column under the names people use.
CLASS_TEXT_KEYS = ("text", "sentence", "clause", "review", "message", "comment", "tweet", "utterance", "content",
                   "document", "body", "passage", "title")  # fmt: skip
LABEL_KEYS = ("label", "labels", "category", "class", "sentiment", "intent", "topic", "tag", "emotion", "stance")
# (chosen, rejected) column pairs of preference data: each side a text answer or a whole conversation.
PAIR_KEYS = (
    ("chosen", "rejected"), ("chosen_messages", "rejected_messages"), ("chosen_conversation", "rejected_conversation"),
    ("chosen_response", "rejected_response"), ("response_chosen", "response_rejected"), ("preferred", "rejected"),
    ("preferred", "dispreferred"), ("accepted", "rejected"), ("positive", "negative"), ("good", "bad"),
    ("better", "worse"), ("winner", "loser"), ("pos", "neg"),
)  # fmt: skip
_OPENAI_PREFERENCE = ("input", "preferred_output", "non_preferred_output")
_SAMPLE = 2000
_EXPECTED = (
    "messages (OpenAI chat), conversations (ShareGPT), instruction/output (Alpaca), prompt/completion, "
    "question/answer, prompt/chosen/rejected (preference), input/preferred_output/non_preferred_output, "
    "prompt/completion/label, text/label (classification), or text"
)


@dataclass
class Detection:
    layout: str
    keys: dict[str, str] = field(default_factory=dict)  # role in the layout -> canonical column
    columns: list[str] = field(default_factory=list)

    @property
    def dataset_type(self) -> str:
        return DATASET_TYPES[self.layout]


def rename_columns(rows: list[Any], mapping: dict[str, str], source: str, check: bool = True) -> list[Any]:
    """Apply the user's mapping (canonical -> source column), then lower-case the other keys.
    `check`: refuse a mapped column missing from these rows (the first rows; later chunks may lack one)."""
    seen = _columns(rows)
    missing = [col for col in mapping.values() if col not in seen]
    if missing and check:
        raise DataError(source, f"column(s) {missing} named in the column mapping are not in the data; columns are {sorted(seen)}.")
    rename = {col: col.strip().lower() for col in seen}
    rename.update({col: canonical for canonical, col in mapping.items()})
    if all(k == v for k, v in rename.items()):
        return rows
    return [{rename.get(k, k): v for k, v in row.items()} if isinstance(row, dict) else row for row in rows]


def _columns(rows: list[Any]) -> set[str]:
    cols: set[str] = set()
    for row in rows[:_SAMPLE]:
        if isinstance(row, dict):
            cols.update(row)
    return cols


def detect(rows: list[Any], source: str, forced: str | None = None) -> Detection:
    """Pick the layout most of the first rows fit (or `forced`) and the columns each role uses."""
    dicts = [r for r in rows[:_SAMPLE] if isinstance(r, dict)]
    columns = sorted(_columns(dicts))
    if forced is None:
        votes = Counter(g for g in (_guess(r) for r in dicts) if g)
        if not votes:
            found = ", ".join(columns) if columns else "none (the rows are not JSON objects)"
            raise DataError(
                source, f"could not recognise the layout; columns found: {found}. Expected {_EXPECTED}. "
                "Map your columns, e.g. `--column prompt=QUESTION_COL --column completion=ANSWER_COL`."  # fmt: skip
            )
        forced = votes.most_common(1)[0][0]
    return Detection(layout=forced, keys=_role_keys(forced, dicts), columns=columns)


def _pair(keys) -> tuple[str, str] | None:
    return next((pair for pair in PAIR_KEYS if pair[0] in keys and pair[1] in keys), None)


def _guess(row: dict) -> str | None:
    keys = row.keys()
    if all(k in keys for k in _OPENAI_PREFERENCE):
        return "openai_preference"
    if "chosen" in keys or "rejected" in keys or _pair(keys):
        return "sharegpt_preference" if "conversations" in keys and isinstance(row.get("chosen"), dict) else "preference"
    if "label" in keys and ("messages" in keys or any(k in keys for k in ANSWER_KEYS)):
        return "unpaired_preference"
    if any(k in keys for k in LABEL_KEYS) and any(k in keys for k in CLASS_TEXT_KEYS) and not any(
        k in keys for k in (*CHAT_KEYS, *PROMPT_KEYS, *ANSWER_KEYS)
    ):
        return "classification"
    chat = next((k for k in CHAT_KEYS if k in keys), None)
    if chat:
        first = row[chat][0] if isinstance(row[chat], list) and row[chat] else {}
        return "sharegpt" if isinstance(first, dict) and "from" in first else "openai_chat"
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    if "prompt" in keys and "completion" in keys:
        return "prompt_completion"
    if any(k in keys for k in PROMPT_KEYS) and any(k in keys for k in ANSWER_KEYS):
        return "question_answer"
    if any(k in keys for k in TEXT_KEYS):
        return "text"
    return None


def _most_common_key(rows: list[dict], candidates: tuple[str, ...], exclude: str = "") -> str:
    counts = Counter(k for r in rows for k in candidates if k in r and k != exclude)
    return counts.most_common(1)[0][0] if counts else candidates[0]


def _role_keys(layout: str, rows: list[dict]) -> dict[str, str]:
    if layout in ("openai_chat", "sharegpt"):
        return {"messages": _most_common_key(rows, CHAT_KEYS)}
    if layout == "question_answer":
        prompt = _most_common_key(rows, PROMPT_KEYS)
        return {"prompt": prompt, "completion": _most_common_key(rows, ANSWER_KEYS, exclude=prompt)}
    if layout == "unpaired_preference":
        prompt = _most_common_key(rows, PROMPT_KEYS)
        return {"prompt": prompt, "completion": _most_common_key(rows, ANSWER_KEYS, exclude=prompt)}
    if layout == "text":
        return {"text": _most_common_key(rows, TEXT_KEYS)}
    if layout == "classification":
        return {"text": _most_common_key(rows, CLASS_TEXT_KEYS), "label": _most_common_key(rows, LABEL_KEYS)}
    if layout == "preference":
        pairs = Counter(p for r in rows for p in [_pair(r.keys())] if p)
        chosen, rejected = pairs.most_common(1)[0][0] if pairs else ("chosen", "rejected")
        return {"chosen": chosen, "rejected": rejected}
    return {}


def converter(detection: Detection) -> Callable[[Any], dict]:
    """A function turning one raw row into a record of the detection's dataset type (or raising RowProblem)."""
    convert = _CONVERTERS[detection.layout]
    keys = detection.keys

    def run(row: Any) -> dict:
        if not isinstance(row, dict):
            raise RowProblem("row", f"expected a JSON object, got {type_name(row)}; write each example as {{...}}.")
        return convert(row, keys)

    return run


def _system_prefix(row: dict) -> list[dict]:
    system = row.get("system")
    return [{"role": "system", "content": text_value(system, "system")}] if system else []


def _chat(row: dict, keys: dict) -> dict:
    key = keys["messages"]
    messages = parse_messages(require(row, key, f"'{key}': a list of messages"), key)
    if messages[0]["role"] != "system":
        messages = _system_prefix(row) + messages
    check_turns(messages, key)
    record: dict[str, Any] = {"messages": messages}
    # `parallel_tool_calls` only tells OpenAI's sampler whether several calls may come at once; the
    # calls themselves are in the messages, so there is nothing to keep. Legacy `functions` are tools.
    tools = row.get("tools") or [{"type": "function", "function": f} for f in row.get("functions") or [] if isinstance(f, dict)]
    if tools:
        if isinstance(tools, str):
            try:
                tools = json.loads(tools)
            except json.JSONDecodeError:
                raise RowProblem("tools", "holds text that is not valid JSON; give the tool schemas as a JSON list.") from None
        # Stored as a JSON string (TRL's SFTTrainer parses it): differing tool schemas would otherwise
        # make Arrow merge them into one struct with null-filled fields.
        record["tools"] = json.dumps(tools if isinstance(tools, list) else [tools], ensure_ascii=False)
    return record


def _alpaca(row: dict, keys: dict) -> dict:
    instruction = text_value(require(row, "instruction", "'instruction' and 'output'"), "instruction")
    extra = row.get("input")
    if isinstance(extra, str) and extra.strip():
        instruction = f"{instruction}\n\n{text_value(extra, 'input')}"
    history = row.get("history") or []
    if not isinstance(history, list) or not all(isinstance(p, list | tuple) and len(p) == 2 for p in history):
        raise RowProblem("history", "expected a list of [question, answer] pairs.")
    messages = _system_prefix(row)
    for i, (q, a) in enumerate(history):
        messages += [
            {"role": "user", "content": text_value(q, f"history[{i}][0]")},
            {"role": "assistant", "content": text_value(a, f"history[{i}][1]")},
        ]
    messages += [
        {"role": "user", "content": instruction},
        {"role": "assistant", "content": text_value(require(row, "output", "'instruction' and 'output'"), "output")},
    ]
    return {"messages": messages}


def _question_answer(row: dict, keys: dict) -> dict:
    p, c = keys["prompt"], keys["completion"]
    needs = f"'{p}' and '{c}'"
    user = text_value(require(row, p, needs), p)
    answer = text_value(require(row, c, needs), c)
    return {"messages": _system_prefix(row) + [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def _side(value: Any, field: str) -> str | list[dict]:
    """A prompt or answer given as text or as messages."""
    if isinstance(value, list) or (isinstance(value, dict) and ("role" in value or "from" in value)):
        return parse_messages(value if isinstance(value, list) else [value], field)
    if isinstance(value, str) and value.lstrip().startswith("[{"):
        return parse_messages(value, field)
    return text_value(value, field)


def _prompt_completion(row: dict, keys: dict) -> dict:
    needs = "'prompt' and 'completion'"
    prompt = _side(require(row, "prompt", needs), "prompt")
    completion = _side(require(row, "completion", needs), "completion")
    return {"prompt": prompt, "completion": completion}


def _preference(row: dict, keys: dict) -> dict:
    good, bad = keys.get("chosen", "chosen"), keys.get("rejected", "rejected")
    needs = f"'prompt', '{good}' and '{bad}'"
    chosen = _side(require(row, good, needs), good)
    rejected = _side(require(row, bad, needs), bad)
    key = next((k for k in ("prompt", "question", "instruction", "input", "conversations") if row.get(k) is not None), None)
    if key is not None:
        prompt = _side(row[key], key)
    elif isinstance(chosen, list) and isinstance(rejected, list):
        prompt, chosen, rejected = _split_shared_prefix(chosen, rejected)
    else:
        raise RowProblem("prompt", f"missing field 'prompt'; each row needs {needs}.")
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def _split_shared_prefix(chosen: list[dict], rejected: list[dict]) -> tuple[list, list, list]:
    """Implicit-prompt preference rows hold two full conversations; the shared start is the prompt."""
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    if n == 0:
        raise RowProblem("prompt", "missing field 'prompt' and 'chosen'/'rejected' share no opening turns; add a 'prompt'.")
    return chosen[:n], chosen[n:], rejected[n:]


def _openai_preference(row: dict, keys: dict) -> dict:
    """OpenAI's DPO format: `input` {messages, tools?}, `preferred_output` and `non_preferred_output` messages."""
    needs = "'input', 'preferred_output' and 'non_preferred_output'"
    given = require(row, "input", needs)
    if not isinstance(given, dict):
        raise RowProblem("input", f"expected an object with 'messages', got {type_name(given)}.")
    prompt = parse_messages(require(given, "messages", "'input.messages'"), "input.messages")
    chosen = parse_messages(require(row, "preferred_output", needs), "preferred_output")
    rejected = parse_messages(require(row, "non_preferred_output", needs), "non_preferred_output")
    for side, messages in (("preferred_output", chosen), ("non_preferred_output", rejected)):
        if messages[-1]["role"] != "assistant":
            raise RowProblem(side, "must end with the assistant's answer.")
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def _classification(row: dict, keys: dict) -> dict:
    text, label = keys["text"], keys["label"]
    needs = f"'{text}' and '{label}'"
    value = require(row, label, needs)
    if isinstance(value, list | dict):
        raise RowProblem(label, f"expected one label, got {type_name(value)}; give one label per row.")
    answer = str(value).strip()
    if not answer:
        raise RowProblem(label, "empty label; fill it in or remove the row.")
    if len(answer) > 200:
        raise RowProblem(label, f"a label of {len(answer)} characters; labels are short names (e.g. positive, billing).")
    return {"messages": _system_prefix(row) + [{"role": "user", "content": text_value(require(row, text, needs), text)},
                                               {"role": "assistant", "content": answer}]}  # fmt: skip


def _unpaired(row: dict, keys: dict) -> dict:
    label = as_label(require(row, "label", "a 'label' (true/false)"))
    if "messages" in row:
        messages = parse_messages(row["messages"], "messages")
        check_turns(messages, "messages")
        if messages[-1]["role"] != "assistant":
            raise RowProblem("messages", "the last turn must be the assistant answer that the label rates.")
        return {"prompt": messages[:-1], "completion": messages[-1:], "label": label}
    p, c = keys["prompt"], keys["completion"]
    needs = f"'{p}', '{c}' and 'label'"
    return {
        "prompt": _side(require(row, p, needs), p),
        "completion": _side(require(row, c, needs), c),
        "label": label,
    }


def _text(row: dict, keys: dict) -> dict:
    key = keys["text"]
    return {"text": text_value(require(row, key, f"a '{key}' field"), key)}


_CONVERTERS: dict[str, Callable[[dict, dict], dict]] = {
    "openai_chat": _chat,
    "sharegpt": _chat,
    "alpaca": _alpaca,
    "question_answer": _question_answer,
    "prompt_completion": _prompt_completion,
    "preference": _preference,
    "sharegpt_preference": _preference,
    "openai_preference": _openai_preference,
    "unpaired_preference": _unpaired,
    "classification": _classification,
    "text": _text,
}


_SIDES = {"prompt_completion": ("prompt", "completion"), "preference": ("prompt", "chosen", "rejected"),
          "unpaired_preference": ("prompt", "completion")}  # fmt: skip


def observe(record: dict, dataset_type: str, seen: dict[str, bool]) -> None:
    """Note what `unify_record` must align across the dataset: tools in any row, messages on any side."""
    if dataset_type == "conversational":
        seen["tools"] = seen.get("tools", False) or "tools" in record
    elif not seen.get("messages"):
        seen["messages"] = any(isinstance(record[side], list) for side in _SIDES.get(dataset_type, ()))


def unify_record(record: dict, dataset_type: str, seen: dict[str, bool]) -> dict:
    """Make one record's columns the type every row has, since one dataset needs one column type:
    `tools` everywhere once any row has it ("[]", not null: a null-only file breaks Arrow), and
    prompt/answer sides all messages once any side is."""
    if dataset_type == "conversational":
        if seen.get("tools"):
            record.setdefault("tools", "[]")
        return record
    if seen.get("messages"):
        for side in _SIDES.get(dataset_type, ()):
            if isinstance(record[side], str):
                record[side] = [{"role": "user" if side == "prompt" else "assistant", "content": record[side]}]
    return record


def unify(records: list[dict], dataset_type: str) -> list[dict]:
    """`unify_record` over a whole list."""
    seen: dict[str, bool] = {}
    for record in records:
        observe(record, dataset_type, seen)
    return [unify_record(r, dataset_type, seen) for r in records]
