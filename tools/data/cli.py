"""`finetune-assistant data inspect|prepare`: the data tools on the command line.

    finetune-assistant data inspect chats.jsonl --json
    finetune-assistant data prepare chats.jsonl --out prepared/ --val-fraction 0.1

Rejected rows go to stderr as `FILE:ROW: FIELD: message`; exit code 2 when no row is usable or the
file cannot be read (never a traceback), 0 otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import ValidationError

from tools._cli import fail
from tools.data.prepare import inspect_data, prepare_data
from tools.data.spec import DataError, DataSpec
from tools.models.resolve import ModelNotFoundError

app = typer.Typer(help="Inspect and prepare datasets for fine-tuning.", no_args_is_help=True, pretty_exceptions_enable=False)
_SHOWN_ERRORS = 20

_MODEL = typer.Option("default", "--model", help="Tokenizer/chat template to count with: 'default', a folder or a hub id.")
_MAX_LENGTH = typer.Option(1024, "--max-length", min=8, help="Training sequence length (longer rows count as truncated).")
_JSON = typer.Option(False, "--json", help="Print the report as one JSON object on stdout.")
_COLUMN = typer.Option(None, "--column", help="Map a column: CANONICAL=SOURCE, e.g. prompt=question (repeatable).")
_LAYOUT = typer.Option(None, "--layout", help="Force the source layout (openai_chat, sharegpt, alpaca, preference, text...).")
_NO_PII = typer.Option(False, "--no-pii-redaction", help="Keep emails, phone numbers, keys... as they are.")
_VALIDATION = typer.Option(
    None, "--validation", help="A file of the same layout to use as the validation split as given (OpenAI's validation_file)."
)
_NEAR = typer.Option(0.85, "--near-dedupe-threshold", max=1.0, help="Similarity (0-1) above which rows are near-duplicates; 0 disables.")


def _spec(model, max_length, columns, layout, no_pii, near, **extra):
    mapping = {}
    for item in columns or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            fail(f"--column expects CANONICAL=SOURCE (e.g. prompt=question), got '{item}'.")
        mapping[key.strip()] = value.strip()
    try:
        return DataSpec(
            model=model, max_length=max_length, columns=mapping, layout=layout, pii_redaction=not no_pii,
            near_dedupe_threshold=near if near and near > 0 else None, **extra,
        )  # fmt: skip
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors()))


def _run(fn, file: Path, as_json: bool):
    """Call a data tool, turning every expected failure into `error: ...` and exit code 2."""
    try:
        return fn()
    except DataError as exc:
        if as_json:
            typer.echo(json.dumps({"error": exc.message, "file": exc.file}))
        fail(str(exc))
    except ModelNotFoundError as exc:
        fail(str(exc))
    except OSError as exc:  # unreadable file, full disk, permission denied on --out
        fail(f"{exc.filename or file}: {exc.strerror or exc}")


def _print_errors(report, limit: int) -> None:
    for error in report.errors[:limit]:
        typer.echo(error.line(), err=True)
    if report.error_count > limit:
        typer.echo(f"... and {report.error_count - limit} more rejected rows (see --json or report.json)", err=True)
    for warning in report.warnings[:limit]:
        typer.echo(f"warning (row kept): {warning.line()}", err=True)
    if report.warning_count > limit:
        typer.echo(f"... and {report.warning_count - limit} more flagged rows (see --json or report.json)", err=True)


def _summary(report) -> str:
    t = report.tokens
    found = ", ".join(f"{k} {v}" for k, v in report.pii.items() if v) or "none"
    lines = [
        f"{report.source}: layout {report.format} -> {report.dataset_type}",
        f"rows {report.rows}, valid {report.valid_rows}, usable {report.usable_rows} "
        f"(rejected {report.error_count}, exact duplicates {report.exact_duplicates}, near-duplicates {report.near_duplicates})",
        f"PII redacted: {found}" if report.spec.pii_redaction else "PII redaction: off",
        f"flagged but kept: {report.warning_count}; validation split: {report.split}",
        f"tokens per row: p50 {t.p50}, p95 {t.p95}, max {t.max}, total {t.total}; "
        f"{t.truncated_fraction:.1%} over max_length {t.max_length}",
    ]
    if report.task == "classification":
        lines.append(f"classification: {len(report.labels)} labels ({', '.join(report.labels[:20])})")
    if report.out_dir:
        lines.append(f"wrote {report.out_dir} (train {report.train_rows}, validation {report.validation_rows})")
    return "\n".join(lines)


def _finish(report, as_json: bool) -> None:
    if as_json:
        typer.echo(report.model_dump_json())
    else:
        typer.echo(_summary(report))
    if report.usable_rows == 0:
        _print_errors(report, 50)
        fail(f"{report.source}: no usable rows; fix the rows listed above and try again.")
    _print_errors(report, _SHOWN_ERRORS)


@app.command("inspect")
def inspect_cmd(
    file: Path = typer.Argument(..., help="A .jsonl/.json/.csv/.tsv/.parquet/.txt/.md file or a folder."),
    model: str = _MODEL,
    max_length: int = _MAX_LENGTH,
    as_json: bool = _JSON,
    column: list[str] = _COLUMN,
    layout: str = _LAYOUT,
    no_pii_redaction: bool = _NO_PII,
    near_dedupe_threshold: float = _NEAR,
    validation: Path = _VALIDATION,
) -> None:
    """Report layout, row errors, duplicates, PII and token lengths of a dataset, without writing anything."""
    spec = _spec(model, max_length, column, layout, no_pii_redaction, near_dedupe_threshold,
                 validation_file=str(validation) if validation else None)
    _finish(_run(lambda: inspect_data(file, spec), file, as_json), as_json)


@app.command("prepare")
def prepare_cmd(
    file: Path = typer.Argument(..., help="A .jsonl/.json/.csv/.tsv/.parquet/.txt/.md file or a folder."),
    out: Path = typer.Option(..., "--out", help="Folder to write train.jsonl, validation.jsonl and the reports into."),
    model: str = _MODEL,
    max_length: int = _MAX_LENGTH,
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.0, max=0.5, help="Share of rows held out for validation."),
    seed: int = typer.Option(42, "--seed", help="Seed of the train/validation split."),
    as_json: bool = _JSON,
    column: list[str] = _COLUMN,
    layout: str = _LAYOUT,
    no_pii_redaction: bool = _NO_PII,
    near_dedupe_threshold: float = _NEAR,
    validation: Path = _VALIDATION,
) -> None:
    """Clean, redact, dedupe, tokenize and split a dataset into a prepared folder TRL can train on."""
    spec = _spec(model, max_length, column, layout, no_pii_redaction, near_dedupe_threshold, val_fraction=val_fraction, seed=seed,
                 validation_file=str(validation) if validation else None)
    _finish(_run(lambda: prepare_data(file, out, spec), file, as_json), as_json)
