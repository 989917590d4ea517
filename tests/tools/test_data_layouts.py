"""The dataset layouts people actually have, and OpenAI's fine-tuning formats, each through
`data inspect --json` (what the agent and the UI read), then `data prepare` where the written rows matter."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.data.cli import app

SAMPLES = Path(__file__).parent / "data_samples"


@pytest.fixture
def inspect(tiny_model_dir):
    """`data inspect FILE --json` as a dict (exit code 0 required)."""
    runner = CliRunner()

    def run(path, *args):
        result = runner.invoke(app, ["inspect", str(path), "--json", "--model", str(tiny_model_dir), *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return run


@pytest.fixture
def prepare(tiny_model_dir, tmp_path):
    """`data prepare FILE --out DIR --json`: (report, train rows, validation rows)."""
    runner = CliRunner()

    def run(path, *args):
        out = tmp_path / f"prepared-{Path(path).stem}"
        result = runner.invoke(app, ["prepare", str(path), "--out", str(out), "--json", "--model", str(tiny_model_dir), *args])
        assert result.exit_code == 0, result.output
        rows = [[json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()] for name in ("train", "validation")]
        return json.loads(result.stdout), *rows

    return run


def _usable(report, n):
    assert (report["rows"], report["valid_rows"], report["usable_rows"], report["error_count"]) == (n, n, n, 0), report["errors"]


def test_content_parts_with_text_value_or_plain_strings_are_read(inspect):
    report = inspect(SAMPLES / "chat_parts.jsonl")
    assert (report["format"], report["dataset_type"]) == ("openai_chat", "conversational")
    _usable(report, 3)
    first, second, third = report["samples"]
    assert first["messages"][0] == {"role": "user", "content": "What oil suits a chain?"}
    assert second["messages"][0]["content"] == "How often should I oil it?\nI ride daily."
    assert third["messages"][1]["content"] == "Yes: a stretched chain wears the cassette."


def test_a_part_without_text_is_a_row_error_naming_its_keys(inspect, tmp_path):
    path = tmp_path / "odd.jsonl"
    rows = [{"messages": [{"role": "user", "content": [{"type": "text", "body": "hi"}]}, {"role": "assistant", "content": "x"}]},
            {"messages": [{"role": "user", "content": "ok"}, {"role": "assistant", "content": "fine"}]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = inspect(path)
    assert report["usable_rows"] == 1
    assert report["errors"][0]["field"] == "messages[0].content[0]" and "keys: body, type" in report["errors"][0]["message"]


def test_two_whole_conversations_per_row_are_preference_pairs_and_jsx_is_not_a_placeholder(inspect):
    report = inspect(SAMPLES / "preference_conversations.jsonl")
    assert (report["format"], report["dataset_type"]) == ("preference", "preference")
    _usable(report, 2)
    assert report["warning_count"] == 0  # `style={{ fontWeight: 'bold' }}` is code, not a blank to fill
    first = report["samples"][0]
    assert first["prompt"] == [{"role": "user", "content": "Write a bold React label."}]
    assert "fontWeight" in first["chosen"][0]["content"] and first["rejected"] == [{"role": "assistant", "content": "<b>Hi</b>"}]


@pytest.mark.parametrize(("good", "bad"), [("chosen", "rejected"), ("positive", "negative"), ("preferred", "dispreferred")])
def test_preference_pairs_under_common_names(inspect, tmp_path, good, bad):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"Question {i}?", good: f"A careful answer number {i}.", bad: f"No {i}."} for i in range(3)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = inspect(path)
    assert (report["format"], report["dataset_type"]) == ("preference", "preference")
    _usable(report, 3)
    assert report["samples"][0] == {"prompt": "Question 0?", "chosen": "A careful answer number 0.", "rejected": "No 0."}


def test_sharegpt_with_system_function_call_and_observation_turns(inspect):
    report = inspect(SAMPLES / "sharegpt_tools.json")
    assert (report["format"], report["dataset_type"]) == ("sharegpt", "conversational")
    _usable(report, 2)
    first, second = report["samples"]
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert json.loads(first["tools"])[0]["name"] == "convert"
    assert second["messages"][0] == {"role": "system", "content": "Be kind."} and second["tools"] == "[]"


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("labels.csv", ["billing", "maintenance", "software"]),
        ("labels.tsv", ["negative", "neutral", "positive"]),
        ("labels_clause.jsonl", ["governing_law", "payment", "termination"]),
        ("labels_message.jsonl", ["account", "shipping"]),
    ],
)
def test_a_labelled_table_is_a_classification_task_with_its_label_set(inspect, name, labels):
    report = inspect(SAMPLES / name)
    assert (report["format"], report["dataset_type"], report["task"]) == ("classification", "conversational", "classification")
    assert report["labels"] == labels
    assert report["usable_rows"] == report["rows"] and report["error_count"] == 0
    user, answer = report["samples"][0]["messages"]
    assert user["role"] == "user" and answer["role"] == "assistant" and answer["content"] in labels


def test_a_parquet_review_sentiment_table_is_classification(inspect, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "reviews.parquet"
    pq.write_table(pa.table({"review": ["Loved it", "Broke fast", "Okay I guess"], "sentiment": [1, 0, 2]}), path)
    report = inspect(path)
    assert (report["format"], report["task"], report["labels"]) == ("classification", "classification", ["0", "1", "2"])


def test_a_classification_row_is_prepared_as_text_then_label(prepare):
    report, train, validation = prepare(SAMPLES / "labels.csv", "--val-fraction", "0")
    assert report["task"] == "classification" and len(train) == 4 and validation == []
    assert train[0]["messages"] == [{"role": "user", "content": "The brakes squeal when wet"}, {"role": "assistant", "content": "maintenance"}]


def test_rows_under_a_top_level_key_of_a_json_file(inspect):
    report = inspect(SAMPLES / "rows_under_data.json")
    assert (report["format"], report["dataset_type"]) == ("question_answer", "conversational")
    _usable(report, 2)


def test_openai_chat_with_weights_keeps_weight_zero_turns_as_context(inspect, prepare):
    report = inspect(SAMPLES / "openai_weights.jsonl")
    assert (report["format"], report["dataset_type"]) == ("openai_chat", "conversational")
    # The third row has only a weight-0 answer: nothing to learn from, so it is rejected with the reason.
    assert (report["rows"], report["usable_rows"], report["error_count"]) == (3, 2, 1)
    assert report["errors"][0]["row"] == 3 and "weight 0" in report["errors"][0]["message"]
    _, train, _ = prepare(SAMPLES / "openai_weights.jsonl", "--val-fraction", "0")
    weights = [m.get("weight") for m in train[0]["messages"] if m["role"] == "assistant"]
    assert weights == [0, 1]


def test_openai_tools_functions_and_parallel_tool_calls_reach_the_prepared_rows(inspect, prepare):
    report = inspect(SAMPLES / "openai_tools.jsonl")
    assert (report["format"], report["dataset_type"]) == ("openai_chat", "conversational")
    _usable(report, 3)
    _, train, _ = prepare(SAMPLES / "openai_tools.jsonl", "--val-fraction", "0")
    parallel, legacy, plain = train
    calls = parallel["messages"][1]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_weather"] and calls[1]["id"] == "call_2"
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert parallel["messages"][2] == {"role": "tool", "content": "18C sunny", "tool_call_id": "call_1"}
    assert json.loads(parallel["tools"])[0]["function"]["name"] == "get_weather"
    # Legacy `functions` + `function_call` become tools + tool_calls; the function result a tool turn.
    assert json.loads(legacy["tools"])[0] == {"type": "function", "function": json.loads(parallel["tools"])[0]["function"]}
    assert legacy["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert legacy["messages"][2] == {"role": "tool", "content": "3C snow", "name": "get_weather"}
    assert plain["tools"] == "[]" and "parallel_tool_calls" not in plain


def test_openai_preference_format_is_preference(inspect):
    report = inspect(SAMPLES / "openai_preference.jsonl")
    assert (report["format"], report["dataset_type"]) == ("openai_preference", "preference")
    _usable(report, 2)
    first, second = report["samples"]
    assert first["prompt"] == [{"role": "user", "content": "Hello, can you tell me how cold San Francisco is today?"}]
    assert first["chosen"][0]["role"] == "assistant" and "23C" in first["chosen"][0]["content"]
    assert [m["role"] for m in second["prompt"]] == ["system", "user"]


def test_a_validation_file_is_the_held_out_split_as_given(inspect, prepare):
    report = inspect(SAMPLES / "openai_chat.jsonl", "--validation", str(SAMPLES / "openai_validation.jsonl"))
    assert report["split"] == "given" and report["usable_rows"] == 5
    report, train, validation = prepare(SAMPLES / "openai_chat.jsonl", "--validation", str(SAMPLES / "openai_validation.jsonl"))
    assert report["split"] == "given" and (report["train_rows"], report["validation_rows"]) == (3, 2)
    assert [r["messages"][0]["content"] for r in validation] == ["Saddle height?", "Chain skipping?"]
    assert report["spec"]["validation_file"].endswith("openai_validation.jsonl")


def test_a_folder_of_files_of_one_layout_is_one_dataset(inspect, tmp_path):
    folder = tmp_path / "chats"
    folder.mkdir()
    for i in range(3):
        rows = [{"messages": [{"role": "user", "content": f"Part {i} question {j}?"}, {"role": "assistant", "content": f"Answer {i}.{j}."}]}
                for j in range(2)]  # fmt: skip
        (folder / f"part{i}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = inspect(folder)
    assert report["format"] == "openai_chat" and report["usable_rows"] == 6 and report["split"] == "sampled"


def test_a_hub_style_folder_honours_its_splits_and_skips_sidecars(inspect, prepare, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "hub"
    (folder / "data").mkdir(parents=True)
    def rows(split, n):
        return {"prompt": [f"{split} question {i}?" for i in range(n)], "completion": [f"{split} answer {i}." for i in range(n)]}
    pq.write_table(pa.table(rows("train-a", 3)), folder / "data" / "train-00000-of-00002.parquet")
    pq.write_table(pa.table(rows("train-b", 2)), folder / "data" / "train-00001-of-00002.parquet")
    pq.write_table(pa.table(rows("validation", 2)), folder / "data" / "validation-00000-of-00001.parquet")
    pq.write_table(pa.table(rows("test", 2)), folder / "data" / "test-00000-of-00001.parquet")
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# My dataset\n")
    (folder / "dataset_info.json").write_text(json.dumps({"features": {"prompt": "string"}}))
    report = inspect(folder)
    assert (report["format"], report["split"], report["usable_rows"], report["error_count"]) == ("prompt_completion", "given", 7, 0)
    assert sorted(Path(p).name for p in report["skipped_files"]) == ["README.md", "dataset_info.json", "test-00000-of-00001.parquet"]
    report, train, validation = prepare(folder)
    assert (len(train), len(validation)) == (5, 2)
    assert {r["prompt"].split()[0] for r in validation} == {"validation"}
