"""Bad input is a row error, never a failed file; placeholders are warnings outside code; files have a size
limit; the head sampler is bounded; and memory stays flat as a file grows."""

import json
import tracemalloc
from pathlib import Path

import pytest

import tools.data.prepare as pipeline
from tools.data import DataError, DataSpec, cache, check_upload_size, inspect_data, prepare_data, sample
from tools.data.validate import placeholder

SAMPLES = Path(__file__).parent / "data_samples"


@pytest.fixture
def spec(tiny_model_dir):
    return DataSpec(model=str(tiny_model_dir))


def _chat(q, a):
    return json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})


def test_deep_nesting_and_huge_integers_are_row_errors(spec, tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [_chat("Fine question?", "Fine answer."), '{"messages":' + "[" * 3000 + "]" * 3000 + "}",
             '{"a": ' + "1" * 5000 + "}", _chat("Another question?", "Another answer.")]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    report = inspect_data(path, spec)
    assert (report.rows, report.usable_rows, report.error_count) == (4, 2, 2)
    (deep, huge) = report.errors
    assert (deep.row, deep.field) == (2, "json") and "nested too deeply" in deep.message
    assert (huge.row, huge.field) == (3, "json") and "thousands of digits" in huge.message


def test_a_bad_csv_quote_is_one_row_error_and_later_rows_load(spec, tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text('question,answer\nHow do I pump a tyre?,Use a track pump.\n"Why is my chain, loud?,Oil it.\n'
                    'What size is the bolt?,"A 5 mm hex, ""M6"" thread."\nIs it waterproof?,IPX4.\n')  # fmt: skip
    report = inspect_data(path, spec)
    assert (report.rows, report.usable_rows, report.error_count) == (4, 3, 1)
    assert (report.errors[0].row, report.errors[0].field) == (3, "csv") and "unbalanced quote" in report.errors[0].message
    assert report.samples[1]["messages"][1]["content"] == 'A 5 mm hex, "M6" thread.'


def test_odd_parquet_column_types_are_row_errors_not_a_failed_file(spec, tmp_path):
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "odd.parquet"
    table = pa.table({
        "prompt": ["Plain question?", "When?", "Nested?"],
        "completion": pa.array(["Plain answer.", None, None], type=pa.string()),
        "when": pa.array([None, datetime.datetime(2024, 1, 2, 3, 4), None], type=pa.timestamp("us")),
        "meta": pa.array([None, None, {"a": 1, "b": "two"}]),
    })  # fmt: skip
    pq.write_table(table, path)
    # The timestamp and struct columns ride along; rows whose answer is missing are row errors.
    report = inspect_data(path, spec)
    assert (report.format, report.rows, report.usable_rows, report.error_count) == ("prompt_completion", 3, 1, 2)
    assert {e.field for e in report.errors} == {"completion"}
    # Mapping the answer onto a timestamp or a struct column: a per-row type error, not a crash.
    report = inspect_data(path, spec.model_copy(update={"columns": {"completion": "when"}}))
    assert report.error_count == 3 and "expected text, got datetime" in report.errors[1].message
    head = sample(path)
    assert head.rows[1]["when"] == "2024-01-02 03:04:00" and head.rows[2]["meta"] == {"a": 1, "b": "two"}


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("Dear {{customer_name}}, thanks.", "{{customer_name}}"),
        ("Hi {{ user.first_name }}!", "{{ user.first_name }}"),
        ("<span style={{ fontWeight: 'bold' }}>Hi</span>", None),
        ("```jsx\nconst x = <b>{{name}}</b>;\n```", None),
        ("Use `{{ name }}` in your template.", None),
        ("{% for x in xs %}{{ x }}{% endfor %}", None),
        ("return <Box sx={{ p }} />", None),
        ("Price: {{ 5 + 3 }}", None),
        ("Plain text with {single} braces.", None),
    ],
)
def test_a_placeholder_is_a_bare_name_in_double_braces_outside_code(text, flag):
    assert placeholder(text) == flag


def test_a_placeholder_row_is_kept_with_a_warning(spec, tmp_path):
    path = tmp_path / "tpl.jsonl"
    path.write_text(_chat("Write to {{customer}}", "Dear customer, hello.") + "\n" + _chat("React bold?", "style={{ fontWeight: 'bold' }}") + "\n")
    report = inspect_data(path, spec)
    assert (report.usable_rows, report.error_count, report.warning_count) == (2, 0, 1)
    assert (report.warnings[0].row, report.warnings[0].field) == (1, "messages[0].content")


def test_the_upload_limit_names_the_file_and_the_limit(spec, tmp_path, monkeypatch):
    path = tmp_path / "big.jsonl"
    path.write_text(_chat("q" * 600_000, "a") + "\n" + _chat("q" * 600_000, "b") + "\n")
    monkeypatch.setenv("FINETUNE_ASSISTANT_MAX_UPLOAD_MB", "1")
    with pytest.raises(DataError, match=r"big.jsonl: the file is 1 MB, over the 1 MB upload limit.*FINETUNE_ASSISTANT_MAX_UPLOAD_MB"):
        inspect_data(path, spec)
    with pytest.raises(DataError, match="upload limit"):
        check_upload_size(path)
    monkeypatch.setenv("FINETUNE_ASSISTANT_MAX_UPLOAD_MB", "2")
    check_upload_size(path)


def test_the_head_sampler_reads_a_bounded_head_and_counts_the_rest(tmp_path):
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(_chat(f"Question {i}?", f"Answer {i}.") + "\n" for i in range(1000)) + "not json\n")
    head = sample(path, rows=50)
    assert (head.layout, head.dataset_type, len(head.rows)) == ("openai_chat", "conversational", 50)
    assert (head.total_rows, head.rows_exact) == (1001, True) and head.errors == []
    labels = sample(SAMPLES / "labels.csv")
    assert (labels.layout, labels.labels, labels.total_rows) == ("classification", ["billing", "maintenance", "software"], 4)


def _rows(path, rows):
    path.write_text("".join(_chat(f"Ticket {i}: how do I fix fault {i * 7919 % 100003} on bike {i}? " * 3,
                                  f"Step {i}: check part {i % 97} then {i % 89}. " * 3) + "\n" for i in range(rows)))  # fmt: skip
    return path


def _peak(spec, path):
    cache.clear()  # a cold analysis each time: the cached one would only measure the writing
    tracemalloc.start()
    report = prepare_data(path, path.parent / f"out-{path.stem}", spec)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return report.usable_rows, peak


def test_memory_stays_flat_as_the_file_grows(spec, tmp_path, monkeypatch):
    # Smaller streamed steps than the default 2048 rows, so a test-sized file holds several of them.
    monkeypatch.setattr(pipeline, "_CHUNK", 200)
    spec = spec.model_copy(update={"pii_redaction": False})
    prepare_data(_rows(tmp_path / "warm.jsonl", 50), tmp_path / "warm", spec)  # one-time imports out of the way, untraced
    n_small, small = _peak(spec, _rows(tmp_path / "small.jsonl", 1000))
    n_large, large = _peak(spec, _rows(tmp_path / "large.jsonl", 4000))
    assert (n_small, n_large) == (1000, 4000)
    print(f"peak traced memory: {small / 1e6:.1f} MB for 1000 rows, {large / 1e6:.1f} MB for 4000 rows")
    # 4x the rows: the per-row state is fixed-size (tens of bytes); records are streamed, not held.
    assert large < 1.5 * small, (small, large)
