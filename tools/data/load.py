"""Read a dataset file or folder as a stream of raw rows: `Item(file, row, value, split)` with 1-based
row numbers (file lines for JSONL and CSV), interleaved with the `RowError`s found while reading.

Supports JSONL, JSON (an array, or an object holding one under a key such as `data` or `train`),
CSV/TSV, Parquet, plain text/Markdown, a folder of such files (Hub-style folders included: split
files named train/validation/test, parquet shards, README.md and JSON sidecars skipped) and a folder
saved by `datasets.save_to_disk`.

Nothing reads a whole file into memory: JSONL and CSV go line by line, Parquet by row batches and
large JSON arrays through ijson, so memory stays flat as the file grows. Problems with the whole file
raise `DataError`; problems with one row (bad JSON, deep nesting, a 5000-digit number, a bad CSV
quote, an oversized line) become `RowError`s, so the other rows still load.

    source = load_source("chats.jsonl")
    for entry in source: ...          # Item or RowError, in file order
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from tools.data.spec import DataError, RowError
from tools.vocab import DATA_SUFFIXES, JSONL_SUFFIXES, TEXT_SUFFIXES

JSONL_EXT = set(JSONL_SUFFIXES)
TEXT_EXT = set(TEXT_SUFFIXES)
DATA_EXT = set(DATA_SUFFIXES)
MAX_LINE_BYTES = 4 * 1024 * 1024  # one example bigger than this is almost surely not one example
MAX_UPLOAD_ENV = "FINETUNE_ASSISTANT_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 2048
_WHOLE_JSON_BYTES = 64 * 1024 * 1024  # below this a .json file is parsed at once (exact error positions)
_HF_MARKERS = ("dataset_dict.json", "state.json")  # what `save_to_disk` writes (dataset_info.json alone is a Hub sidecar)
_BINARY_MAGIC = {b"%PDF": "a PDF", b"PK\x03\x04": "a ZIP archive (xlsx/docx?)", b"\x1f\x8b": "a gzip archive"}
_OFFICE_HINT = "export it as .csv or .jsonl first"
_ROW_KEYS = ("train", "data", "rows", "examples", "records", "items", "instances", "samples")
# Hub-style split names: `train.jsonl`, `train-00000-of-00003.parquet`, `data/validation/...`.
_SPLITS = {"train": "train", "training": "train", "validation": "validation", "valid": "validation", "val": "validation",
           "dev": "validation", "eval": "validation", "test": "test", "testing": "test"}  # fmt: skip
_SPLIT_NAME = re.compile(r"^(training|train|validation|valid|val|dev|eval|testing|test)(?=$|[-_.])", re.IGNORECASE)
# Files in a dataset folder that describe the data rather than hold it.
_SIDECARS = re.compile(
    r"^(readme|license|licence|changelog|citation|dataset_infos?|dataset_dict|state|config|metadata|"
    r"\.gitattributes|\.gitignore)(\.[\w.]+)?$",
    re.IGNORECASE,
)


class Item(NamedTuple):
    """One raw row: where it came from and which given split (train/validation/test) it belongs to."""

    file: str
    row: int
    value: Any
    split: str | None = None


def max_upload_bytes() -> int:
    """The size limit of one data file, from FINETUNE_ASSISTANT_MAX_UPLOAD_MB (default 2048 MB)."""
    raw = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        mb = DEFAULT_MAX_UPLOAD_MB
    return int(mb * 1024 * 1024)


def check_upload_size(path: str | Path) -> None:
    """Raise `DataError` naming the file and the limit when `path` is over the upload limit."""
    path = Path(path)
    size, limit = path.stat().st_size, max_upload_bytes()
    if size > limit:
        raise DataError(
            str(path), f"the file is {size / 2**20:,.0f} MB, over the {limit / 2**20:,.0f} MB upload limit; split it into "
            f"smaller files in one folder, or raise the limit with {MAX_UPLOAD_ENV}=MB."  # fmt: skip
        )


class Source:
    """A file or folder to read; iterate it for `Item`s and `RowError`s in file order (re-iterable).

    `files` are the data files with their given split (None when the split is to be sampled);
    `skipped` names files in a folder that are not data (README.md, sidecars, other types).
    """

    def __init__(self, path: str | Path, text_unit: str = "paragraph", validation: str | Path | None = None):
        self.path = Path(path).expanduser()
        self.text_unit = text_unit
        self.skipped: list[str] = []
        self.files: list[tuple[Path, str | None]] = []
        self.saved_dataset = False
        if not self.path.exists():
            raise DataError(str(self.path), "no such file or folder; check the path (and upload the file if it lives elsewhere).")
        if self.path.is_dir():
            self._scan_folder()
        else:
            _check_file(self.path)
            self.files = [(self.path, None)]
        if validation is not None:
            extra = Path(validation).expanduser()
            if not extra.is_file():
                raise DataError(str(extra), "the validation file does not exist; check the path.")
            _check_file(extra)
            if not any(split == "train" for _, split in self.files):
                self.files = [(f, split or "train") for f, split in self.files]
            self.files = [(f, s) for f, s in self.files if s != "validation"] + [(extra, "validation")]

    @property
    def given_split(self) -> bool:
        return any(split == "validation" for _, split in self.files)

    def __iter__(self) -> Iterator[Item | RowError]:
        if self.saved_dataset:
            yield from _iter_saved_dataset(self.path)
            return
        in_folder = self.path.is_dir()
        for file, split in self.files:
            # In a folder, each text file is one document.
            unit = "file" if in_folder and file.suffix.lower() in TEXT_EXT else self.text_unit
            try:
                yield from iter_file(file, unit, split)
            except DataError as exc:
                if not in_folder:
                    raise
                yield RowError(file=exc.file, row=0, field="file", message=exc.message)

    def _scan_folder(self) -> None:
        path = self.path
        if any((path / marker).is_file() for marker in _HF_MARKERS):
            self.saved_dataset = True
            return
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        usable = [p for p in files if p.suffix.lower() in DATA_EXT and not _SIDECARS.match(p.name)]
        splits = {p: _split_of(p.relative_to(path)) for p in usable}
        if any(splits.values()):  # a Hub-style folder: only split files are data
            usable = [p for p in usable if splits[p]]
        if not usable:
            raise DataError(
                str(path), f"the folder has no usable files ({len(files)} files, none .jsonl, .json, .csv, .tsv, .parquet, .txt or .md)."
            )
        for p in usable:
            _check_file(p)
        # A given test split stays out of training and validation: it is the user's own held-out set.
        self.skipped = [str(p) for p in files if p not in usable or splits[p] == "test"]
        order = {"train": 0, None: 0, "validation": 1}
        self.files = sorted(((p, splits[p]) for p in usable if splits[p] != "test"), key=lambda fs: (order[fs[1]], str(fs[0])))


def load_source(path: str | Path, text_unit: str = "paragraph", validation: str | Path | None = None) -> Source:
    """The source at `path` (file or folder), checked for existence, type and size; raise `DataError` if unusable."""
    return Source(path, text_unit, validation)


def _split_of(relative: Path) -> str | None:
    for part in reversed(relative.parts):
        found = _SPLIT_NAME.match(part)
        if found:
            return _SPLITS[found.group(1).lower()]
    return None


def _check_file(path: Path) -> None:
    ext = path.suffix.lower()
    if ext not in DATA_EXT:
        hint = _OFFICE_HINT if ext in {".xlsx", ".xls", ".docx", ".pdf", ".odt", ".ods"} else "rename or convert it"
        raise DataError(
            str(path),
            f"unsupported file type '{ext or '(no extension)'}'; use .jsonl, .json, .csv, .tsv, .parquet, .txt or .md ({hint}).",
        )
    if path.stat().st_size == 0:
        raise DataError(str(path), "the file is empty; add one example per line (JSONL) or per row (CSV).")
    check_upload_size(path)


def iter_file(path: Path, text_unit: str = "paragraph", split: str | None = None) -> Iterator[Item | RowError]:
    """Stream one file's rows; raise `DataError` for a file-level problem (possibly after some rows)."""
    ext = path.suffix.lower()
    if ext == ".parquet":
        yield from _iter_parquet(path, split)
        return
    encoding = _encoding(path)
    if ext in JSONL_EXT:
        yield from _iter_jsonl(path, encoding, split)
    elif ext == ".json":
        yield from _iter_json(path, encoding, split)
    elif ext in {".csv", ".tsv"}:
        yield from _iter_csv(path, encoding, "\t" if ext == ".tsv" else ",", split)
    else:
        yield from _iter_text(path, encoding, text_unit, split)


