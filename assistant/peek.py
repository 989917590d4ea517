"""A quick read-only look at a file the user attached: format, layout, rows, labels/pairs/ratings, PII hints.

This only feeds the interview (so it doesn't ask what the file already says). The data tools do the real
validation after approval; the file is opened for reading and never changed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from assistant.state import StateUpdate

_SAMPLE_ROWS = 200
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{8,}\d")
_LABEL_COLUMNS = {"label", "labels", "category", "class", "intent", "sentiment", "tag", "target"}


def peek(path: str | Path) -> tuple[StateUpdate, dict[str, str]]:
    """Facts about the file at `path`; an unreadable file gives just its name and format."""
    p = Path(path).expanduser()
    fmt = p.suffix.lower().lstrip(".") or ("folder" if p.is_dir() else "")
    found: dict[str, Any] = {"data_location": str(p), "data_format": fmt}
    quotes = {"data_location": p.name}
    try:
        rows, count = _read(p, fmt)
    except (OSError, ValueError, UnicodeDecodeError, csv.Error):
        return StateUpdate(**found), quotes
    found["rows"] = count
    quotes["rows"] = f"{count} rows in {p.name}"
    layout = _layout(rows, fmt)
    if layout:
        found["data_layout"] = layout
        quotes["data_layout"] = f"{p.name} holds {layout.replace('_', ' ')} rows"
    text = json.dumps(rows[:_SAMPLE_ROWS], ensure_ascii=False) if rows else ""
    if _EMAIL.search(text) or _PHONE.search(text):
        found["contains_pii"] = True
        quotes["contains_pii"] = f"emails or phone numbers in {p.name}"
    return StateUpdate(**found), quotes


def _read(p: Path, fmt: str) -> tuple[list[Any], int]:
    if p.is_dir():
        files = [f for f in p.rglob("*") if f.suffix.lower() in {".txt", ".md"}]
        return [{"text": ""}] * len(files), len(files)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(p)
        return table.slice(0, _SAMPLE_ROWS).to_pylist(), table.num_rows
    raw = p.read_text(encoding="utf-8-sig")
    if fmt == "jsonl":
        lines = [line for line in raw.splitlines() if line.strip()]
        return [_json_or_none(line) for line in lines[:_SAMPLE_ROWS]], len(lines)
    if fmt == "json":
        data = json.loads(raw)
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), [data])
        return list(data[:_SAMPLE_ROWS]), len(data)
    if fmt in {"csv", "tsv"}:
        reader = csv.DictReader(io.StringIO(raw), delimiter="\t" if fmt == "tsv" else ",")
        table = list(reader)
        return table[:_SAMPLE_ROWS], len(table)
    if fmt in {"txt", "md"}:
        paragraphs = [b for b in re.split(r"\n\s*\n", raw) if b.strip()]
        return [{"text": b} for b in paragraphs[:_SAMPLE_ROWS]], len(paragraphs)
    raise ValueError(f"unknown format {fmt}")


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _layout(rows: list[Any], fmt: str) -> str | None:
    keys: set[str] = set()
    for row in rows[:_SAMPLE_ROWS]:
        if isinstance(row, dict):
            keys |= {str(k).lower() for k in row}
    if {"chosen", "rejected"} <= keys:
        return "preference_pairs"
    if "label" in keys and keys & {"completion", "messages", "response", "answer"}:
        return "ratings"
    if keys & {"messages", "conversations"}:
        return "chat"
    if keys & _LABEL_COLUMNS:
        return "labelled"
    if keys & {"completion", "output", "answer", "response"}:
        return "prompt_completion"
    if keys == {"text"} or (fmt in {"txt", "md", "folder"}):
        return "unlabelled_text"
    return None
