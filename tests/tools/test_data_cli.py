"""`finetune-assistant data inspect|prepare`: exit codes, JSON keys, `FILE:ROW: FIELD: message` on stderr."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.data.cli import app

SAMPLES = Path(__file__).parent / "data_samples"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def invoke(tiny_model_dir):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, [*args, "--model", str(tiny_model_dir)])

    return run


def test_inspect_json_has_the_contract_keys_and_exit_0(invoke):
    result = invoke("inspect", str(SAMPLES / "errors.jsonl"), "--json", "--max-length", "64")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("format", "dataset_type", "rows", "valid_rows", "errors", "exact_duplicates", "near_duplicates", "pii", "tokens"):
        assert key in report
    assert set(report["tokens"]) >= {"p50", "p95", "max", "total", "truncated_fraction"}
    assert set(report["errors"][0]) >= {"row", "field", "message"}
    assert (report["format"], report["dataset_type"], report["valid_rows"]) == ("openai_chat", "conversational", 3)
    # Rejected rows still go to stderr, one per line, even when some rows are usable.
    assert f"{SAMPLES / 'errors.jsonl'}:2: messages[1].role: unknown role 'wizard'" in result.stderr


def test_inspect_exits_2_with_file_row_field_lines_when_no_row_is_usable(invoke):
    result = invoke("inspect", str(SAMPLES / "preference_missing_rejected.jsonl"))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    name = str(SAMPLES / "preference_missing_rejected.jsonl")
    assert lines[0] == f"{name}:1: rejected: missing field 'rejected'; each row needs 'prompt', 'chosen' and 'rejected'."
    assert lines[1].startswith(f"{name}:2: rejected: ")
    assert lines[-1].startswith(f"error: {name}: no usable rows")


@pytest.mark.parametrize("name", ["empty.jsonl", "scalar.json", "latin1.jsonl", "header_only.csv", "missing.jsonl", "spreadsheet.xlsx"])
def test_bad_files_exit_2_naming_the_file_without_a_traceback(invoke, name):
    result = invoke("inspect", str(SAMPLES / name), "--json")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {SAMPLES / name}: ") and "Traceback" not in result.output
    assert json.loads(result.stdout)["file"] == str(SAMPLES / name)


def test_prepare_writes_the_folder_and_reports_the_split(invoke, tmp_path):
    out = tmp_path / "prepared"
    result = invoke("prepare", str(SAMPLES / "duplicates.jsonl"), "--out", str(out), "--val-fraction", "0.5",
                    "--no-pii-redaction", "--near-dedupe-threshold", "0", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["near_duplicates"], report["train_rows"], report["validation_rows"]) == (0, 2, 2)
    assert report["spec"]["pii_redaction"] is False and report["spec"]["near_dedupe_threshold"] is None
    assert len((out / "train.jsonl").read_text().splitlines()) == 2


def test_prepare_rejects_bad_options_with_exit_2(invoke, tmp_path):
    assert invoke("prepare", str(SAMPLES / "openai_chat.jsonl"), "--out", str(tmp_path / "o"), "--val-fraction", "0.9").exit_code == 2
    bad = invoke("inspect", str(SAMPLES / "openai_chat.jsonl"), "--column", "prompt")
    assert bad.exit_code == 2 and "--column expects CANONICAL=SOURCE" in bad.stderr


def test_column_option_maps_unrecognised_columns(invoke, tmp_path):
    source = tmp_path / "qa.csv"
    source.write_text("q,a\nWhy is ice slippery?,A thin film of water forms on its surface.\n")
    assert invoke("inspect", str(source)).exit_code == 2
    result = invoke("inspect", str(source), "--column", "prompt=q", "--column", "completion=a", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["format"] == "prompt_completion"


def test_the_console_script_has_the_data_commands(tiny_model_dir, tmp_path):
    cmd = [sys.executable, "-m", "ui.cli", "data", "inspect", str(SAMPLES / "whitespace.jsonl"), "--model", str(tiny_model_dir)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {SAMPLES / 'whitespace.jsonl'}: the file holds only whitespace; add examples to it."


def test_importing_the_data_tools_loads_no_heavy_library():
    code = ("import sys, tools.data, tools.data.cli; "
            "print([m for m in ('torch', 'transformers', 'trl', 'datasets', 'pandas', 'numpy') if m in sys.modules])")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