def _encoding(path: Path) -> str:
    """utf-8-sig, or utf-16 for BOM-marked UTF-16; refuse binaries plainly (checked on the first 64 KB)."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise DataError(str(path), f"this is {what}, not a text dataset; {_OFFICE_HINT}.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in head:
        raise DataError(str(path), "this looks like a binary file, not text; give a .jsonl, .csv or .txt file.")
    return "utf-8-sig"


def _lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, line); a line over MAX_LINE_BYTES comes as the marker '\\x00TOO LONG <chars>' and
    its rest is skipped unread into memory, so a 1 GB line never sits there."""
    number = 0
    with path.open("r", encoding=encoding, newline="") as fh:
        try:
            while True:
                line = fh.readline(MAX_LINE_BYTES + 1)
                if not line:
                    return
                number += 1
                if len(line) > MAX_LINE_BYTES and not line.endswith("\n"):
                    size = len(line)
                    while line and not line.endswith("\n"):
                        line = fh.readline(MAX_LINE_BYTES)
                        size += len(line)
                    yield number, f"\x00TOO LONG {size}"
                    continue
                yield number, line
        except UnicodeDecodeError as exc:
            raise _decode_error(path, exc, number + 1) from None


def _decode_error(path: Path, exc: UnicodeDecodeError, line: int) -> DataError:
    guess = _guess_encoding(path)
    seen = f"; it looks like {guess}" if guess else ""
    return DataError(
        str(path),
        f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} on line {line}{seen}); re-save it as UTF-8, "
        f"e.g. `iconv -f {guess or 'latin1'} -t utf-8 IN > OUT`.",
    )


