"""The data pipeline: load -> detect layout -> convert and validate -> clean (normalise, redact PII,
dedupe) -> count tokens -> filter by length -> split -> write a prepared folder.

    from tools.data import inspect_data, prepare_data, DataSpec
    report = inspect_data("chats.jsonl", DataSpec(model="default", max_length=1024))
    report = prepare_data("chats.jsonl", "prepared/", DataSpec(val_fraction=0.1))

It streams: rows are read, converted, cleaned and tokenized a chunk at a time, and the kept records go
to a spool file on disk. What stays in memory per row is fixed-size (an 8-byte digest for exact
dedupe, LSH band keys for near-dedupe, the token count, where the row came from), so memory stays
flat as the file grows. Error and duplicate lists keep their first `MAX_ERRORS` entries and count
the rest. Writing reads the spool back and routes each kept row to its split.

`inspect_data` runs every step but the writing, so its numbers are the ones `prepare_data` would give.
The last analysis is kept (see `cache.py`), so `prepare_data` right after `inspect_data` on the same
unchanged source and spec only writes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import tempfile
import time
import weakref
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import paths
from tools.data import cache, clean, formats, pii, testsplit, tokens
from tools.data.load import Item, load_source
from tools.data.spec import MAX_ERRORS, DataError, DataReport, DataSpec, RowError, TokenStats
from tools.data.validate import RowProblem, placeholder
from tools.paths import atomic_dir

_PREVIEW_CHARS = 300
_CHUNK = 2048  # rows per streamed step: large enough for batched tokenizing, small enough to stay flat
_HEAD = 2000  # rows the layout is detected from
_MAX_LABELS = 1000
TRAIN, VALIDATION, TEST = 0, 1, 2  # split codes in `assign_splits`


@dataclass
class _Run:
    """What one analysis keeps: per spooled row fixed-size facts, the spool of cleaned records on disk,
    and bounded lists of errors, warnings and duplicates."""

    source: str
    spec: DataSpec
    spool: Path
    signatures: Path | None = None
    count: int = 0  # rows in the spool (valid, not exact duplicates)
    files: list[str] = field(default_factory=list)
    file_of: array = field(default_factory=lambda: array("I"))
    row_of: array = field(default_factory=lambda: array("q"))
    given: array = field(default_factory=lambda: array("b"))  # 1: the row came from a given validation split
    lengths: array = field(default_factory=lambda: array("i"))
    keep: Any = None  # numpy bool per spooled row once the analysis is done
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    warnings: list[RowError] = field(default_factory=list)
    warning_count: int = 0
    duplicates: list[dict] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    seen: dict[str, bool] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    tokenizer: Any = None
    dataset_type: str = ""
    given_split: bool = False

    def error(self, err: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(err)

    def warn(self, err: RowError) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_ERRORS:
            self.warnings.append(err)

    def origin(self, i: int) -> tuple[str, int]:
        return self.files[self.file_of[i]], self.row_of[i]

    def kept(self) -> Iterator[tuple[int, dict]]:
        """(spool index, record) of every kept row, read back from the spool."""
        with self.spool.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if self.keep[i]:
                    yield i, formats.unify_record(json.loads(line), self.dataset_type, self.seen)


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
    return _prepare(source, out, _resolve_spec(spec, overrides))


def _source_bytes(source: str | Path) -> int:
    try:
        return paths.tree_bytes(Path(source).expanduser())
    except OSError:  # missing or unreadable: the analysis says so, with its own message
        return 0


def dataset_dir(source: str | Path, spec: DataSpec) -> Path:
    """`<data dir>/datasets/<name>-<hash of the source's bytes and the spec>`: one folder per distinct input."""
    digest = hashlib.sha256(spec.model_dump_json().encode())
    source = Path(source).expanduser().resolve()
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    for file in files:
        digest.update(str(file.relative_to(source) if source.is_dir() else file.name).encode() + b"\0")
        with open(file, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in source.stem)[:40] or "data"
    return paths.datasets_dir() / f"{stem}-{digest.hexdigest()[:12]}"


def prepare_once(source: str | Path, spec: DataSpec | None = None) -> DataReport:
    """Prepare `source` into its own `dataset_dir`, or reuse that folder when an earlier approval prepared it.

    A prepared folder is never rewritten (M9): a finished, running or queued run that trains or evaluates
    on it keeps exactly the data it was approved with. Other content or other settings get another folder;
    two preparations of the same input at once keep whichever finished first (the same rows either way).
    """
    spec = spec or DataSpec()
    target = dataset_dir(source, spec)
    try:
        return DataReport.model_validate_json((target / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not prepared yet (or an unreadable report: prepared again beside it)
        pass
    return _prepare(source, target, spec, keep_existing=True)


def _prepare(source: str | Path, out: str | Path, spec: DataSpec, keep_existing: bool = False) -> DataReport:
    # The cleaned rows are spooled, then written to train/validation/test: about twice the source, checked
    # before the minutes of analysis rather than failing at the end with a full disk (M4).
    paths.ensure_free(Path(out).expanduser().parent, 2 * _source_bytes(source), "the prepared data")
    report, run = _analysis(str(source), spec)
    if report.usable_rows == 0:
        first = "; ".join(e.line() for e in run.errors[:3])
        raise DataError(str(source), f"no usable rows ({report.error_count} rejected{': ' + first if first else ''}).")
    started = time.perf_counter()
    splits = assign_splits(run, spec)
    out = Path(out).expanduser().resolve()
    report.out_dir = str(out)
    report.train_rows, report.validation_rows = int((splits == TRAIN).sum()), int((splits == VALIDATION).sum())
    with atomic_dir(out, replaces="report.json", keep_existing=keep_existing) as tmp:
        files = {TRAIN: tmp / "train.jsonl", VALIDATION: tmp / "validation.jsonl"}
        test_rows = int((splits == TEST).sum())
        if test_rows:  # the locked test split: its hash is checked before every verdict
            files[TEST] = tmp / testsplit.TEST_FILE
        _write_splits(run, splits, files)
        if test_rows:
            report.test_rows, report.test_sha256 = test_rows, testsplit.sha256(files[TEST])
        import numpy as np

        lengths = np.frombuffer(run.lengths, dtype=np.int32)[run.keep]
        tokens.histogram(lengths, spec.max_length, tmp / "histogram.png", f"{Path(source).name}: tokens per row")
        report.seconds["write"] = round(time.perf_counter() - started, 3)
        (tmp / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return report


def validation_count(n: int, val_fraction: float) -> int:
    """Rows `split` holds out for validation: at least one and never all, when there is a share at all."""
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = min(max(1, n_val), n - 1)
    return n_val


def split(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic train/validation indices. Runs after dedupe, so no duplicate crosses the split."""
    n_val = validation_count(n, val_fraction)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return sorted(order[n_val:]), sorted(order[:n_val])


