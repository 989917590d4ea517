"""Data preparation: load any common dataset layout, validate with row-level errors, clean, redact PII,
dedupe, count tokens and split into a prepared folder TRL can train on.

    from tools.data import DataSpec, inspect_data, prepare_data
    report = prepare_data("chats.jsonl", "prepared/", DataSpec(max_length=1024))

Importing this package is cheap: tokenizers, numpy and pandas load only when a function runs.
"""

from tools.data.head import Sample, sample
from tools.data.load import MAX_UPLOAD_ENV, check_upload_size, max_upload_bytes
from tools.data.prepare import dataset_dir, inspect_data, prepare_data, prepare_once, split
from tools.data.spec import DataError, DataReport, DataSpec, RowError, TokenStats

__all__ = [
    "MAX_UPLOAD_ENV", "DataError", "DataReport", "DataSpec", "RowError", "Sample", "TokenStats", "check_upload_size",
    "dataset_dir", "inspect_data", "load_prepared", "max_upload_bytes", "prepare_data", "prepare_once", "sample", "split",
]  # fmt: skip


def load_prepared(folder):
    """The prepared folder as a `datasets.DatasetDict` with `train` and `validation` splits."""
    from pathlib import Path

    from datasets import load_dataset

    folder = Path(folder)
    files = {name: str(folder / f"{name}.jsonl") for name in ("train", "validation") if (folder / f"{name}.jsonl").stat().st_size}
    return load_dataset("json", data_files=files)
