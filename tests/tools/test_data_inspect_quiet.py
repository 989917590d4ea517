"""What the user reads from `data inspect` holds no library warnings (issue 11: numpy's "overflow encountered in
scalar multiply" from the near-duplicate hashing in tools/data/clean.py)."""

import json
import warnings
from pathlib import Path

from typer.testing import CliRunner

from tools.data.cli import app

SAMPLES = Path(__file__).parent / "data_samples"


def test_inspect_prints_no_numpy_or_other_runtime_warnings(tiny_model_dir, tmp_path):
    # Rows that reach every hashing path: near-duplicates, one-word texts, CJK, long texts, a single row.
    rows = [{"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": f"Answer {i}: {text}"}]}
            for i, text in enumerate(["hi", "你好世界，我们的订单在哪里", "word " * 600, "The same question, nearly.",
                                      "The same question, nearly!", "x"])]
    many = tmp_path / "many.jsonl"
    many.write_text("".join(json.dumps(r) + "\n" for r in rows))
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps(rows[0]) + "\n")
    runner = CliRunner()
    for path in (many, one, SAMPLES / "duplicates.jsonl", SAMPLES / "labels.csv"):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            result = runner.invoke(app, ["inspect", str(path), "--model", str(tiny_model_dir)])
        assert result.exit_code == 0, result.output
        runtime = [str(w.message) for w in seen if issubclass(w.category, RuntimeWarning)]
        assert runtime == [], f"{path.name}: {runtime}"
        assert "Warning" not in result.output and "overflow" not in result.output, result.output