def assign_splits(run: _Run, spec: DataSpec):
    """The split code (TRAIN, VALIDATION, TEST) of each kept row, in kept order: the user's own validation
    rows when given, else a seeded sample of `val_fraction`; then the locked test split is carved from
    what is left for training (`test_fraction`, none for tiny data)."""
    import numpy as np

    given = np.frombuffer(run.given, dtype=np.int8)[run.keep]
    if run.given_split:
        codes = np.where(given == 1, VALIDATION, TRAIN).astype(np.int8)
    else:
        codes = np.full(len(given), TRAIN, dtype=np.int8)
        _, validation = split(len(given), spec.val_fraction, spec.seed)
        codes[validation] = VALIDATION
    train = np.flatnonzero(codes == TRAIN).tolist()
    _, test = testsplit.carve(train, len(codes), spec.test_fraction, spec.seed)
    codes[test] = TEST
    return codes


def _write_splits(run: _Run, codes, files: dict[int, Path]) -> None:
    handles = {code: path.open("w", encoding="utf-8") for code, path in files.items()}
    try:
        for position, (_, record) in enumerate(run.kept()):
            handles[int(codes[position])].write(_ENCODE(record) + "\n")
    finally:
        for fh in handles.values():
            fh.close()


def _analysis(source: str, spec: DataSpec) -> tuple[DataReport, _Run]:
    """`_analyse`, or the last one when source, spec and tokenizer are unchanged. Callers get their own
    copy of the report; the run (its spool) is only read after the analysis, so it is shared."""
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


def _spool_file(suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="analysis-", suffix=suffix, dir=paths.subdir("cache"))
    os.close(fd)
    return Path(name)


def _new_run(source: str, spec: DataSpec) -> _Run:
    run = _Run(source=source, spec=spec, spool=_spool_file(".jsonl"))
    if spec.near_dedupe_threshold is not None:
        run.signatures = _spool_file(".sig")
    # The spool lives as long as the run: dropped from the cache and unreferenced, its files go too.
    weakref.finalize(run, _remove, run.spool, run.signatures)
    return run


