"""A file path or URL in a message names a place and states nothing: no hardware, size, objective or data
layout is read from its folder names, and no success check from its slashes. The file itself and a Hub
model id are still read where they are places or names."""

from __future__ import annotations

import pytest

from assistant.criteria import edit_in_words, parse_criteria
from assistant.edits import parse_edit, parse_eval_edit
from assistant.extract import extract
from assistant.paths_in_text import is_path, without_paths
from assistant.understand import read


@pytest.mark.parametrize("token", [
    "/srv/a100/dpo-models/llama-7b", "./data/x.jsonl", "~/corpora/10gb/", "data/train.jsonl", "C:\\data\\kto\\x.csv",
    "C:/models/check/smol", "\\\\nas\\share\\pairs", '"/home/me/ratings/set"', "(/opt/h100/)",
])  # fmt: skip
def test_paths_in_the_forms_people_paste_them(token):
    assert is_path(token)


@pytest.mark.parametrize("token", ["/Ada/", "/^\\d{3}$/", "Qwen/Qwen2.5-7B", "and/or", "24/7", "chosen/rejected", "Q&A",
                                   "prompt/winner/loser", "question/answer/context", "HuggingFaceTB/SmolLM2-1.7B",
                                   "EleutherAI/pythia-1.4b", "12/05/2024", "1/2"])
def test_a_lone_pattern_a_hub_id_and_word_pairs_are_no_path(token):
    assert not is_path(token)


def test_only_paths_and_urls_are_blanked_and_line_breaks_stay():
    text = "Train on /data/h100/dpo/pairs.jsonl\nthen see https://example.com/a100/qlora?x=1 (3 GB)."
    assert without_paths(text) == "Train on  \nthen see   (3 GB)."
    # The sentence's own punctuation stays: "…/help. Keep answers short" is two sentences, not one.
    assert without_paths("docs at https://acme.com/help. Keep it short") == "docs at  . Keep it short"
    assert without_paths("(see ./runs/a/b), then") == "(see  ), then"


@pytest.mark.parametrize("message", [
    "use model /srv/a100/dpo-models/llama-7b",
    "the checkpoints live under /mnt/h100-pool/qlora/kto-runs/",
    "see https://huggingface.co/datasets/acme/dpo-pairs-50k for the format",
    "weights are in C:\\models\\4090\\orpo",
])  # fmt: skip
def test_folder_names_state_no_hardware_objective_method_or_size(message):
    found = read(message).update.model_dump(exclude_none=True)
    stated = {"hardware", "gpu_name", "wants_objective", "wants_method", "rows", "tokens", "size_mb", "data_layout"}
    assert not stated & set(found), found


def test_the_file_is_still_the_data_and_the_words_around_it_still_count():
    update, _ = extract("I have 12,000 preference pairs (chosen and rejected) in /home/me/10gb-corpus/pairs.jsonl, one A100")
    assert update.data_location == "/home/me/10gb-corpus/pairs.jsonl" and update.data_format == "jsonl"
    assert update.rows == 12_000 and update.size_mb is None  # the folder's "10gb" is a name, not a size
    assert update.data_layout == "preference_pairs" and update.gpu_name == "A100"


def test_a_plan_edit_takes_no_setting_from_a_folder_name_and_still_finds_the_model(tmp_path):
    assert parse_edit("use model /srv/dpo/qlora-runs/llama") == ({}, {})
    assert parse_eval_edit("use /data/eval-32-examples/no-probe/model") == {}
    folder = tmp_path / "kto" / "rank-64" / "model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    changes, _ = parse_edit(f"use model {folder} with 3 epochs")
    assert changes == {"base_model": str(folder.resolve()), "epochs": 3.0}


def test_a_data_file_named_in_a_plan_edit_is_still_the_new_data():
    for words, source in [("use data /home/me/new.jsonl", "/home/me/new.jsonl"), ("switch the data to data/train2.jsonl",
                          "data/train2.jsonl"), ("use the file ./pairs.csv", "./pairs.csv")]:  # fmt: skip
        assert parse_edit(words)[1] == {"source": source}


@pytest.mark.parametrize(("words", "phrases"), [
    ("It must mention Ada, docs at https://acme.com/help. Keep answers friendly.", [["Ada"]]),
    ("It must say 'see /docs/returns' at the end", [["see /docs/returns"]]),
    ("Answers must include https://acme.com/returns", [["https://acme.com/returns"]]),
])  # fmt: skip
def test_what_a_check_quotes_or_requires_stays_and_a_sentence_still_ends(words, phrases):
    assert [c.phrases for c in parse_criteria(words).checks if c.kind == "contains"] == phrases


def test_a_folder_in_a_settings_edit_adds_no_check():
    criteria = parse_criteria("it must mention Ada")
    assert edit_in_words(criteria, "use rank 32 and put data under /tmp/") == (criteria, [])
    assert [c.kind for c in edit_in_words(criteria, "answers should match /^Ada/i")[0].checks] == ["contains", "regex"]
