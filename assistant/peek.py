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
from tools.data.head import Sample, sample
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
        head = sample(p, rows=_SAMPLE_ROWS)  # a bounded head: a 2 GB upload is not read whole here
    except (DataError, OSError, ValueError):
        return StateUpdate(**found), quotes
    if head.total_rows:
        found["rows"] = head.total_rows
        about = "" if head.rows_exact else "about "
        quotes["rows"] = f"{about}{head.total_rows} rows in {p.name}"
    kind = _kind(head)
    if kind:
        found["data_layout"] = kind
        quotes["data_layout"] = f"{p.name} holds {kind.replace('_', ' ')} rows"
    counts: Counter = Counter()
    redact_text(json.dumps(head.rows, ensure_ascii=False, default=str), counts)
    if counts:
        found["contains_pii"] = True
        quotes["contains_pii"] = f"{', '.join(k.lower() for k in sorted(counts))} found in {p.name}"
    return StateUpdate(**found), quotes


def _kind(head: Sample) -> str | None:
    """The rows in the interview's words, from the data tools' detection; None when the layout is unknown."""
    if head.dataset_type is None:
        return None
    # A text column beside a label column is a classification table, which the interview calls labelled.
    if head.layout == "classification" or (head.layout == "text" and {c.lower() for c in head.columns} & _LABEL_COLUMNS):
        return "labelled"
    return KIND_OF_DATASET_TYPE[head.dataset_type]