def _remove(*files: Path | None) -> None:
    for file in files:
        if file is not None:
            Path(file).unlink(missing_ok=True)


def _analyse(source: str, spec: DataSpec) -> tuple[DataReport, _Run]:
    run = _new_run(source, spec)
    clock = time.perf_counter()
    loaded = load_source(source, spec.text_unit, spec.validation_file)
    entries = iter(loaded)
    head = list(itertools.islice(entries, _HEAD))
    items = [e for e in head if isinstance(e, Item)]
    rows = formats.rename_columns([item.value for item in items], spec.columns, source)
    detection = formats.detect(rows, source, spec.layout)
    run.dataset_type = detection.dataset_type
    run.given_split = loaded.given_split
    clock = _lap(run, "load", clock)
    stream = _Stream(run, detection, spec)
    stream.run_all(itertools.chain(head, entries))
    for step, seconds in stream.seconds.items():
        run.seconds[step] = round(seconds, 3)
    clock = time.perf_counter()
    exact = _exact_dedupe(run, stream)
    stream.exact = len(exact)
    clock = _lap(run, "exact_dedupe", clock)
    near = _near_dedupe(run, stream, exact)
    run.seconds["near_dedupe"] = round(run.seconds["near_dedupe"] + time.perf_counter() - clock, 3)  # signing ran in the stream
    clock = time.perf_counter()
    too_short, too_long = _length_filter(run)
    run.errors.sort(key=lambda e: (e.file, e.row))
    report = _report(run, detection, stream, near, too_short, too_long, loaded.skipped)
    _lap(run, "report", clock)
    return report, run


def _report(run: _Run, detection, stream, near: int, too_short: int, too_long: int, skipped: list[str]) -> DataReport:
    import numpy as np

    spec = run.spec
    lengths = np.frombuffer(run.lengths, dtype=np.int32)[run.keep] if run.count else np.zeros(0, dtype=np.int32)
    classification = detection.layout == "classification"
    return DataReport(
        source=run.source, format=detection.layout, dataset_type=detection.dataset_type, columns=detection.columns,
        rows=stream.rows, valid_rows=stream.valid, usable_rows=int(run.keep.sum()) if run.count else 0,
        errors=run.errors, error_count=run.error_count, exact_duplicates=stream.exact, near_duplicates=near,
        duplicates=run.duplicates[:MAX_ERRORS], too_short=too_short, too_long=too_long, pii=stream.pii_counts(),
        tokens=tokens.stats(lengths, spec.max_length) if len(lengths) else TokenStats(max_length=spec.max_length),
        spec=spec, samples=[_preview(r) for _, r in itertools.islice(run.kept(), 3)] if run.count else [],
        seconds=run.seconds, warnings=run.warnings, warning_count=run.warning_count,
        task="classification" if classification else None, labels=sorted(run.labels) if classification else [],
        split="given" if run.given_split else "sampled", skipped_files=skipped,
    )  # fmt: skip


def _lap(run: _Run, step: str, since: float) -> float:
    now = time.perf_counter()
    run.seconds[step] = round(now - since, 3)
    return now


