"""The typed config of a data preparation (`DataSpec`) and what it produces (`DataReport`).

The spec is embedded in every prepared folder's `report.json`, so `DataSpec(**report["spec"])`
reproduces the preparation.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.vocab import DatasetType, SourceLayout

# The canonical column names a mapping may target (see `formats.py` for what each layout reads).
CANONICAL_COLUMNS = (
    "messages", "conversations", "tools", "system", "history", "instruction", "input", "output",
    "prompt", "completion", "question", "answer", "chosen", "rejected", "label", "text",
    "preferred_output", "non_preferred_output",
)  # fmt: skip


class DataError(ValueError):
    """A file-level problem (missing, empty, binary, unreadable, unknown layout, nothing usable).

    `str(err)` is `FILE: what is wrong and what to do`, ready to show to a user.
    """

    def __init__(self, file: str, message: str):
        self.file = str(file)
        self.message = message
        super().__init__(f"{self.file}: {message}")


class DataSpec(BaseModel):
    """How to turn a source file into a prepared dataset folder."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("default", description="Model whose tokenizer and chat template count tokens.")
    max_length: int = Field(1024, ge=8, description="Training sequence length; longer rows are counted as truncated.")
    val_fraction: float = Field(0.1, ge=0.0, le=0.5, description="Share of rows held out for validation.")
    test_fraction: float = Field(0.1, ge=0.0, le=0.3, description="Share of rows locked away as the test split (>= 3 rows; none under 10 rows).")  # [checks]
    seed: int = Field(42, description="Seed of the train/validation split.")
    pii_redaction: bool = Field(True, description="Replace emails, phones, cards, keys... with [EMAIL]-style tags.")
    pii_backend: Literal["regex", "presidio"] = "regex"
    exact_dedupe: bool = True
    near_dedupe_threshold: float | None = Field(
        0.85, gt=0.0, le=1.0, description="Estimated Jaccard similarity above which rows count as near-duplicates; None disables."
    )
    min_tokens: int = Field(0, ge=0, description="Drop rows with fewer tokens than this.")
    max_tokens: int | None = Field(None, ge=1, description="Drop rows with more tokens than this (None keeps them).")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Canonical field -> source column, e.g. {'prompt': 'q', 'completion': 'a'}."
    )
    layout: SourceLayout | None = Field(None, description="Force a source layout instead of detecting it.")
    text_unit: Literal["paragraph", "file"] = Field(
        "paragraph", description="A .txt/.md file becomes one row per blank-line-separated paragraph, or one row."
    )
    validation_file: str | None = Field(
        None, description="A file of the same layout used as the validation split as given (OpenAI's validation_file); "
        "val_fraction is then ignored.",
    )  # fmt: skip

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        if self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens ({self.min_tokens}) is above max_tokens ({self.max_tokens}).")
        unknown = sorted(set(self.columns) - set(CANONICAL_COLUMNS))
        if unknown:
            raise ValueError(f"unknown target column(s) {unknown} in columns; use one of {list(CANONICAL_COLUMNS)}.")
        if self.pii_backend == "presidio" and importlib.util.find_spec("presidio_analyzer") is None:
            raise ValueError("pii_backend='presidio' needs `pip install 'finetune-assistant[pii]'` (presidio-analyzer).")
        return self


class RowError(BaseModel):
    """One rejected row: where it is and what to do about it."""

    model_config = ConfigDict(extra="forbid")

    file: str
    row: int
    field: str
    message: str

    def line(self) -> str:
        return f"{self.file}:{self.row}: {self.field}: {self.message}"


class TokenStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p50: int = 0
    p95: int = 0
    max: int = 0
    total: int = 0
    truncated_fraction: float = 0.0
    max_length: int = 0


class DataReport(BaseModel):
    """What inspect/prepare found. `errors` holds at most `MAX_ERRORS`; `error_count` counts them all."""

    model_config = ConfigDict(extra="forbid")

    source: str
    format: SourceLayout
    dataset_type: DatasetType
    columns: list[str] = []
    rows: int = 0
    valid_rows: int = 0
    usable_rows: int = 0
    errors: list[RowError] = []
    error_count: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    duplicates: list[dict[str, Any]] = []  # up to MAX_ERRORS examples: {file, row, duplicate_of, kind}
    too_short: int = 0
    too_long: int = 0
    pii: dict[str, int] = {}
    tokens: TokenStats = TokenStats()
    train_rows: int = 0
    validation_rows: int = 0
    test_rows: int = 0  # [checks] the locked test split and its hash (see tools/data/testsplit.py)
    test_sha256: str | None = None
    out_dir: str | None = None
    spec: DataSpec
    samples: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    # Rows kept but flagged (e.g. an unfilled {{ placeholder }}): the user reviews and may accept them.
    warnings: list[RowError] = []
    warning_count: int = 0
    task: Literal["classification"] | None = None
    labels: list[str] = []  # a classification table's label set, for the success checks
    split: Literal["sampled", "given"] = "sampled"  # given: validation rows came from the user's own split
    skipped_files: list[str] = []  # files in a folder that are not data (README.md, sidecars, a test split)


MAX_ERRORS = 1000
