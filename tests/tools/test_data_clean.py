"""Cleaning: whitespace normalisation, exact and near-duplicate removal, deterministic split."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash

from tools.data import DataSpec, inspect_data, prepare_data, split
from tools.data.clean import (
    candidate_pairs,
    exact_duplicates,
    minhash_signatures,
    near_duplicates,
    normalise,
    shingle_hashes,
)

SAMPLES = Path(__file__).parent / "data_samples"


def test_normalise_fixes_newlines_odd_spaces_and_blank_runs():
    assert normalise(["  a \r\n b  \n\n\n\nc\u00a0d ", "x\u200by", "\ttabs\t"]) == ["a\n b\n\nc d", "xy", "tabs"]


def test_trailing_spaces_are_stripped_in_linear_time():
    """L6: a `[ \t]+\n` regex took seconds on 40 KB of spaces (it retries every start of the run)."""
    assert normalise(["a  \t\nb \n c"]) == ["a\nb\n c"]
    crafted = " " * 400_000 + "x \n"
    started = time.perf_counter()
    assert normalise([crafted]) == ["x"]
    assert time.perf_counter() - started < 0.5


def test_candidate_pairs_are_each_shared_bucket_once_in_order():
    keys = np.array([[1, 9], [2, 9], [1, 8], [3, 7], [1, 9]], dtype=np.uint64)  # rows 0, 2, 4 share band 0
    his, los = candidate_pairs(keys)
    assert list(zip(his.tolist(), los.tolist(), strict=True)) == [(1, 0), (2, 0), (4, 1), (4, 2)]
    # 20k rows in one bucket: pairs are numpy arrays of one chain per band, not a set per row.
    his, _ = candidate_pairs(np.zeros((20_000, 3), dtype=np.uint64))
    assert len(his) == 19_999 and his.dtype == np.int64


def test_exact_duplicates_ignore_case_and_spacing_but_not_roles():
    records = [
        {"messages": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello"}]},
        {"messages": [{"role": "user", "content": "hi  THERE"}, {"role": "assistant", "content": "hello"}]},
        {"messages": [{"role": "assistant", "content": "Hi there"}, {"role": "user", "content": "Hello"}]},
    ]
    assert exact_duplicates(records) == {1: 0}


def test_signatures_equal_datasketch_minhash_over_the_same_shingles():
    ids = [[5, 6, 7, 8, 9, 10], [1, 2], [], [5, 6, 7, 8, 9, 11]]
    sig = minhash_signatures(ids)
    hashes, doc = shingle_hashes(ids)
    for k in range(len(ids)):
        reference = MinHash(num_perm=sig.shape[1], seed=1, hashfunc=lambda x: x)
        reference.update_batch(hashes[doc == k].tolist())
        assert np.array_equal(reference.hashvalues, sig[k])


def test_near_duplicates_are_found_and_distinct_rows_kept():
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 30_000, 60).tolist() for _ in range(300)]
    docs[10] = docs[3][:59] + [7]  # one token changed out of 60
    dups = near_duplicates(minhash_signatures(docs), 0.8)
    assert dups == {10: 3}


def test_dataset_exact_and_near_duplicates_are_removed_and_listed(tiny_model_dir):
    report = inspect_data(SAMPLES / "duplicates.jsonl", DataSpec(model=str(tiny_model_dir)))
    assert (report.exact_duplicates, report.near_duplicates, report.usable_rows) == (1, 1, 3)
    assert [(d["row"], d["duplicate_of"], d["kind"]) for d in report.duplicates] == [(2, 1, "exact"), (3, 1, "near")]
    off = inspect_data(SAMPLES / "duplicates.jsonl", DataSpec(model=str(tiny_model_dir), near_dedupe_threshold=None))
    assert (off.near_duplicates, off.usable_rows) == (0, 4)


def test_split_is_deterministic_disjoint_and_keeps_one_row_for_training():
    train, val = split(100, 0.1, seed=7)
    assert (len(train), len(val)) == (90, 10) and not set(train) & set(val)
    assert split(100, 0.1, seed=7) == (train, val) and split(100, 0.1, seed=8) != (train, val)
    assert split(2, 0.5, seed=1)[0] and split(2, 0.5, seed=1)[1]
    assert split(5, 0.0, seed=1) == ([0, 1, 2, 3, 4], [])


def test_no_duplicate_crosses_the_split(tiny_model_dir, tmp_path):
    base = "Our shop opens at nine and closes at six on weekdays, and opens at ten on Saturdays for rentals and repairs"
    rows = []
    for i in range(40):
        rows.append({"prompt": f"Question number {i} about topic {i * 7}: what about item {i}?", "completion": f"{base}, item {i}."})
        rows.append({"prompt": f"question number {i} about topic {i * 7}: what about item {i}?", "completion": f"{base}, item {i}."})
    source = tmp_path / "dups.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = prepare_data(source, tmp_path / "out", DataSpec(model=str(tiny_model_dir), val_fraction=0.25, test_fraction=0.0,
                                                                 near_dedupe_threshold=None))  # fmt: skip
    train = (tmp_path / "out" / "train.jsonl").read_text().splitlines()
    val = (tmp_path / "out" / "validation.jsonl").read_text().splitlines()
    keys = [json.loads(line)["prompt"].lower() for line in train + val]
    assert len(keys) == len(set(keys)) == 40 == report.usable_rows
    assert (report.train_rows, report.validation_rows) == (30, 10)


def test_length_filters_drop_and_count_rows(tiny_model_dir):
    full = inspect_data(SAMPLES / "text.txt", DataSpec(model=str(tiny_model_dir)))
    longest = full.tokens.max
    capped = inspect_data(SAMPLES / "text.txt", DataSpec(model=str(tiny_model_dir), max_tokens=longest - 1))
    assert capped.too_long == 1 and capped.usable_rows == 2 and capped.tokens.max < longest
    floored = inspect_data(SAMPLES / "text.txt", DataSpec(model=str(tiny_model_dir), min_tokens=longest))
    assert (floored.too_short, floored.usable_rows, floored.tokens.max) == (2, 1, longest)


def test_truncated_fraction_counts_rows_over_max_length(tiny_model_dir):
    report = inspect_data(SAMPLES / "text.txt", DataSpec(model=str(tiny_model_dir), max_length=20))
    lengths_over = report.tokens.truncated_fraction * report.usable_rows
    assert report.tokens.max > 20 and lengths_over == pytest.approx(round(lengths_over)) and lengths_over >= 1


def test_words_break_around_cjk_characters_even_next_to_latin_letters():
    from tools.data.clean import word_ids

    hashes, counts = word_ids(["iPhone用の ケース", "a日b", "plain words here"])
    assert counts.tolist() == [6, 3, 3] and len(hashes) == 12  # iphone 用 の ケ ー ス / a 日 b / ...
    assert hashes[0] == word_ids(["iphone"])[0][0]  # "iPhone" stays one word before the CJK character


def test_near_duplicates_are_found_in_text_mixing_latin_and_cjk(tiny_model_dir, tmp_path):
    answer = "iPhone用のケースは3日で届きます。Returns are free within 30 days of delivery for every order."
    rows = [{"prompt": f"{i}日に注文したiPhone用ケースはいつ届きますか? Order {i} for model X{i}", "completion": f"{answer} Ref {i}."} for i in range(6)]
    rows.append({**rows[2], "completion": rows[2]["completion"].replace("free", "Free")})  # one edit: a near duplicate
    source = tmp_path / "mixed.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    report = inspect_data(source, DataSpec(model=str(tiny_model_dir), exact_dedupe=False))
    assert report.near_duplicates == 1 and report.duplicates[0]["duplicate_of"] == 3 and report.usable_rows == 6
