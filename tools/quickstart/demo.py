"""The first end-to-end slice: the shipped demo data -> a few LoRA SFT steps with TRL -> base vs tuned answer.

    finetune-assistant quickstart --max-steps 30
    python -c "from tools.quickstart.demo import quickstart; print(quickstart(max_steps=5))"

It runs in-process and small on purpose: it proves the whole toolchain works on this machine in about a
minute. Real runs go through the launcher (`finetune-assistant train`), which runs in its own process.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from tools import paths
from tools.models.resolve import resolve_model
from tools.train.plan import TrainingPlan
from tools.train.techniques import build_trainer

DEMO_PROMPT = "My battery dies after 10 km, is that normal?"
DEMO_SYSTEM = (
    "You are Pip, the support assistant of Larkspur Bikes, a small e-bike rental and repair shop in "
    "Harrowgate. Answer briefly and warmly, and always end with a concrete next step."
)


def demo_dataset_path() -> Path:
    """The shipped demo: support conversations of Larkspur Bikes, a fictional e-bike shop (OpenAI chat format)."""
    return Path(str(resources.files("tools") / "demo" / "larkspur_support.jsonl"))


@dataclass
class QuickstartResult:
    base_model: str
    adapter_dir: str
    prompt: str
    base_answer: str
    tuned_answer: str
    losses: list[float] = field(default_factory=list)

    @property
    def first_loss(self) -> float:
        return self.losses[0]

    @property
    def last_loss(self) -> float:
        return self.losses[-1]


def quickstart(
    model: str = "default",
    out_dir: str | Path | None = None,
    max_steps: int = 30,
    learning_rate: float = 2e-3,
    prompt: str = DEMO_PROMPT,
    max_new_tokens: int = 64,
    seed: int = 0,
) -> QuickstartResult:
    """Fine-tune `model` with LoRA on the demo data for `max_steps` steps and answer `prompt` with both."""
    from transformers import AutoTokenizer

    model_dir = resolve_model(model)
    out_dir = Path(out_dir) if out_dir else paths.runs_dir() / "quickstart"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # The same trainer builder as `finetune-assistant train`, so the quickstart proves the real path.
    plan = TrainingPlan(
        base_model=str(model_dir), data_dir=str(_demo_prepared(out_dir / "data")), method="lora",
        max_steps=max_steps, learning_rate=learning_rate, batch_size=4, max_length=512, lr_scheduler="constant",
        warmup_ratio=0.0, lora_r=16, lora_alpha=32, lora_dropout=0.0, eval_split="none",
        save_steps=max_steps + 1, seed=seed,
    )
    trainer = build_trainer(plan, out_dir / "trainer", model_dir)
    trainer.train()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    with paths.atomic_dir(out_dir / "adapter", replaces="adapter_config.json") as tmp:
        trainer.model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    peft_model = trainer.model
    messages = [{"role": "system", "content": DEMO_SYSTEM}, {"role": "user", "content": prompt}]
    with peft_model.disable_adapter():
        base_answer = _answer(peft_model, tokenizer, messages, max_new_tokens)
    tuned_answer = _answer(peft_model, tokenizer, messages, max_new_tokens)
    result = QuickstartResult(str(model_dir), str(out_dir / "adapter"), prompt, base_answer, tuned_answer, losses)
    paths.atomic_write_text(out_dir / "result.json", json.dumps(asdict(result), indent=2))
    return result


def _demo_prepared(folder: Path) -> Path:
    """The demo data as a prepared folder (train.jsonl + report.json), the form the trainer builder reads."""
    rows = [line for line in demo_dataset_path().read_text(encoding="utf-8").splitlines() if line.strip()]
    folder.mkdir(parents=True, exist_ok=True)
    paths.atomic_write_text(folder / "train.jsonl", "\n".join(rows) + "\n")
    report = {"dataset_type": "conversational", "format": "openai_chat", "rows": len(rows), "valid_rows": len(rows),
              "train_rows": len(rows), "validation_rows": 0, "source": str(demo_dataset_path())}
    paths.atomic_write_text(folder / "report.json", json.dumps(report, indent=2))
    return folder


def _answer(model, tokenizer, messages: list[dict], max_new_tokens: int) -> str:
    import torch

    model.eval()
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