def _guess_encoding(path: Path) -> str:
    try:
        from charset_normalizer import from_bytes

        with path.open("rb") as fh:
            best = from_bytes(fh.read(200_000)).best()
    except Exception:  # detection is a hint only
        return ""
    return best.encoding if best is not None else ""


def _too_long(name: str, number: int, line: str) -> RowError:
    mb = int(line.split()[-1]) / 1e6
    return RowError(file=name, row=number, field="line", message=f"line is {mb:.1f} MB, over the 4 MB limit for one "
                    "example; put one example per line, or split the text into smaller rows.")  # fmt: skip


def parse_json_row(text: str) -> Any:
    """`json.loads` whose every failure is a `ValueError` with a short reason: deep nesting
    (RecursionError) and huge integers (Python's int-string limit) included."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply (over ~1000 levels of [ or {); flatten this row or remove it") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        reason = "a number with thousands of digits" if "digits" in str(exc) else str(exc)[:120]
        raise ValueError(f"{reason}; write it as a string or remove this row") from None


def _iter_jsonl(path: Path, encoding: str, split: str | None) -> Iterator[Item | RowError]:
    name = str(path)
    seen = False
    for number, line in _lines(path, encoding):
        if not line.strip():
            continue
        seen = True
        if line.startswith("\x00TOO LONG"):
            yield _too_long(name, number, line)
            continue
        try:
            yield Item(name, number, parse_json_row(line), split)
        except json.JSONDecodeError as exc:
            yield RowError(file=name, row=number, field="json", message=_json_message(exc, line.rstrip("\r\n")))
        except ValueError as exc:
            yield RowError(file=name, row=number, field="json", message=f"invalid JSON row ({exc}).")
    if not seen:
        raise DataError(name, "the file holds only whitespace; add examples to it.")


def _json_message(exc: json.JSONDecodeError, line: str) -> str:
    if exc.msg.startswith("Unterminated") or exc.pos >= len(line.rstrip()) - 1:
        return f"invalid JSON ({exc.msg}: column {exc.colno}; the line looks cut off); complete or remove this line."
    return f"invalid JSON ({exc.msg}: column {exc.colno}); fix this line (one JSON object per line) or remove it."


def _looks_like_jsonl(path: Path, encoding: str) -> bool:
    """JSON Lines saved with a .json extension: the first line is a whole object and more lines follow."""
    lines = []
    for _, line in _lines(path, encoding):
        if line.strip():
            lines.append(line)
        if len(lines) == 2:
            break
    if len(lines) < 2 or not lines[0].lstrip().startswith("{") or not lines[1].lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(lines[0]), dict)
    except ValueError:
        return False


def _iter_json(path: Path, encoding: str, split: str | None) -> Iterator[Item | RowError]:
    if _looks_like_jsonl(path, encoding):
        yield from _iter_jsonl(path, encoding, split)
        return
    if path.stat().st_size > _WHOLE_JSON_BYTES:
        yield from _iter_json_stream(path, encoding, split)
        return
    name = str(path)
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, exc, exc.object[: exc.start].count(b"\n") + 1) from None
    if not text.strip():
        raise DataError(name, "the file holds only whitespace; add examples to it.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = " (the file looks truncated)" if exc.msg.startswith("Unterminated") or exc.pos >= len(text.rstrip()) - 1 else ""
        raise DataError(
            name, f"invalid JSON ({exc.msg}: line {exc.lineno} column {exc.colno}){cut}; fix it, or save one object per line as .jsonl."
        ) from None
    except (RecursionError, ValueError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:120]
        raise DataError(name, f"could not read the JSON ({reason}); save the rows one per line as .jsonl, so one bad row "
                        "is reported on its own.") from None  # fmt: skip
    del text
    if isinstance(value, dict):
        value = _rows_in_object(name, value)
    if not isinstance(value, list):
        raise DataError(
            name, f"holds a single JSON {type(value).__name__}, not examples; expected an array of objects, "
            "e.g. [{\"messages\": [...]}, ...]."  # fmt: skip
        )
    if not value:
        raise DataError(name, "the JSON array is empty; add examples to it.")
    for i, row in enumerate(value, start=1):
        yield Item(name, i, row, split)


def _rows_in_object(name: str, obj: dict) -> Any:
    lists = {k: v for k, v in obj.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v[:10])}
    for key in _ROW_KEYS:
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


def _iter_json_stream(path: Path, encoding: str, split: str | None) -> Iterator[Item | RowError]:
    """A large .json file through ijson: the top-level array, or the array under a rows key."""
    import ijson

    name = str(path)
    prefix = _json_rows_prefix(path, encoding)
    number = 0
    with path.open("r", encoding=encoding) as fh:
        try:
            for number, row in enumerate(ijson.items(fh, prefix, use_float=True), start=1):
                yield Item(name, number, row, split)
        except (ijson.JSONError, ValueError, RecursionError) as exc:
            raise DataError(name, f"invalid JSON after row {number} ({str(exc)[:150]}); fix it, or save one object per "
                            "line as .jsonl so one bad row is reported on its own.") from None  # fmt: skip
    if number == 0:
        raise DataError(name, "the JSON array is empty; add examples to it.")


def _json_rows_prefix(path: Path, encoding: str) -> str:
    import ijson

    with path.open("r", encoding=encoding) as fh:
        arrays: list[str] = []
        try:
            for prefix, event, _ in ijson.parse(fh):
                if prefix == "" and event == "start_array":
                    return "item"
                if event == "start_array" and "." not in prefix and prefix:
                    if prefix in _ROW_KEYS:
                        return f"{prefix}.item"
                    arrays.append(prefix)
                if prefix == "" and event == "end_map":
                    break
        except (ijson.JSONError, ValueError) as exc:
            raise DataError(str(path), f"invalid JSON ({str(exc)[:150]}); fix it, or save one object per line as .jsonl.") from None
    if len(arrays) == 1:
        return f"{arrays[0]}.item"
    raise DataError(str(path), "is a JSON object with no single array of examples in it; put the examples in an array "
                    "(e.g. {\"data\": [...]}) or save them as .jsonl.")  # fmt: skip


def _records(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Physical lines grouped into CSV records: a record ends where its quotes balance. A record that
    would run past MAX_LINE_BYTES or to the end of the file holds an unbalanced quote: its first line
    is reported alone (marked '\\x00BAD QUOTE') and reading resumes on the next line."""
    pending: list[tuple[int, str]] = []
    quotes = size = 0
    lines = _lines(path, encoding)
    replay: list[tuple[int, str]] = []
    while True:
        entry = replay.pop(0) if replay else next(lines, None)
        if entry is None:
            if pending:  # EOF inside quotes
                yield pending[0][0], "\x00BAD QUOTE"
                replay = pending[1:]
                pending, quotes, size = [], 0, 0
                continue
            return
        number, line = entry
        if line.startswith("\x00TOO LONG"):
            yield number, line
            continue
        pending.append(entry)
        quotes += line.count('"')
        size += len(line)
        if quotes % 2 == 0:
            yield pending[0][0], "".join(text for _, text in pending)
            pending, quotes, size = [], 0, 0
        elif size > MAX_LINE_BYTES:
            yield pending[0][0], "\x00BAD QUOTE"
            replay = pending[1:] + replay
            pending, quotes, size = [], 0, 0


