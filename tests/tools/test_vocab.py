"""One vocabulary: every file type the app accepts is one the loader reads; every GPU has one memory figure."""

import json

import pytest

from assistant.extract import extract
from tools.data.head import sample
from tools.train.hardware import Hardware
from tools.vocab import DATA_SUFFIXES, DATASET_TYPE_OF_KIND, GPU_TABLE, KIND_OF_DATASET_TYPE, format_duration
from ui.callbacks import CHAT_FILE_TYPES

ROW = {"prompt": "What is 2+2?", "completion": "4"}


def _write(path, suffix):
    if suffix in (".jsonl", ".ndjson", ".jsonlines"):
        path.write_text(json.dumps(ROW) + "\n")
    elif suffix == ".json":
        path.write_text(json.dumps([ROW]))
    elif suffix in (".csv", ".tsv"):
        sep = "," if suffix == ".csv" else "\t"
        path.write_text(f"prompt{sep}completion\nWhat is 2+2?{sep}4\n")
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist([ROW]), path)
    else:
        path.write_text("A paragraph of raw text.\n\nAnother one.\n")


@pytest.mark.parametrize("suffix", DATA_SUFFIXES)
def test_every_accepted_suffix_is_read_by_the_loader(tmp_path, suffix):
    assert suffix in CHAT_FILE_TYPES  # the chat and upload widgets accept exactly these
    path = tmp_path / f"data{suffix}"
    _write(path, suffix)
    head = sample(path)
    assert head.rows and head.dataset_type in KIND_OF_DATASET_TYPE


@pytest.mark.parametrize("key", sorted(GPU_TABLE))
def test_the_interview_and_the_estimator_agree_on_each_gpu(key):
    memory = GPU_TABLE[key][0]
    update, _ = extract(f"I have one {key.upper()} for training")
    assert (update.hardware, update.gpu_memory_gb) == ("gpu", memory)
    assert Hardware.parse(f"1x {key.upper()}").memory_gb == memory


def test_data_kinds_and_dataset_types_map_both_ways():
    for dataset_type, kind in KIND_OF_DATASET_TYPE.items():
        assert DATASET_TYPE_OF_KIND[kind] == dataset_type


def test_one_duration_format():
    assert [format_duration(s) for s in (45, 75, 3600, 3 * 3600)] == ["45 s", "1 min", "60 min", "3.0 h"]
