"""Read a dataset file or folder into raw rows: `(file, row, value)` with 1-based row numbers.

Supports JSONL, JSON (an array, or an object holding one), CSV/TSV, Parquet, plain text/Markdown,
a folder of such files and a folder saved by `datasets.save_to_disk`. Problems with the whole file
raise `DataError`; problems with one row (bad JSON line, oversized line) become `RowError`s, so the
other rows still load.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.data.spec import DataError, RowError
from tools.vocab import DATA_SUFFIXES, JSONL_SUFFIXES, TEXT_SUFFIXES

JSONL_EXT = set(JSONL_SUFFIXES)
TEXT_EXT = set(TEXT_SUFFIXES)
DATA_EXT = set(DATA_SUFFIXES)
MAX_LINE_BYTES = 4 * 1024 * 1024  # one example bigger than this is almost surely not one example
_HF_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")
_BINARY_MAGIC = {b"%PDF": "a PDF", b"PK\x03\x04": "a ZIP archive (xlsx/docx?)", b"\x1f\x8b": "a gzip archive"}
_OFFICE_HINT = "export it as .csv or .jsonl first"


@dataclass
class Loaded:
    """Raw rows in source order plus the row errors found while reading."""

    items: list[tuple[str, int, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def extend(self, other: Loaded) -> None:
        self.items.extend(other.items)
        self.errors.extend(other.errors)


def load_source(path: str | Path, text_unit: str = "paragraph") -> Loaded:
    """Load `path` (file or folder); raise `DataError` when nothing can be read from it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(str(path), "no such file or folder; check the path (and upload the file if it lives elsewhere).")
    if path.is_dir():
        return _load_folder(path)
    return load_file(path, text_unit)


def load_file(path: Path, text_unit: str = "paragraph") -> Loaded:
    ext = path.suffix.lower()
    name = str(path)
    if ext not in DATA_EXT:
        hint = _OFFICE_HINT if ext in {".xlsx", ".xls", ".docx", ".pdf", ".odt", ".ods"} else "rename or convert it"
        raise DataError(
            name,
            f"unsupported file type '{ext or '(no extension)'}'; use .jsonl, .json, .csv, .tsv, .parquet, .txt or .md ({hint}).",
        )
    if path.stat().st_size == 0:
        raise DataError(name, "the file is empty; add one example per line (JSONL) or per row (CSV).")
    if ext == ".parquet":
        return _load_parquet(path)
    text = read_text(path)
    if ext in JSONL_EXT:
        return _load_jsonl(name, text)
    if ext == ".json":
        return _load_json(name, text)
    if ext in {".csv", ".tsv"}:
        return _load_csv(name, text, "\t" if ext == ".tsv" else ",")
    return _load_text(name, text, text_unit)


def read_text(path: Path) -> str:
    """Decode UTF-8 (BOM or not) or BOM-marked UTF-16; refuse binaries and other encodings plainly."""
    data = path.read_bytes()
    name = str(path)
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise DataError(name, f"this is {what}, not a text dataset; {_OFFICE_HINT}.")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
    else:
        if b"\x00" in data[:65536]:
            raise DataError(name, "this looks like a binary file, not text; give a .jsonl, .csv or .txt file.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            guess = _guess_encoding(data)
            seen = f"; it looks like {guess}" if guess else ""
            raise DataError(
                name,
                f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}{seen}); re-save it as UTF-8, "
                f"e.g. `iconv -f {guess or 'latin1'} -t utf-8 IN > OUT`.",
            ) from None
    if not text.strip():
        raise DataError(name, "the file holds only whitespace; add examples to it.")
    return text


def _guess_encoding(data: bytes) -> str:
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:200_000]).best()
    except Exception:  # detection is a hint only
        return ""
    return best.encoding if best is not None else ""


def _load_jsonl(name: str, text: str) -> Loaded:
    out = Loaded()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            mb = len(line.encode("utf-8")) / 1e6
            out.errors.append(
                RowError(file=name, row=number, field="line", message=f"line is {mb:.1f} MB, over the 4 MB limit for one "
                         "example; put one example per line, or split the text into smaller rows.")  # fmt: skip
            )
            continue
        try:
            out.items.append((name, number, json.loads(line)))
        except json.JSONDecodeError as exc:
            out.errors.append(RowError(file=name, row=number, field="json", message=_json_message(exc, line)))
    return out


def _json_message(exc: json.JSONDecodeError, line: str) -> str:
    if exc.msg.startswith("Unterminated") or exc.pos >= len(line.rstrip()) - 1:
        return f"invalid JSON ({exc.msg}: column {exc.colno}; the line looks cut off); complete or remove this line."
    return f"invalid JSON ({exc.msg}: column {exc.colno}); fix this line (one JSON object per line) or remove it."