def _iter_csv(path: Path, encoding: str, sep: str, split: str | None) -> Iterator[Item | RowError]:
    name, kind = str(path), "TSV" if sep == "\t" else "CSV"
    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))
    header: list[str] | None = None
    keep: list[int] = []
    seen_rows = False
    for number, text in _records(path, encoding):
        if header is None:
            if not text.strip():
                continue
            if text.startswith("\x00"):
                raise DataError(name, f"could not parse the {kind} header (line {number}); check quoting and separators.")
            header = _parse_csv_record(text, sep)
            keep = [i for i, col in enumerate(header) if col.strip()]
            if not keep:
                raise DataError(name, "no named columns; the first row must be a header such as `prompt,completion`.")
            continue
        if not text.strip():
            continue
        seen_rows = True
        if text.startswith("\x00TOO LONG"):
            yield _too_long(name, number, text)
            continue
        if text == "\x00BAD QUOTE":
            yield RowError(file=name, row=number, field="csv", message="unbalanced quote (\") on this line; close the quote "
                           "or double it (\"\") inside a quoted field.")  # fmt: skip
            continue
        try:
            cells = _parse_csv_record(text, sep)
        except csv.Error as exc:
            yield RowError(file=name, row=number, field="csv", message=f"could not parse this {kind} row ({exc}); check its quoting.")
            continue
        if len(cells) != len(header):
            yield RowError(file=name, row=number, field="csv", message=f"{len(cells)} cells where the header has {len(header)}; "
                           f"check the separators and quotes in this row.")  # fmt: skip
            continue
        yield Item(name, number, {header[i].strip(): cells[i] for i in keep}, split)
    if header is None:
        raise DataError(name, "the file holds only whitespace; add examples to it.")
    if not seen_rows:
        columns = ", ".join(header[i].strip() for i in keep)
        raise DataError(name, f"only a header row ({columns}) and no data rows; add examples below it.")


