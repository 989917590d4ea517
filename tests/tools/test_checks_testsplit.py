"""The locked test split: prepare carves it apart from train and validation and records its hash;
`locked_test` refuses a test file that changed."""

from __future__ import annotations

import json

import pytest

from tools.data import DataSpec, prepare_data
from tools.data.testsplit import TestSplitChanged, carve, locked_test, sha256


def _rows(n: int) -> list[dict]:
    return [{"prompt": f"Question {i}: what is {i} plus {i * 3}?", "completion": f"It is {i + i * 3}, friend number {i}."}
            for i in range(n)]  # fmt: skip


def test_prepare_writes_a_disjoint_hashed_test_split(tmp_path, tiny_model_dir):
    source = tmp_path / "qa.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in _rows(40)))
    out = tmp_path / "out"
    report = prepare_data(source, out, DataSpec(model=str(tiny_model_dir), near_dedupe_threshold=None))
    split = {name: [json.loads(x)["prompt"] for x in (out / f"{name}.jsonl").read_text().splitlines()]
             for name in ("train", "validation", "test")}  # fmt: skip
    assert len(split["test"]) == report.test_rows == 4
    assert report.train_rows + report.validation_rows + report.test_rows == 40
    assert not set(split["test"]) & (set(split["train"]) | set(split["validation"]))
    assert json.loads((out / "report.json").read_text())["test_sha256"] == sha256(out / "test.jsonl")
    assert locked_test(out) == out / "test.jsonl"
    with (out / "test.jsonl").open("a") as fh:
        fh.write(json.dumps({"prompt": "easy?", "completion": "yes"}) + "\n")
    with pytest.raises(TestSplitChanged, match="changed since it was prepared"):
        locked_test(out)
    (out / "test.jsonl").unlink()
    with pytest.raises(TestSplitChanged, match="missing"):
        locked_test(out)


def test_carve_is_deterministic_and_skips_tiny_data():
    train = list(range(2, 50))
    assert carve(train, 50, 0.1, 7) == carve(train, 50, 0.1, 7)
    kept, test = carve(train, 50, 0.1, 7)
    assert len(test) == 5 and sorted(kept + test) == train
    assert carve([0, 1, 2, 3], 5, 0.1, 7) == ([0, 1, 2, 3], [])
    assert len(carve(list(range(10)), 12, 0.1, 7)[1]) == 3  # at least three rows when there is a split at all
