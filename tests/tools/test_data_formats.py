"""Every supported source layout is detected and converted to the TRL dataset type it trains as."""

import json
import shutil

import pytest

from tools.data import DataError, DataSpec, inspect_data
from tools.data.formats import unify

SAMPLES = __import__("pathlib").Path(__file__).parent / "data_samples"


@pytest.fixture
def spec(tiny_model_dir):
    return DataSpec(model=str(tiny_model_dir))


@pytest.mark.parametrize(
    ("name", "layout", "dataset_type", "rows"),
    [
        ("openai_chat.jsonl", "openai_chat", "conversational", 3),
        ("sharegpt.json", "sharegpt", "conversational", 3),
        ("alpaca.json", "alpaca", "conversational", 3),
        ("question_answer.csv", "question_answer", "conversational", 3),
        ("prompt_completion.jsonl", "prompt_completion", "prompt_completion", 3),
        ("preference.jsonl", "preference", "preference", 3),
        ("preference_chat.jsonl", "preference", "preference", 3),
        ("sharegpt_preference.json", "sharegpt_preference", "preference", 2),
        ("unpaired_preference.tsv", "unpaired_preference", "unpaired_preference", 4),
        ("unpaired_messages.jsonl", "unpaired_preference", "unpaired_preference", 2),
        ("text.txt", "text", "language_modeling", 3),
        ("texts", "text", "language_modeling", 2),
    ],
)
def test_each_layout_is_detected_with_every_row_usable(spec, name, layout, dataset_type, rows):
    report = inspect_data(SAMPLES / name, spec)
    assert (report.format, report.dataset_type) == (layout, dataset_type)
    assert report.rows == report.valid_rows == report.usable_rows == rows
    assert report.tokens.total > 0 and report.tokens.max >= report.tokens.p95 >= report.tokens.p50 > 0


def test_openai_content_parts_are_joined_and_the_system_prompt_kept(spec):
    samples = inspect_data(SAMPLES / "openai_chat.jsonl", spec).samples
    assert samples[0]["messages"][0] == {"role": "system", "content": "You are a terse cycling mechanic."}
    assert samples[1]["messages"][0] == {"role": "user", "content": "How tight should my brake cable be?"}


def test_sharegpt_roles_system_column_and_tools_are_converted(spec):
    first, second, _ = inspect_data(SAMPLES / "sharegpt.json", spec).samples
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert first["messages"][0]["content"] == "Answer geography questions in one sentence."
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert json.loads(second["tools"])[0]["name"] == "weather" and first["tools"] == "[]"


def test_alpaca_input_system_and_history_become_turns(spec):
    translate, synonym, history = inspect_data(SAMPLES / "alpaca.json", spec).samples
    assert translate["messages"] == [
        {"role": "user", "content": "Translate to French.\n\nGood morning"},
        {"role": "assistant", "content": "Bonjour"},
    ]
    assert synonym["messages"][0] == {"role": "system", "content": "You are a thesaurus."}
    assert [m["content"] for m in history["messages"]] == ["Give a synonym for big.", "Large.", "And one for slow?", "Sluggish."]


def test_question_answer_columns_match_case_insensitively(spec):
    first = inspect_data(SAMPLES / "question_answer.csv", spec).samples[0]
    assert first == {"messages": [{"role": "user", "content": "How many legs does a spider have?"},
                                  {"role": "assistant", "content": "Eight legs."}]}  # fmt: skip


def test_implicit_prompt_preference_pairs_get_their_shared_turns_as_prompt(spec):
    first = inspect_data(SAMPLES / "preference_chat.jsonl", spec).samples[0]
    assert first["prompt"] == [{"role": "user", "content": "Say hi politely."}]
    assert first["chosen"] == [{"role": "assistant", "content": "Hello, nice to meet you!"}]
    assert first["rejected"] == [{"role": "assistant", "content": "What do you want?"}]


def test_unpaired_labels_from_tsv_strings_become_booleans(spec):
    samples = inspect_data(SAMPLES / "unpaired_preference.tsv", spec).samples
    assert [s["label"] for s in samples] == [True, False, True]


def test_a_column_mapping_overrides_detection(spec, tmp_path):
    source = tmp_path / "odd.jsonl"
    source.write_text(json.dumps({"q": "Why is the sea salty?", "a": "Rivers carry dissolved minerals into it."}) + "\n")
    with pytest.raises(DataError, match="could not recognise the layout; columns found: a, q"):
        inspect_data(source, spec)
    report = inspect_data(source, spec, columns={"prompt": "q", "completion": "a"})
    assert report.format == "prompt_completion"
    assert report.samples[0] == {"prompt": "Why is the sea salty?", "completion": "Rivers carry dissolved minerals into it."}


def test_a_mapping_naming_a_missing_column_says_which(spec):
    with pytest.raises(DataError, match=r"\['nope'\] named in the column mapping are not in the data"):
        inspect_data(SAMPLES / "prompt_completion.jsonl", spec, columns={"prompt": "nope"})


def test_forcing_a_layout_reads_rows_the_forced_way(spec, tmp_path):
    source = tmp_path / "both.jsonl"
    source.write_text(json.dumps({"text": "Some raw text about owls and how they hunt at night.", "label": "x"}) + "\n")
    assert inspect_data(source, spec, layout="text").dataset_type == "language_modeling"


def test_parquet_and_saved_datasets_folders_load(spec, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetDict

    rows = [{"prompt": "Two plus two is", "completion": " four."}, {"prompt": "The opposite of hot is", "completion": " cold."}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "pc.parquet")
    assert inspect_data(tmp_path / "pc.parquet", spec).format == "prompt_completion"
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(tmp_path / "saved")
    report = inspect_data(tmp_path / "saved", spec)
    assert (report.format, report.usable_rows) == ("prompt_completion", 2)


def test_utf8_bom_crlf_and_utf16_files_read_the_same(spec, tmp_path):
    text = (SAMPLES / "openai_chat.jsonl").read_text()
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    (tmp_path / "u16.jsonl").write_bytes(text.encode("utf-16"))
    plain = inspect_data(SAMPLES / "openai_chat.jsonl", spec)
    for name in ("bom.jsonl", "u16.jsonl"):
        report = inspect_data(tmp_path / name, spec)
        assert report.samples == plain.samples and report.usable_rows == 3


def test_a_folder_reports_files_it_skipped(spec, tmp_path):
    shutil.copytree(SAMPLES / "texts", tmp_path / "texts")
    report = inspect_data(tmp_path / "texts", spec)
    assert report.errors == [] and report.usable_rows == 2
    assert [name.rsplit("/", 1)[1] for name in report.skipped_files] == ["notes.docx"]


def test_mixed_text_and_message_sides_are_unified_to_messages():
    records = [{"prompt": "Hi", "completion": "Hello"}, {"prompt": [{"role": "user", "content": "Yo"}], "completion": "Hey"}]
    unify(records, "prompt_completion")
    assert records[0] == {"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Hello"}]}
    assert records[1]["completion"] == [{"role": "assistant", "content": "Hey"}]
