"""Every technique trains the tiny model for 2 steps, moves its weights and saves an output that loads."""

import json

import pytest
import torch

from tools.train.chat_template import SMOLLM2_TRAINING_TEMPLATE
from tools.train.plan import TrainingPlan
from tools.train.runner import save_outputs
from tools.train.techniques import build_trainer

QA = [("What are your opening hours?", "Tuesday to Saturday, 9 to 6."),
      ("Do you rent e-bikes?", "Yes, from 25 euros a day."),
      ("Can you fix a flat tyre?", "Yes, while you wait."),
      ("Where are you?", "Mill Lane 4, Harrowgate."),
      ("Do you sell helmets?", "Yes, from 40 euros."),
      ("Is there parking?", "Two bays behind the shop.")]


def _rows(kind: str) -> list[dict]:
    if kind == "conversational":
        return [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in QA]
    if kind == "prompt_completion":
        return [{"prompt": q, "completion": " " + a} for q, a in QA]
    if kind == "preference":
        return [{"prompt": q, "chosen": a, "rejected": QA[i - 1][1]} for i, (q, a) in enumerate(QA)]
    if kind == "unpaired_preference":
        return [{"prompt": q, "completion": a if i % 2 else QA[i - 1][1], "label": bool(i % 2)} for i, (q, a) in enumerate(QA)]
    return [{"text": f"{q} {a}"} for q, a in QA]


def prepare(root, kind: str):
    """A prepared folder as the data step writes it (train/validation JSONL + report.json)."""
    folder = root / kind
    folder.mkdir(parents=True, exist_ok=True)
    rows = _rows(kind)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:4]))
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[4:]))
    report = {"dataset_type": kind, "format": "jsonl", "rows": 6, "valid_rows": 6, "train_rows": 4,
              "validation_rows": 2, "source": "test"}
    (folder / "report.json").write_text(json.dumps(report))
    return folder


CASES = [  # (objective, method, data)
    ("sft", "full", "prompt_completion"),
    ("sft", "lora", "conversational"),
    ("sft", "dora", "conversational"),
    ("sft", "prompt_tuning", "conversational"),
    ("sft", "prefix_tuning", "prompt_completion"),
    ("continued_pretraining", "lora", "language_modeling"),
    ("dpo", "lora", "preference"),
    ("orpo", "lora", "preference"),
    ("kto", "lora", "unpaired_preference"),
]


@pytest.mark.parametrize("objective,method,kind", CASES, ids=[f"{o}-{m}" for o, m, _ in CASES])
def test_technique_trains_two_steps_and_saves_a_loadable_output(tiny_model_dir, tmp_path, objective, method, kind):
    plan = TrainingPlan(base_model=str(tiny_model_dir), data_dir=str(prepare(tmp_path, kind)), objective=objective,
                        method=method, max_steps=2, batch_size=2, max_length=64, learning_rate=1e-2,
                        warmup_ratio=0.0, save_steps=100, eval_split="none", num_virtual_tokens=4)
    run_dir = tmp_path / "run"
    trainer = build_trainer(plan, run_dir, tiny_model_dir)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert before, "nothing to train"
    trainer.train()
    assert trainer.state.global_step == 2
    after = dict(trainer.model.named_parameters())
    changed = [n for n, p in before.items() if not torch.equal(p, after[n].detach())]
    assert changed, f"{objective}/{method}: no trainable weight moved"

    final = save_outputs(trainer, plan, run_dir, tiny_model_dir)
    assert final.name == ("model" if method == "full" else "adapter")
    _assert_loads_and_generates(final, method)


def _assert_loads_and_generates(folder, method):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if method == "full":
        model = AutoModelForCausalLM.from_pretrained(folder)
    else:
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(folder)
        assert (folder / "adapter_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    # The saved tokenizer carries the original template, not the generation-marked training twin.
    assert "{% generation %}" not in tokenizer.chat_template
    ids = tokenizer("Hello", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=3, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_chat_sft_puts_the_loss_on_assistant_turns_only(tiny_model_dir, tmp_path):
    plan = TrainingPlan(base_model=str(tiny_model_dir), data_dir=str(prepare(tmp_path, "conversational")),
                        max_steps=1, batch_size=2, max_length=64, eval_split="none")
    trainer = build_trainer(plan, tmp_path / "run", tiny_model_dir)
    row = trainer.train_dataset[0]
    tokenizer = trainer.processing_class
    # TRL folds the assistant mask into the labels: -100 marks tokens without loss.
    trained = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100])
    assert trained == QA[0][1] + "<|im_end|>\n"


def test_the_training_template_renders_exactly_like_smollm2s(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for messages in (_rows("conversational")[0]["messages"],
                     [{"role": "system", "content": "Be brief."}, *_rows("conversational")[1]["messages"]]):
        original = tokenizer.apply_chat_template(messages, tokenize=False)
        marked = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=SMOLLM2_TRAINING_TEMPLATE)
        assert marked == original
