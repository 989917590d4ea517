"""Row-level checks shared by the layout converters, in the spirit of OpenAI's fine-tuning data checker.

A converter raises `RowProblem(field, message)` on the first problem of a row; the pipeline turns
it into a `RowError` naming file and row. Messages say what is wrong and what to do.
"""

from __future__ import annotations

import json
import re
from typing import Any

ROLE_ALIASES = {
    "system": "system", "developer": "system",
    "user": "user", "human": "user",
    "assistant": "assistant", "gpt": "assistant", "bot": "assistant", "model": "assistant",
    "chatgpt": "assistant", "function_call": "assistant",
    "tool": "tool", "observation": "tool", "function": "tool", "ipython": "tool",
}  # fmt: skip
# Only double-brace placeholders: single braces are common in code and JSON answers.
PLACEHOLDER = re.compile(r"\{\{\s*[^{}\n]{1,60}?\s*\}\}")
_TRUE = {"true", "1", "yes", "y", "good", "positive", "desirable"}
_FALSE = {"false", "0", "no", "n", "bad", "negative", "undesirable"}


class RowProblem(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def require(row: dict, key: str, needs: str) -> Any:
    value = row.get(key)
    if value is None:
        raise RowProblem(key, f"missing field '{key}'; each row needs {needs}.")
    return value


def text_value(value: Any, field: str) -> str:
    """A non-empty string; content given as a list of parts is joined (text parts only)."""
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        value = _join_parts(value, field)
    if value is None:
        raise RowProblem(field, "missing text; write the content or remove the row.")
    if not isinstance(value, str):
        raise RowProblem(field, f"expected text, got {type_name(value)}; put the text in a string.")
    if not value.strip():
        raise RowProblem(field, "empty text; write the content or remove the row.")
    found = PLACEHOLDER.search(value) if "{{" in value else None  # the check is cheaper than the scan
    if found:
        raise RowProblem(field, f"unfilled template placeholder '{found.group()}'; fill it in or remove the row.")
    return value


def _join_parts(parts: list[dict], field: str) -> str:
    texts = []
    for i, part in enumerate(parts):
        kind = part.get("type", "text")
        if kind not in ("text", "input_text", "output_text"):
            raise RowProblem(f"{field}[{i}].type", f"'{kind}' parts are not supported (text-only models); keep only text parts.")
        texts.append(part.get("text") if isinstance(part.get("text"), str) else "")
    return "\n".join(texts)


def parse_messages(value: Any, field: str) -> list[dict]:
    """Messages as role/content (OpenAI) or from/value (ShareGPT) dicts -> `[{"role", "content"}]`."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:  # CSV cells and some exports hold the list as a JSON string
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RowProblem(field, "holds text that is not a valid JSON list of messages; fix the JSON.") from None
    if not isinstance(value, list):
        raise RowProblem(field, f"expected a list of {{role, content}} messages, got {type_name(value)}.")
    if not value:
        raise RowProblem(field, "no messages; add at least a user and an assistant turn.")
    return [_parse_message(m, f"{field}[{i}]") for i, m in enumerate(value)]


def _parse_message(msg: Any, field: str) -> dict:
    if not isinstance(msg, dict):
        raise RowProblem(field, f"expected a message object like {{\"role\": \"user\", \"content\": \"...\"}}, got {type_name(msg)}.")
    role_key = "role" if "role" in msg else "from"
    role = msg.get(role_key)
    if role is None:
        raise RowProblem(f"{field}.role", "missing role; set it to system, user, assistant or tool.")
    if not isinstance(role, str):
        raise RowProblem(f"{field}.{role_key}", f"expected the role as text, got {type_name(role)}.")
    norm = ROLE_ALIASES.get(role.strip().lower())
    if norm is None:
        raise RowProblem(f"{field}.{role_key}", f"unknown role '{role}'; use system, user, assistant or tool.")
    content_key = "content" if "content" in msg or role_key == "role" else "value"
    out: dict[str, Any] = {"role": norm}
    if norm == "assistant" and msg.get("tool_calls") and not msg.get(content_key):
        out["content"] = ""
    else:
        out["content"] = text_value(msg.get(content_key), f"{field}.{content_key}")
    if msg.get("tool_calls"):
        out["tool_calls"] = msg["tool_calls"]
    return out


def check_turns(messages: list[dict], field: str) -> None:
    """System first, then user and assistant taking turns (tool results only after an assistant)."""
    previous = None
    for i, msg in enumerate(messages):
        role, where = msg["role"], f"{field}[{i}].role"
        if role == "system":
            if i > 0:
                raise RowProblem(where, f"system message at turn {i + 1}; put the system prompt first.")
        elif previous in (None, "system") and role != "user":
            raise RowProblem(where, f"the conversation starts with '{role}'; start with the user's message.")
        elif role == "tool" and previous not in ("assistant", "tool"):
            raise RowProblem(where, "a tool result must follow the assistant turn that called the tool.")
        elif role == previous and role in ("user", "assistant"):
            raise RowProblem(where, f"two {role} turns in a row (turns {i} and {i + 1}); merge them or add the missing turn between them.")
        previous = role
    if not any(m["role"] == "assistant" for m in messages):
        raise RowProblem(field, "no assistant turn; each example needs at least one assistant answer to learn from.")


def as_label(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise RowProblem("label", f"expected true or false (is the answer good?), got {value!r}.")
