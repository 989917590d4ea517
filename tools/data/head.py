"""A bounded look at a dataset: its layout and first rows, for the assistant's interview before approval.

    from tools.data import sample
    head = sample("big.jsonl", rows=200)
    head.layout, head.dataset_type, head.total_rows, head.rows[:3]

Reads at most `rows` rows (and the row errors among them) through the same streaming loaders as
inspect/prepare, so a 2 GB upload costs a few kilobytes of memory. `total_rows` counts lines in
1 MB blocks for line-based files (exact for JSONL) and reads Parquet metadata; it is an estimate
for other JSON and for CSV with multi-line cells (`rows_exact` says which).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.data import formats, tokens
from tools.data.load import JSONL_EXT, Item, load_source
from tools.data.spec import DataError, RowError
from tools.data.validate import RowProblem

_BLOCK = 1 << 20


@dataclass
class Sample:
    path: str
    format: str  # the file extension without the dot, or "folder"
    layout: str | None  # None when the first rows fit no known layout
    dataset_type: str | None
    columns: list[str] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)  # raw rows, JSON-safe (odd values as strings)
    errors: list[RowError] = field(default_factory=list)
    total_rows: int = 0
    rows_exact: bool = False
    labels: list[str] = field(default_factory=list)  # a classification table's labels seen in the sample


def sample(path: str | Path, rows: int = 200) -> Sample:
    """The first `rows` rows of `path` (file or folder) and the layout they fit.

    Raises `DataError` for a file-level problem (missing, too big, binary, unreadable)."""
    path = Path(path).expanduser()
    source = load_source(path)
    head = list(itertools.islice(iter(source), rows * 2))  # row errors count against the bound too
    items = [e for e in head if isinstance(e, Item)][:rows]
    errors = [e for e in head if isinstance(e, RowError)][:rows]
    values = [_json_safe(item.value) for item in items]
    fmt = "folder" if path.is_dir() else path.suffix.lower().lstrip(".")
    result = Sample(path=str(path), format=fmt, layout=None, dataset_type=None, rows=values, errors=errors)
    try:
        detection = formats.detect(formats.rename_columns(values, {}, str(path)), str(path))
    except DataError:
        detection = None
    if detection is not None:
        result.layout, result.dataset_type, result.columns = detection.layout, detection.dataset_type, detection.columns
        if detection.layout == "classification":
            label = detection.keys["label"]
            result.labels = sorted({str(v[label]).strip() for v in values if isinstance(v, dict) and v.get(label) is not None})
    result.total_rows, result.rows_exact = _count(source, len(items) + sum(1 for e in errors if e.row > 0), len(head) < rows * 2)
    return result


def records(path: str | Path, rows: int = 200) -> list[dict]:
    """The first `rows` rows as training records (the layouts TRL trains on), before any preparing.

    Rows that don't convert are left out (prepare reports them); [] when no layout fits. The assistant
    reads reference answers from these to propose success checks before the user approves anything."""
    return _records(sample(path, rows), path)


def token_lengths(path: str | Path, model: str = "default", rows: int = 200) -> list[int]:
    """Tokens per training row of the first `rows` rows, as TRL will see them (chat template included),
    before any preparing: the chat's first time estimate. Counted with `model`'s tokenizer when it is
    local, else the default's (`tokens.sizing_tokenizer`). [] when no layout fits."""
    head = sample(path, rows)
    found = formats.unify(_records(head, path), head.dataset_type or "")  # one column type, as preparing makes it
    return tokens.row_lengths(tokens.sizing_tokenizer(model), found, head.dataset_type) if found else []


def _records(head: Sample, path: str | Path) -> list[dict]:
    if head.layout is None:
        return []
    values = formats.rename_columns(head.rows, {}, str(path), check=False)
    convert = formats.converter(formats.detect(values, str(path)))
    out = []
    for value in values:
        try:
            out.append(convert(value))
        except RowProblem:
            continue
    return out


def _json_safe(value: Any) -> Any:
    """The row as JSON would give it: timestamps, decimals and bytes as strings; too-deep rows as a note."""
    try:
        return json.loads(json.dumps(value, default=str, ensure_ascii=False))
    except (RecursionError, ValueError):
        return {"_unreadable": "nested too deeply or holds a number too long to show"}


def _count(source, seen: int, complete: bool) -> tuple[int, bool]:
    """Rows in the whole source: `seen` when the sample read it all, else counted or estimated per file."""
    if complete:
        return seen, True
    total, exact = 0, True
    for file, _ in source.files:
        ext = file.suffix.lower()
        if ext == ".parquet":
            import pyarrow.parquet as pq

            total += pq.ParquetFile(file).metadata.num_rows
            continue
        total += _lines(file) - (1 if ext in {".csv", ".tsv"} else 0)
        exact = exact and ext in JSONL_EXT
    return total, exact


def _lines(file: Path) -> int:
    """Non-empty lines, counted in 1 MB blocks (an upper bound of rows; exact for JSONL without blank lines)."""
    count, last = 0, b"\n"
    with file.open("rb") as fh:
        while block := fh.read(_BLOCK):
            count += block.count(b"\n") - block.count(b"\n\n")
            last = block[-1:]
    return count + (last != b"\n")