def _load_json(name: str, text: str) -> Loaded:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) > 1 and all(ln.lstrip().startswith("{") for ln in lines[:5]):
            return _load_jsonl(name, text)  # JSON Lines saved with a .json extension
        cut = " (the file looks truncated)" if exc.msg.startswith("Unterminated") or exc.pos >= len(text.rstrip()) - 1 else ""
        raise DataError(
            name, f"invalid JSON ({exc.msg}: line {exc.lineno} column {exc.colno}){cut}; fix it, or save one object per line as .jsonl."
        ) from None
    if isinstance(value, dict):
        value = _rows_in_object(name, value)
    if not isinstance(value, list):
        raise DataError(
            name, f"holds a single JSON {type(value).__name__}, not examples; expected an array of objects, "
            "e.g. [{\"messages\": [...]}, ...]."  # fmt: skip
        )
    if not value:
        raise DataError(name, "the JSON array is empty; add examples to it.")
    return Loaded(items=[(name, i, row) for i, row in enumerate(value, start=1)])


def _rows_in_object(name: str, obj: dict) -> Any:
    lists = {k: v for k, v in obj.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v[:10])}
    for key in ("train", "data", "rows", "examples", "records", "items"):
        if key in lists:
            return lists[key]
    if len(lists) == 1:
        return next(iter(lists.values()))
    if any(k in obj for k in ("messages", "conversations", "prompt", "text", "instruction")):
        return [obj]  # one example on its own
    keys = ", ".join(sorted(obj)[:10])
    raise DataError(
        name, f"is a JSON object (keys: {keys}) with no array of examples in it; put the examples in an array "
        "(e.g. {\"data\": [...]}) or save them as .jsonl."  # fmt: skip
    )


def _load_csv(name: str, text: str, sep: str) -> Loaded:
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, on_bad_lines="error")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:200]
        raise DataError(name, f"could not parse as {'TSV' if sep == chr(9) else 'CSV'} ({reason}); check quoting and separators.") from None
    columns = [str(c) for c in frame.columns if not str(c).startswith("Unnamed:")]
    if not columns:
        raise DataError(name, "no named columns; the first row must be a header such as `prompt,completion`.")
    if frame.empty:
        raise DataError(name, f"only a header row ({', '.join(columns)}) and no data rows; add examples below it.")
    records = frame[columns].to_dict("records")
    # Row numbers are file lines: the header is line 1 (rows with embedded newlines shift this).
    return Loaded(items=[(name, i, row) for i, row in enumerate(records, start=2)])


def _load_parquet(path: Path) -> Loaded:
    try:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for corrupt files
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DataError(str(path), f"not a readable Parquet file ({reason}); re-export it or use .jsonl.") from None
    if not rows:
        raise DataError(str(path), "the Parquet file has no rows.")
    return Loaded(items=[(str(path), i, row) for i, row in enumerate(rows, start=1)])


def _load_text(name: str, text: str, unit: str) -> Loaded:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if unit == "file":
        return Loaded(items=[(name, 1, {"text": text})])
    out = Loaded()
    line = 1
    for block in re.split(r"(\n[ \t]*\n+)", text):
        if block.strip() and not block.startswith("\n"):
            out.items.append((name, line + len(block) - len(block.lstrip("\n")), {"text": block}))
        line += block.count("\n")
    return out


def _load_folder(path: Path) -> Loaded:
    if any((path / marker).is_file() for marker in _HF_MARKERS):
        return _load_hf_folder(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    usable = [p for p in files if p.suffix.lower() in DATA_EXT]
    if not usable:
        raise DataError(
            str(path), f"the folder has no usable files ({len(files)} files, none .jsonl, .json, .csv, .tsv, .parquet, .txt or .md)."
        )
    out = Loaded()
    for file in sorted(set(files) - set(usable)):
        out.errors.append(RowError(file=str(file), row=0, field="file", message=f"skipped: '{file.suffix}' files are not read."))
    for file in usable:
        try:
            # In a folder, each text file is one document.
            out.extend(load_file(file, "file" if file.suffix.lower() in TEXT_EXT else "paragraph"))
        except DataError as exc:
            out.errors.append(RowError(file=exc.file, row=0, field="file", message=exc.message))
    if not out.items:
        raise DataError(str(path), "nothing usable in the folder: " + "; ".join(e.line() for e in out.errors[:5]))
    return out


def _load_hf_folder(path: Path) -> Loaded:
    from datasets import DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(path))
    except Exception as exc:  # corrupt arrow files, version mismatch
        raise DataError(str(path), f"could not open this saved datasets folder ({str(exc)[:200]}).") from None
    if isinstance(data, DatasetDict):
        split = "train" if "train" in data else next(iter(data))
        data, name = data[split], str(path / split)
    else:
        name = str(path)
    if len(data) == 0:
        raise DataError(name, "the saved dataset has no rows.")
    return Loaded(items=[(name, i, row) for i, row in enumerate(data.to_list(), start=1)])