def _parse_csv_record(text: str, sep: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text), delimiter=sep, strict=True))
    if len(rows) != 1:
        raise csv.Error("one row spans several records")
    return rows[0]


def _iter_parquet(path: Path, split: str | None) -> Iterator[Item | RowError]:
    name = str(path)
    try:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        batches = parquet.iter_batches(batch_size=1024)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DataError(name, f"not a readable Parquet file ({reason}); re-export it or use .jsonl.") from None
    if parquet.metadata.num_rows == 0:
        raise DataError(name, "the Parquet file has no rows.")
    number = 0
    for batch in batches:
        for row in _batch_rows(batch):
            number += 1
            if isinstance(row, RowError):
                yield RowError(file=name, row=number, field=row.field, message=row.message)
            else:
                yield Item(name, number, row, split)


def _batch_rows(batch) -> list[dict | RowError]:
    """A record batch as dicts; a column Python cannot hold (out-of-range timestamps, odd extension
    types) turns into per-row errors for the rows whose cell fails, not a failed file."""
    try:
        return batch.to_pylist()
    except Exception:  # pyarrow raises ArrowInvalid, ValueError or OverflowError per type
        pass
    columns: dict[str, list] = {}
    bad: dict[int, RowError] = {}
    for col_name, column in zip(batch.schema.names, batch.columns, strict=True):
        values = []
        for i in range(len(column)):
            try:
                values.append(column[i].as_py())
            except Exception as exc:
                values.append(None)
                bad.setdefault(i, RowError(file="", row=0, field=col_name, message=f"a value Python cannot read "
                               f"({type(exc).__name__}: {str(exc)[:80]}); convert this column to text."))  # fmt: skip
        columns[col_name] = values
    names = list(columns)
    return [bad.get(i) or {n: columns[n][i] for n in names} for i in range(batch.num_rows)]


