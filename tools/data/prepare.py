"""The data pipeline: load -> detect layout -> convert and validate -> clean (normalise, redact PII,
dedupe) -> count tokens -> filter by length -> split -> write a prepared folder.

    from tools.data import inspect_data, prepare_data, DataSpec
    report = inspect_data("chats.jsonl", DataSpec(model="default", max_length=1024))
    report = prepare_data("chats.jsonl", "prepared/", DataSpec(val_fraction=0.1))

`inspect_data` runs every step but the writing, so its numbers are the ones `prepare_data` would give.
The last analysis is kept (see `cache.py`), so `prepare_data` right after `inspect_data` on the same
unchanged source and spec only writes.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.data import cache, clean, formats, pii, testsplit, tokens
from tools.data.load import load_source
from tools.data.spec import MAX_ERRORS, DataError, DataReport, DataSpec, RowError, TokenStats
from tools.data.validate import RowProblem
from tools.paths import atomic_dir

_PREVIEW_CHARS = 300


@dataclass
class _Run:
    """State passed along the pipeline: kept records and where each came from."""

    source: str
    spec: DataSpec
    records: list[dict] = field(default_factory=list)
    origins: list[tuple[str, int]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    tokenizer: Any = None

    def keep(self, drop: set[int] | dict[int, Any]) -> None:
        self.records = [r for i, r in enumerate(self.records) if i not in drop]
        self.origins = [o for i, o in enumerate(self.origins) if i not in drop]
        if self.lengths:
            self.lengths = [n for i, n in enumerate(self.lengths) if i not in drop]


def _resolve_spec(spec: DataSpec | None, overrides: dict) -> DataSpec:
    base = spec.model_dump() if spec is not None else {}
    return DataSpec(**{**base, **overrides})


def inspect_data(source: str | Path, spec: DataSpec | None = None, **overrides: Any) -> DataReport:
    """Analyse a dataset file or folder without writing anything.

    Raises `DataError` for file-level problems; rejected rows are listed in `report.errors`.
    `report.usable_rows == 0` means nothing could be trained on.
    """
    spec = _resolve_spec(spec, overrides)
    report, _ = _analysis(str(source), spec)
    return report


def prepare_data(source: str | Path, out: str | Path, spec: DataSpec | None = None, **overrides: Any) -> DataReport:
    """Write `train.jsonl`, `validation.jsonl`, `report.json`, `report.md` and `histogram.png` to `out`
    (atomically; the source is only read). Raises `DataError` when no row is usable."""
    spec = _resolve_spec(spec, overrides)
    report, run = _analysis(str(source), spec)
    if not run.records:
        first = "; ".join(e.line() for e in run.errors[:3])
        raise DataError(str(source), f"no usable rows ({report.error_count} rejected{': ' + first if first else ''}).")
    started = time.perf_counter()
    train, validation = split(len(run.records), spec.val_fraction, spec.seed)
    train, test = testsplit.carve(train, len(run.records), spec.test_fraction, spec.seed)  # [checks] locked test split
    out = Path(out).expanduser().resolve()
    report.out_dir, report.train_rows, report.validation_rows = str(out), len(train), len(validation)
    with atomic_dir(out, replaces="report.json") as tmp:
        _write_jsonl(tmp / "train.jsonl", [run.records[i] for i in train])
        _write_jsonl(tmp / "validation.jsonl", [run.records[i] for i in validation])
        if test:  # [checks]
            _write_jsonl(tmp / testsplit.TEST_FILE, [run.records[i] for i in test])
            report.test_rows, report.test_sha256 = len(test), testsplit.sha256(tmp / testsplit.TEST_FILE)
        tokens.histogram(run.lengths, spec.max_length, tmp / "histogram.png", f"{Path(source).name}: tokens per row")
        report.seconds["write"] = round(time.perf_counter() - started, 3)
        (tmp / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return report


def split(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic train/validation indices. Runs after dedupe, so no duplicate crosses the split."""
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = min(max(1, n_val), n - 1)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return sorted(order[n_val:]), sorted(order[:n_val])


def _analysis(source: str, spec: DataSpec) -> tuple[DataReport, _Run]:
    """`_analyse`, or the last one when source, spec and tokenizer are unchanged. Callers get their own
    copy of the report; the run's records are only read after the analysis, so they are shared."""
    key = cache.key(source, spec)
    hit = cache.get(key)
    if hit is not None:
        report, run = hit
        if run.tokenizer is None or _tokenizer_or_none(spec.model) is run.tokenizer:
            return report.model_copy(update={"spec": spec}, deep=True), run
    report, run = _analyse(source, spec)
    cache.put(key, (report.model_copy(deep=True), run))
    return report, run


def _tokenizer_or_none(model: str) -> Any:
    # The loader caches per tokenizer-file mtime: another object means the tokenizer changed.
    try:
        return tokens.load_tokenizer(model)
    except Exception:  # the cold run reports it
        return None