class _Stream:
    """One pass over the rows, a chunk at a time: convert, clean, tokenize, sign for dedupe, and
    append the valid rows to the spool. Duplicates are marked once the pass is done (`_exact_dedupe`,
    `_near_dedupe`): a sort over 8-byte digests costs far less memory than a set of every row seen."""

    def __init__(self, run: _Run, detection: formats.Detection, spec: DataSpec):
        self.run, self.detection, self.spec = run, detection, spec
        self.convert = formats.converter(detection)
        self.rows = self.valid = self.exact = 0
        self.digests = array("Q")  # per spooled row, for exact dedupe once the pass is done
        self.redactor = None
        if spec.pii_redaction:
            self.redactor = pii.PresidioRedactor() if spec.pii_backend == "presidio" else pii.Redactor()
        self.bands = clean.lsh_bands(spec.near_dedupe_threshold) if spec.near_dedupe_threshold is not None else None
        self.band_keys: list[Any] = []
        self.empty: list[Any] = []
        self.seconds: dict[str, float] = dict.fromkeys(("validate", "clean", "tokenizer", "tokens", "near_dedupe"), 0.0)
        self.file_index: dict[str, int] = {}

    def pii_counts(self) -> dict[str, int]:
        found = dict.fromkeys(pii.KINDS, 0)
        if self.redactor is not None:
            found.update(self.redactor.counts)
        return found

    def run_all(self, entries: Iterator[Item | RowError]) -> None:
        mapping = self.spec.columns
        with self.run.spool.open("w", encoding="utf-8") as spool, _open_optional(self.run.signatures) as sigs:
            while True:
                chunk = list(itertools.islice(entries, _CHUNK))
                if not chunk:
                    break
                items = []
                for entry in chunk:
                    if isinstance(entry, RowError):
                        self.rows += entry.row > 0
                        self.run.error(entry)
                    else:
                        self.rows += 1
                        items.append(entry)
                if items:
                    # The head was checked against the mapping before detection; a later chunk may lack a column.
                    values = formats.rename_columns([i.value for i in items], mapping, self.run.source, check=False)
                    self._chunk(items, values, spool, sigs)

    def _chunk(self, items: list[Item], values: list[Any], spool, sigs) -> None:
        clock = time.perf_counter()
        records, origins = [], []
        for item, value in zip(items, values, strict=True):
            try:
                record = self.convert(value)
            except RowProblem as problem:
                self.run.error(RowError(file=item.file, row=item.row, field=problem.field, message=_cut(problem.message)))
                continue
            records.append(record)
            origins.append(item)
        self.valid += len(records)
        clock = self._lap("validate", clock)
        if self.redactor is not None:
            clean.map_strings(records, clean.normalise, self.redactor)
        else:
            clean.map_strings(records, clean.normalise)
        for record, item in zip(records, origins, strict=True):
            self._check(record, item)
        if self.spec.exact_dedupe:
            self.digests.extend(clean.exact_digest(r) for r in records)
        clock = self._lap("clean", clock)
        if not records:
            return
        if self.run.tokenizer is None:
            self.run.tokenizer = tokens.load_tokenizer(self.spec.model)
            clock = self._lap("tokenizer", clock)
        dataset_type = self.detection.dataset_type
        for record in records:
            formats.observe(record, dataset_type, self.run.seen)
        records = [formats.unify_record(r, dataset_type, self.run.seen) for r in records]
        self.run.lengths.extend(tokens.row_lengths(self.run.tokenizer, records, dataset_type))
        clock = self._lap("tokens", clock)
        if self.bands is not None:
            self._sign(records, sigs)
        self._lap("near_dedupe", clock)
        self._spool(records, origins, spool)

    def _lap(self, step: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[step] += now - since
        return now

    def _check(self, record: dict, item: Item) -> None:
        """Warnings (the row is kept): an unfilled template placeholder; the label set of a classification."""
        for where, text in _texts(record):
            found = placeholder(text)
            if found:
                self.run.warn(RowError(file=item.file, row=item.row, field=where, message=f"looks like an unfilled template "
                              f"placeholder '{_cut(found, 60)}'; fill it in, or accept the row if it is meant literally."))  # fmt: skip
                break
        if self.detection.layout == "classification" and len(self.run.labels) < _MAX_LABELS:
            self.run.labels.add(record["messages"][-1]["content"])

    def _sign(self, records: list[dict], sigs) -> None:
        import numpy as np

        # The system prompt is left out: many datasets share one, which would make every row look alike.
        sig = clean.minhash_signatures(clean.word_ids([clean.record_text(r, with_system=False) for r in records]))
        sigs.write(np.ascontiguousarray(sig, dtype=np.uint32).tobytes())
        self.band_keys.append(clean.band_keys(sig, *self.bands))
        self.empty.append(np.all(sig == np.iinfo(np.uint32).max, axis=1))

    def _spool(self, records: list[dict], origins: list[Item], spool) -> None:
        run = self.run
        spool.writelines(_ENCODE(r) + "\n" for r in records)
        for item in origins:
            index = self.file_index.get(item.file)
            if index is None:
                index = self.file_index[item.file] = len(run.files)
                run.files.append(item.file)
            run.file_of.append(index)
            run.row_of.append(item.row)
            run.given.append(1 if item.split == "validation" else 0)
        run.count += len(records)


class _open_optional:
    """`open(path, "wb")`, or a no-op when there is no path (near-dedupe off)."""

    def __init__(self, path: Path | None):
        self.path, self.fh = path, None

    def __enter__(self):
        self.fh = self.path.open("wb") if self.path is not None else None
        return self.fh

    def __exit__(self, *exc):
        if self.fh is not None:
            self.fh.close()


def _texts(record: dict) -> Iterator[tuple[str, str]]:
    """(field path, text) of every text a record holds (tool schemas and labels aside)."""
    for key, value in record.items():
        if isinstance(value, str) and key not in ("label", "tools"):
            yield key, value
        elif isinstance(value, list):
            for i, msg in enumerate(value):
                if isinstance(msg, dict) and isinstance(msg.get("content"), str):
                    yield f"{key}[{i}].content", msg["content"]


def _cut(text: str, limit: int = 300) -> str:
    """Bound what a message echoes from the data: a row can hold megabytes."""
    return text if len(text) <= limit else text[:limit] + "…"


def _exact_dedupe(run: _Run, stream: _Stream) -> dict[int, int]:
    """Later copies of a row (same case-folded, whitespace-collapsed text) leave; the first stays."""
    import numpy as np

    run.keep = np.ones(run.count, dtype=bool)
    dups = clean.duplicates_of_digests(np.frombuffer(stream.digests, dtype=np.uint64)) if len(stream.digests) else {}
    stream.digests = array("Q")
    for i, j in sorted(dups.items())[:MAX_ERRORS]:
        (file, row), (_, first) = run.origin(i), run.origin(j)
        run.duplicates.append({"file": file, "row": row, "duplicate_of": first, "kind": "exact"})
    if dups:
        run.keep[np.fromiter(dups, dtype=np.int64, count=len(dups))] = False
    return dups


def _near_dedupe(run: _Run, stream: _Stream, exact: dict[int, int]) -> int:
    import numpy as np

    if stream.bands is None or run.count < 2:
        return 0
    keys = np.concatenate(stream.band_keys)
    empty = np.concatenate(stream.empty)
    stream.band_keys = stream.empty = []
    # Each candidate's signature is read with pread, not through a memory map: mapped pages count in the
    # process's RSS, and at 1 GB of rows the signature file is ~350 MB (this was most of the growth).
    size = clean.NUM_PERM * 4
    fd = os.open(run.signatures, os.O_RDONLY)
    try:
        def signature(i: int):
            return np.frombuffer(os.pread(fd, size, i * size), dtype=np.uint32)

        dups = clean.near_duplicates_banded(keys, signature, empty, run.spec.near_dedupe_threshold, exact)
    finally:
        os.close(fd)
    run.signatures.unlink(missing_ok=True)  # only the confirmation needed the full signatures
    for i, j in sorted(dups.items())[: max(0, MAX_ERRORS - len(run.duplicates))]:
        (file, row), (_, first) = run.origin(i), run.origin(j)
        run.duplicates.append({"file": file, "row": row, "duplicate_of": first, "kind": "near"})
    if dups:
        run.keep[np.fromiter(dups, dtype=np.int64, count=len(dups))] = False
    return len(dups)


def _length_filter(run: _Run) -> tuple[int, int]:
    import numpy as np

    if not run.count:
        return 0, 0
    lengths = np.frombuffer(run.lengths, dtype=np.int32)
    low, high = run.spec.min_tokens, run.spec.max_tokens
    short = run.keep & (lengths < low)
    long = run.keep & (lengths > high) if high is not None else np.zeros(run.count, dtype=bool)
    run.keep &= ~(short | long)
    return int(short.sum()), int(long.sum())


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
        f"- Validation split: {'given by the user' if report.split == 'given' else 'sampled at random'}",
        f"- Rejected rows: {report.error_count}; flagged but kept (warnings): {report.warning_count}; exact duplicates removed: {report.exact_duplicates}; "
        f"near-duplicates removed: {report.near_duplicates}; too short: {report.too_short}; too long: {report.too_long}",
        f"- PII redacted: {pii_found}" if report.spec.pii_redaction else "- PII redaction: off",
        f"- Tokens per row ({report.spec.model}): p50 {t.p50}, p95 {t.p95}, max {t.max}, total {t.total}; "
        f"{t.truncated_fraction:.1%} longer than max_length {t.max_length}",
        "",
        "![tokens per row](histogram.png)",
    ]
    if report.task == "classification":
        lines[3:3] = [f"- Task: classification over {len(report.labels)} labels: {', '.join(report.labels[:30])}"]
    if report.warnings:
        lines += ["", "## Flagged rows (kept)", ""]
        lines += [f"- `{Path(e.file).name}:{e.row}` {e.field}: {e.message}" for e in report.warnings[:50]]
    if report.errors:
        lines += ["", "## Rejected rows", ""]
        lines += [f"- `{Path(e.file).name}:{e.row}` {e.field}: {e.message}" for e in report.errors[:50]]
        if report.error_count > 50:
            lines.append(f"- … and {report.error_count - 50} more (see report.json)")
    return "\n".join(lines) + "\n"