def _iter_text(path: Path, encoding: str, unit: str, split: str | None) -> Iterator[Item | RowError]:
    name = str(path)
    if unit == "file":
        try:
            text = path.read_text(encoding=encoding).replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError as exc:
            raise _decode_error(path, exc, exc.object[: exc.start].count(b"\n") + 1) from None
        if not text.strip():
            raise DataError(name, "the file holds only whitespace; add examples to it.")
        yield Item(name, 1, {"text": text}, split)
        return
    block: list[str] = []
    start = size = 0
    seen = False
    for number, line in _lines(path, encoding):
        if line.startswith("\x00TOO LONG"):
            yield _too_long(name, number, line)
            continue
        line = line.replace("\r\n", "\n").replace("\r", "\n")
        if not line.strip():
            if block:
                seen = True
                yield Item(name, start, {"text": "".join(block).rstrip("\n")}, split)
                block, size = [], 0
            continue
        if not block:
            start = number
        block.append(line)
        size += len(line)
    if block:
        seen = True
        yield Item(name, start, {"text": "".join(block).rstrip("\n")}, split)
    if not seen:
        raise DataError(name, "the file holds only whitespace; add examples to it.")


def _iter_saved_dataset(path: Path) -> Iterator[Item | RowError]:
    from datasets import DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(path))
    except Exception as exc:  # corrupt arrow files, version mismatch
        raise DataError(str(path), f"could not open this saved datasets folder ({str(exc)[:200]}).") from None
    parts = [(str(path / s), data[s], _SPLITS.get(s.lower())) for s in data] if isinstance(data, DatasetDict) else [(str(path), data, None)]
    if not any(split == "train" for *_, split in parts):
        parts = [(name, part, None) for name, part, _ in parts[:1]]  # no split named train: the first one is the data
    parts = [p for p in parts if p[2] != "test"]
    if sum(len(d) for _, d, _ in parts) == 0:
        raise DataError(str(path), "the saved dataset has no rows.")
    for name, part, split in parts:
        number = 0
        for batch in part.iter(batch_size=1000):  # Arrow-backed: memory stays flat
            keys = list(batch)
            for i in range(len(batch[keys[0]]) if keys else 0):
                number += 1
                yield Item(name, number, {k: batch[k][i] for k in keys}, split)
