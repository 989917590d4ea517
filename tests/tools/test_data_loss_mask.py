"""The response-marker check: before training, an assistant-only loss that would mask every label
fails with its cause and the fix; per-message weights leave weight-0 turns out of the loss."""

import json
import shutil

import pytest

from tools.data import DataSpec, prepare_data
from tools.train.chat_template import SMOLLM2_TRAINING_TEMPLATE, check_trainable_labels
from tools.train.plan import TrainingPlan
from tools.train.techniques import build_trainer

PLAIN_TEMPLATE = "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"


def _chat(*turns, weights=None):
    roles = ["user", "assistant"] * len(turns)
    messages = [{"role": r, "content": t} for r, t in zip(roles, turns, strict=False)]
    for message, weight in zip([m for m in messages if m["role"] == "assistant"], weights or [], strict=False):
        message["weight"] = weight
    return {"messages": messages}


@pytest.fixture
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = SMOLLM2_TRAINING_TEMPLATE
    return tok


def test_a_template_without_generation_markers_fails_before_training_with_the_fix(tiny_model_dir, tmp_path):
    model = tmp_path / "no-markers"
    shutil.copytree(tiny_model_dir, model)
    (model / "chat_template.jinja").write_text(PLAIN_TEMPLATE)  # a template neither TRL nor we can mark
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(_chat(f"Question {i}?", f"Answer number {i}.")) + "\n" for i in range(6)))
    prepared = tmp_path / "prepared"
    prepare_data(data, prepared, DataSpec(model=str(model), near_dedupe_threshold=None))
    plan = TrainingPlan(base_model=str(model), data_dir=str(prepared), max_steps=1, batch_size=2, max_length=64, eval_split="none")
    assert plan.resolved_assistant_only_loss
    with pytest.raises(ValueError) as err:
        build_trainer(plan, tmp_path / "run", model)
    message = str(err.value)
    print(message)
    assert "has no {% generation %} markers" in message and "every label would be masked" in message
    assert "assistant_only_loss: false" in message


def test_every_answer_weighted_zero_names_the_weights(tokenizer):
    rows = [_chat("Hi", "Hello.", weights=[0]) for _ in range(3)]
    with pytest.raises(ValueError, match="every assistant turn in the first 3 rows has weight 0"):
        check_trainable_labels(tokenizer, rows, max_length=256)


def test_a_max_length_that_cuts_every_answer_names_the_length_to_use(tokenizer):
    rows = [{"messages": [{"role": "system", "content": "Rules. " * 60}, *_chat("Question?", "Answer.")["messages"]]}]
    with pytest.raises(ValueError, match=r"max_length 32 cuts every answer away .* raise max_length above \d+"):
        check_trainable_labels(tokenizer, rows, max_length=32)
    check_trainable_labels(tokenizer, rows, max_length=1024)  # long enough: no error


def test_weight_zero_turns_render_the_same_but_leave_the_loss_mask(tokenizer, tiny_model_dir):
    from transformers import AutoTokenizer

    row = _chat("Hi", "Hello, how are you?", "Tyre pressure?", "About 4 bar.", weights=[0, 1])
    original = AutoTokenizer.from_pretrained(tiny_model_dir).apply_chat_template(row["messages"], tokenize=False)
    assert tokenizer.apply_chat_template(row["messages"], tokenize=False) == original
    out = tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    trained = tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m])
    assert trained == "About 4 bar.<|im_end|>\n"
    # Arrow fills a missing weight with null: such turns train.
    row["messages"][1]["weight"] = None
    out = tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    assert tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]).startswith("Hello")


def test_openai_weights_reach_trls_labels(tiny_model_dir, tmp_path):
    from pathlib import Path

    prepared = tmp_path / "prepared"
    samples = Path(__file__).parent / "data_samples"
    prepare_data(samples / "openai_weights.jsonl", prepared, DataSpec(model=str(tiny_model_dir), val_fraction=0.0))
    plan = TrainingPlan(base_model=str(tiny_model_dir), data_dir=str(prepared), max_steps=1, batch_size=1, max_length=256,
                        eval_split="none")  # fmt: skip
    trainer = build_trainer(plan, tmp_path / "run", tiny_model_dir)
    tokenizer = trainer.processing_class
    trained = [tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100])
               for row in trainer.train_dataset]  # fmt: skip
    # Row 1: the weight-0 greeting is context only; row 2 has no weights at all.
    assert trained == ["About 4 bar for a city bike.<|im_end|>\n", "Clean the rotor with alcohol.<|im_end|>\n"]
