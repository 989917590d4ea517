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
# A placeholder is a bare name in double braces ({{ name }}, {{user.name}}); JSX style objects
# ({{ fontWeight: 'bold' }}) and template code hold more than a name, so they never match.
PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_][\w.]{0,60}\s*\}\}")
_FENCED = re.compile(r"```.*?(?:```|$)|~~~.*?(?:~~~|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
# Lines that read as code (JS/JSX, templates, assignments): braces there are syntax, not blanks to fill.
_CODE_LINE = re.compile(r"(=>|[;{]\s*$|^\s*(const|let|var|return|function|import|export|if|for|def|class)\b|</?[A-Za-z][\w.]*[\s>/]|\w=\{|\{%|\|\s*\w+\s*\}\})")
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
    if isinstance(value, list):
        value = _join_parts(value, field)
    if value is None:
        raise RowProblem(field, "missing text; write the content or remove the row.")
    if not isinstance(value, str):
        raise RowProblem(field, f"expected text, got {type_name(value)}; put the text in a string.")
    if not value.strip():
        raise RowProblem(field, "empty text; write the content or remove the row.")
    return value


def placeholder(value: str) -> str | None:
    """The first unfilled template placeholder in `value` outside code, or None.

    Only a bare name in double braces counts, and never inside fenced blocks, inline code or lines
    that read as code: answers full of JSX or Jinja are common and correct."""
    if "{{" not in value:  # the check is cheaper than the scans
        return None
    if "`" in value or "~~~" in value:
        value = _INLINE_CODE.sub("", _FENCED.sub("", value))
    for line in value.splitlines():
        found = PLACEHOLDER.search(line) if "{{" in line else None
        if found and not _CODE_LINE.search(line):
            return found.group()
    return None


_TEXT_PART_KEYS = ("text", "value", "content")
_TEXT_PART_TYPES = ("text", "input_text", "output_text")


def _join_parts(parts: list, field: str) -> str:
    """Content as a list of parts: `{"type": "text", "text"|"value"|"content": ...}` or plain strings."""
    texts = []
    for i, part in enumerate(parts):
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            raise RowProblem(f"{field}[{i}]", f"expected a text part or a string, got {type_name(part)}.")
        kind = part.get("type", "text")
        if kind not in _TEXT_PART_TYPES:
            raise RowProblem(f"{field}[{i}].type", f"'{kind}' parts are not supported (text-only models); keep only text parts.")
        text = next((part[k] for k in _TEXT_PART_KEYS if isinstance(part.get(k), str)), None)
        if text is None:
            keys = ", ".join(sorted(part)) or "none"
            raise RowProblem(f"{field}[{i}]", f"a text part with no text (keys: {keys}); put the text under 'text'.")
        texts.append(text)
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
    content_key = next((k for k in ("content", "value", "text") if k in msg), "content" if role_key == "role" else "value")
    out: dict[str, Any] = {"role": norm}
    calls = _tool_calls(msg, field) if norm == "assistant" else None
    if calls and not msg.get(content_key):
        out["content"] = ""
    else:
        out["content"] = text_value(msg.get(content_key), f"{field}.{content_key}")
    if calls:
        out["tool_calls"] = calls
    if norm == "tool":
        for key in ("tool_call_id", "name"):
            if isinstance(msg.get(key), str):
                out[key] = msg[key]
    if norm == "assistant" and msg.get("weight") is not None:
        out["weight"] = _weight(msg["weight"], f"{field}.weight")
    return out


def _weight(value: Any, field: str) -> int:
    """OpenAI's per-message `weight`: 1 trains on the turn, 0 keeps it as context only."""
    if isinstance(value, bool) or value in (0, 1) or (isinstance(value, str) and value.strip() in ("0", "1")):
        return int(value)
    raise RowProblem(field, f"expected 0 or 1 (0: do not train on this turn), got {value!r}.")


def _tool_calls(msg: dict, field: str) -> list[dict] | None:
    """`tool_calls` (or the legacy `function_call`) as `[{"id", "type": "function", "function": {"name",
    "arguments"}}]`, arguments kept as a JSON string as OpenAI writes them: one column type for every row."""
    calls = msg.get("tool_calls")
    if not calls and isinstance(msg.get("function_call"), dict):
        calls = [{"type": "function", "function": msg["function_call"]}]
    if not calls:
        return None
    if not isinstance(calls, list):
        raise RowProblem(f"{field}.tool_calls", f"expected a list of tool calls, got {type_name(calls)}.")
    out = []
    for i, call in enumerate(calls):
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RowProblem(f"{field}.tool_calls[{i}]", "expected {\"type\": \"function\", \"function\": {\"name\": ..., \"arguments\": ...}}.")
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        entry = {"type": "function", "function": {"name": function["name"], "arguments": arguments}}
        if isinstance(call.get("id"), str):
            entry["id"] = call["id"]
        out.append(entry)
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
    if not any(m["role"] == "assistant" and m.get("weight", 1) for m in messages):
        raise RowProblem(field, "every assistant turn has weight 0, so there is nothing to learn from; set weight 1 on "
                         "the answers to train on, or remove the row.")  # fmt: skip


def as_label(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise RowProblem("label", f"expected true or false (is the answer good?), got {value!r}.")
