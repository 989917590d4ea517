"""A prepared folder trains with the TRL trainer of its dataset type (one step on the tiny model)."""

import json
from pathlib import Path

import pytest

from tools.data import DataSpec, load_prepared, prepare_data

SAMPLES = Path(__file__).parent / "data_samples"
_COMMON = dict(max_steps=1, per_device_train_batch_size=2, report_to="none", save_strategy="no", use_cpu=True,
               dataloader_num_workers=0, disable_tqdm=True, logging_steps=1)  # fmt: skip


def _prepare(name, tiny_model_dir, tmp_path):
    out = tmp_path / "prepared"
    report = prepare_data(SAMPLES / name, out, DataSpec(model=str(tiny_model_dir), max_length=128, val_fraction=0.25))
    return report, load_prepared(out), out


def _trained(trainer) -> bool:
    trainer.train()
    return any("loss" in row for row in trainer.state.log_history)


@pytest.mark.parametrize("name", ["openai_chat.jsonl", "prompt_completion.jsonl", "text.txt", "sharegpt.json"])
def test_sft_trains_on_prepared_conversational_prompt_completion_and_text(name, tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    report, data, _ = _prepare(name, tiny_model_dir, tmp_path)
    assert report.dataset_type in ("conversational", "prompt_completion", "language_modeling")
    args = SFTConfig(output_dir=str(tmp_path / "run"), max_length=128, **_COMMON)
    trainer = SFTTrainer(model=str(tiny_model_dir), args=args, train_dataset=data["train"], eval_dataset=data["validation"],
                         processing_class=AutoTokenizer.from_pretrained(tiny_model_dir))  # fmt: skip
    assert len(trainer.train_dataset) == report.train_rows and "input_ids" in trainer.train_dataset.column_names
    assert _trained(trainer)


@pytest.mark.parametrize("name", ["preference.jsonl", "preference_chat.jsonl"])
def test_dpo_trains_on_prepared_preference_pairs(name, tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    report, data, _ = _prepare(name, tiny_model_dir, tmp_path)
    assert report.dataset_type == "preference"
    args = DPOConfig(output_dir=str(tmp_path / "run"), max_length=128, **_COMMON)
    trainer = DPOTrainer(model=str(tiny_model_dir), args=args, train_dataset=data["train"],
                         processing_class=AutoTokenizer.from_pretrained(tiny_model_dir))  # fmt: skip
    assert _trained(trainer)


def test_kto_trains_on_prepared_unpaired_preference(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer
    from trl import KTOConfig, KTOTrainer  # promoted from trl.experimental.kto to the stable API in TRL 1.16

    report, data, _ = _prepare("unpaired_preference.tsv", tiny_model_dir, tmp_path)
    assert report.dataset_type == "unpaired_preference" and data["train"].features["label"].dtype == "bool"
    args = KTOConfig(output_dir=str(tmp_path / "run"), max_length=128, **_COMMON)
    trainer = KTOTrainer(model=str(tiny_model_dir), args=args, train_dataset=data["train"],
                         processing_class=AutoTokenizer.from_pretrained(tiny_model_dir))  # fmt: skip
    assert _trained(trainer)


def test_prepared_folder_holds_every_output_and_a_reproducible_spec(tiny_model_dir, tmp_path):
    source = SAMPLES / "openai_chat.jsonl"
    before = source.read_bytes()
    report, data, out = _prepare("openai_chat.jsonl", tiny_model_dir, tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["histogram.png", "report.json", "report.md", "train.jsonl", "validation.jsonl"]
    assert (out / "histogram.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "report.json").read_text())
    for key in ("dataset_type", "format", "rows", "valid_rows", "train_rows", "validation_rows", "source"):
        assert key in saved
    assert (saved["train_rows"], saved["validation_rows"]) == (len(data["train"]), len(data["validation"])) == (2, 1)
    assert DataSpec(**saved["spec"]) == report.spec
    assert "openai_chat" in (out / "report.md").read_text()
    assert source.read_bytes() == before  # the source is only read
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".prepared")]  # no temp folder left behind
