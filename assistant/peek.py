"""A quick read-only look at a file the user attached: format, kind of rows, row count, personal data.

This only feeds the interview (so it doesn't ask what the file already says). It reads the file with the
data tools' own loader and layout detection (on the first rows), so the interview hears the same layout
the preparation will find; the full validation runs after approval. The file is never changed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from assistant.state import StateUpdate
from tools.data import formats
from tools.data.load import load_source
from tools.data.pii import redact_text
from tools.data.spec import DataError
from tools.vocab import KIND_OF_DATASET_TYPE

_SAMPLE_ROWS = 200
_LABEL_COLUMNS = {"label", "labels", "category", "class", "intent", "sentiment", "tag", "target"}


def peek(path: str | Path) -> tuple[StateUpdate, dict[str, str]]:
    """Facts about the file at `path`; an unreadable file gives just its name and format."""
    p = Path(path).expanduser()
    fmt = p.suffix.lower().lstrip(".") or ("folder" if p.is_dir() else "")
    found: dict[str, Any] = {"data_location": str(p), "data_format": fmt}
    quotes = {"data_location": p.name}
    try:
        rows = [row for _, _, row in load_source(p).items]
    except (DataError, OSError, ValueError):
        return StateUpdate(**found), quotes
    found["rows"] = len(rows)
    quotes["rows"] = f"{len(rows)} rows in {p.name}"
    sample = rows[:_SAMPLE_ROWS]
    kind = _kind(sample, str(p))
    if kind:
        found["data_layout"] = kind
        quotes["data_layout"] = f"{p.name} holds {kind.replace('_', ' ')} rows"
    counts: Counter = Counter()
    redact_text(json.dumps(sample, ensure_ascii=False, default=str), counts)
    if counts:
        found["contains_pii"] = True
        quotes["contains_pii"] = f"{', '.join(k.lower() for k in sorted(counts))} found in {p.name}"
    return StateUpdate(**found), quotes


def _kind(sample: list[Any], source: str) -> str | None:
    """The rows in the interview's words, from the data tools' detection; None when the layout is unknown."""
    try:
        detection = formats.detect(sample, source)
    except DataError:
        return None
    # A text column beside a label column is a classification table, which the interview calls labelled
    # (prepared as it is, only the text would train).
    if detection.layout == "text" and {c.lower() for c in detection.columns} & _LABEL_COLUMNS:
        return "labelled"
    return KIND_OF_DATASET_TYPE[detection.dataset_type]
