"""Row-level validation: every error names file, row, field and what to do; bad files fail plainly."""

import json
from pathlib import Path

import pytest

from tools.data import DataError, DataSpec, inspect_data, prepare_data

SAMPLES = Path(__file__).parent / "data_samples"


@pytest.fixture
def spec(tiny_model_dir):
    return DataSpec(model=str(tiny_model_dir))


def test_each_error_kind_names_its_row_and_field_and_the_valid_rows_survive(spec):
    report = inspect_data(SAMPLES / "errors.jsonl", spec)
    found = {(e.row, e.field): e.message for e in report.errors}
    expected = {
        (2, "messages[1].role"): "unknown role 'wizard'",
        (3, "messages[1].content"): "empty text",
        (4, "messages"): "no assistant turn",
        (5, "messages[1].role"): "two user turns in a row",
        (6, "messages[1].content"): "expected text, got a number",
        (8, "messages"): "missing field 'messages'",
        (9, "messages"): "expected a list of {role, content} messages, got text",
        (10, "json"): "the line looks cut off",
        (11, "row"): "expected a JSON object, got a list",
    }
    assert set(found) == set(expected)
    for key, fragment in expected.items():
        assert fragment in found[key], (key, found[key])
    assert all(e.file == str(SAMPLES / "errors.jsonl") for e in report.errors)
    # An unfilled placeholder is a warning on a kept row, not a rejection.
    assert (report.rows, report.valid_rows, report.usable_rows, report.error_count) == (12, 3, 3, 9)
    assert [(w.row, w.field) for w in report.warnings] == [(7, "messages[0].content")] and report.warning_count == 1
    assert "placeholder '{{customer_name}}'" in report.warnings[0].message
    assert [e.row for e in report.errors] == sorted(e.row for e in report.errors)


def test_turn_order_and_system_position_are_checked(spec, tmp_path):
    rows = [
        {"messages": [{"role": "assistant", "content": "I speak first."}, {"role": "user", "content": "Odd."}]},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Late rules."}, {"role": "assistant", "content": "Hello"}]},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "{}"}, {"role": "assistant", "content": "Hello"}]},
        {"messages": [{"role": "user", "content": "Show me a cat"}, {"role": "assistant", "content": [{"type": "image_url", "image_url": "x"}]}]},
    ]
    source = tmp_path / "order.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = inspect_data(source, spec)
    messages = [e.message for e in report.errors]
    assert "start with the user's message" in messages[0]
    assert "put the system prompt first" in messages[1]
    assert "must follow the assistant turn" in messages[2]
    assert "'image_url' parts are not supported" in messages[3]
    assert report.usable_rows == 0


def test_preference_rows_missing_rejected_are_all_reported(spec, tmp_path):
    report = inspect_data(SAMPLES / "preference_missing_rejected.jsonl", spec)
    assert report.usable_rows == 0
    assert [(e.row, e.field) for e in report.errors] == [(1, "rejected"), (2, "rejected")]
    with pytest.raises(DataError, match="no usable rows"):
        prepare_data(SAMPLES / "preference_missing_rejected.jsonl", tmp_path / "never", spec)
    assert not (tmp_path / "never").exists()


def test_wrong_label_type_is_a_row_error(spec, tmp_path):
    source = tmp_path / "kto.jsonl"
    source.write_text(json.dumps({"prompt": "Q?", "completion": "A.", "label": "maybe"}) + "\n"
                      + json.dumps({"prompt": "Q2?", "completion": "B.", "label": 1}) + "\n")  # fmt: skip
    report = inspect_data(source, spec)
    assert [(e.row, e.field) for e in report.errors] == [(1, "label")]
    assert "expected true or false" in report.errors[0].message and report.usable_rows == 1


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return path


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("empty.jsonl", "the file is empty"),
        ("whitespace.jsonl", "only whitespace"),
        ("spreadsheet.xlsx", "unsupported file type '.xlsx'"),
        ("truncated.json", "the file looks truncated"),
        ("scalar.json", "holds a single JSON int, not examples"),
        ("header_only.csv", "only a header row (prompt, completion)"),
        ("no_usable_columns.csv", "could not recognise the layout; columns found: id, score"),
        ("latin1.jsonl", "not UTF-8 text (byte 0xe9 on line 1"),
        ("missing.jsonl", "no such file or folder"),
    ],
)
def test_bad_files_raise_a_plain_data_error_naming_the_file(spec, name, fragment):
    with pytest.raises(DataError) as info:
        inspect_data(SAMPLES / name, spec)
    assert info.value.file == str(SAMPLES / name)
    assert fragment in info.value.message
    assert str(info.value).startswith(f"{SAMPLES / name}: ")


def test_binary_files_and_empty_folders_are_refused(spec, tmp_path):
    binary = _write(tmp_path, "blob.jsonl", bytes(range(256)) * 4)
    with pytest.raises(DataError, match="binary file"):
        inspect_data(binary, spec)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(DataError, match=r"no usable files \(1 files"):
        inspect_data(tmp_path / "folder", spec)


def test_a_ten_megabyte_line_is_one_row_error_not_a_crash(spec, tmp_path):
    good = json.dumps({"text": "A normal short document about the weather in spring."})
    huge = json.dumps({"text": "x" * 10_000_000})
    source = _write(tmp_path, "huge.jsonl", f"{good}\n{huge}\n")
    report = inspect_data(source, spec)
    assert [(e.row, e.field) for e in report.errors] == [(2, "line")]
    assert "10.0 MB" in report.errors[0].message and report.usable_rows == 1


def test_json_lines_saved_as_json_still_load(spec, tmp_path):
    source = _write(tmp_path, "lines.json", (SAMPLES / "prompt_completion.jsonl").read_text())
    assert inspect_data(source, spec).usable_rows == 3


def test_spec_rejects_inconsistent_settings():
    with pytest.raises(ValueError, match="min_tokens"):
        DataSpec(min_tokens=10, max_tokens=5)
    with pytest.raises(ValueError, match="unknown target column"):
        DataSpec(columns={"questionz": "q"})
    with pytest.raises(ValueError, match="extra"):
        DataSpec(max_lenght=10)