def _analyse(source: str, spec: DataSpec) -> tuple[DataReport, _Run]:
    run = _Run(source=source, spec=spec)
    clock = time.perf_counter()
    loaded = load_source(source, spec.text_unit)
    run.errors += loaded.errors
    rows = formats.rename_columns([item[2] for item in loaded.items], spec.columns, source)
    detection = formats.detect(rows, source, spec.layout)
    clock = _lap(run, "load", clock)
    _convert(run, loaded.items, rows, detection)
    clock = _lap(run, "validate", clock)
    valid_rows = len(run.records)
    counts = _clean(run)
    clock = _lap(run, "clean", clock)
    tokenizer = run.tokenizer = tokens.load_tokenizer(spec.model) if run.records else None
    clock = _lap(run, "tokenizer", clock)
    near = _near_dedupe(run)
    clock = _lap(run, "near_dedupe", clock)
    run.lengths = tokens.row_lengths(tokenizer, run.records, detection.dataset_type) if run.records else []
    too_short, too_long = _length_filter(run)
    _lap(run, "tokens", clock)
    run.errors.sort(key=lambda e: (e.file, e.row))
    report = DataReport(
        source=source, format=detection.layout, dataset_type=detection.dataset_type, columns=detection.columns,
        rows=len(loaded.items) + sum(1 for e in loaded.errors if e.row > 0), valid_rows=valid_rows,
        usable_rows=len(run.records), errors=run.errors[:MAX_ERRORS], error_count=len(run.errors),
        exact_duplicates=counts["exact"], near_duplicates=near, duplicates=run.duplicates[:MAX_ERRORS],
        too_short=too_short, too_long=too_long, pii=counts["pii"],
        tokens=tokens.stats(run.lengths, spec.max_length) if run.lengths else TokenStats(max_length=spec.max_length),
        spec=spec, samples=[_preview(r) for r in run.records[:3]], seconds=run.seconds,
    )  # fmt: skip
    return report, run


def _lap(run: _Run, step: str, since: float) -> float:
    now = time.perf_counter()
    run.seconds[step] = round(now - since, 3)
    return now


def _convert(run: _Run, items: list[tuple[str, int, Any]], rows: list[Any], detection: formats.Detection) -> None:
    convert = formats.converter(detection)
    for (file, number, _), row in zip(items, rows, strict=True):
        try:
            run.records.append(convert(row))
        except RowProblem as problem:
            run.errors.append(RowError(file=file, row=number, field=problem.field, message=problem.message))
            continue
        run.origins.append((file, number))
    run.records = formats.unify(run.records, detection.dataset_type)


def _clean(run: _Run) -> dict[str, Any]:
    found: dict[str, int] = dict.fromkeys(pii.KINDS, 0)
    if run.spec.pii_redaction and run.records:
        redactor = pii.PresidioRedactor() if run.spec.pii_backend == "presidio" else pii.Redactor()
        clean.map_strings(run.records, clean.normalise, redactor)
        found.update(redactor.counts)
    else:
        clean.map_strings(run.records, clean.normalise)
    dups = clean.exact_duplicates(run.records) if run.spec.exact_dedupe else {}
    _note_duplicates(run, dups, "exact")
    run.keep(dups)
    return {"exact": len(dups), "pii": found}


def _near_dedupe(run: _Run) -> int:
    threshold = run.spec.near_dedupe_threshold
    if threshold is None or len(run.records) < 2:
        return 0
    # The system prompt is left out: many datasets share one, which would make every row look alike.
    words = clean.word_ids([clean.record_text(r, with_system=False) for r in run.records])
    dups = clean.near_duplicates(clean.minhash_signatures(words), threshold)
    _note_duplicates(run, dups, "near")
    run.keep(dups)
    return len(dups)


def _note_duplicates(run: _Run, dups: dict[int, int], kind: str) -> None:
    for i, j in sorted(dups.items())[: max(0, MAX_ERRORS - len(run.duplicates))]:
        (file, row), (_, first) = run.origins[i], run.origins[j]
        run.duplicates.append({"file": file, "row": row, "duplicate_of": first, "kind": kind})


def _length_filter(run: _Run) -> tuple[int, int]:
    low, high = run.spec.min_tokens, run.spec.max_tokens
    short = {i for i, n in enumerate(run.lengths) if n < low}
    long = {i for i, n in enumerate(run.lengths) if high is not None and n > high}
    run.keep(short | long)
    return len(short), len(long)


def _preview(record: dict) -> dict:
    def cut(value: Any) -> Any:
        if isinstance(value, str):
            return value if len(value) <= _PREVIEW_CHARS else value[:_PREVIEW_CHARS] + "…"
        if isinstance(value, list):
            return [cut(v) for v in value]
        if isinstance(value, dict):
            return {k: cut(v) for k, v in value.items()}
        return value

    return cut(record)


# One encoder for all rows: `json.dumps` with any option builds a new encoder per call.
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def _write_jsonl(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(_ENCODE(r) + "\n" for r in records)


def render_markdown(report: DataReport) -> str:
    """A short human summary of a report (what `report.md` holds)."""
    t = report.tokens
    pii_found = ", ".join(f"{k} {v}" for k, v in report.pii.items() if v) or "none"
    lines = [
        f"# Prepared dataset: {Path(report.source).name}",
        "",
        f"- Source: `{report.source}` (layout **{report.format}**, trained as **{report.dataset_type}**)",
        f"- Rows read: {report.rows}; valid: {report.valid_rows}; kept: {report.usable_rows} "
        f"(train {report.train_rows}, validation {report.validation_rows}, locked test {report.test_rows})",
        f"- Rejected rows: {report.error_count}; exact duplicates removed: {report.exact_duplicates}; "
        f"near-duplicates removed: {report.near_duplicates}; too short: {report.too_short}; too long: {report.too_long}",
        f"- PII redacted: {pii_found}" if report.spec.pii_redaction else "- PII redaction: off",
        f"- Tokens per row ({report.spec.model}): p50 {t.p50}, p95 {t.p95}, max {t.max}, total {t.total}; "
        f"{t.truncated_fraction:.1%} longer than max_length {t.max_length}",
        "",
        "![tokens per row](histogram.png)",
    ]
    if report.errors:
        lines += ["", "## Rejected rows", ""]
        lines += [f"- `{Path(e.file).name}:{e.row}` {e.field}: {e.message}" for e in report.errors[:50]]
        if report.error_count > 50:
            lines.append(f"- … and {report.error_count - 50} more (see report.json)")
    return "\n".join(lines) + "\n"
