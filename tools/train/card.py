"""The Hugging Face model card (`README.md`) of a finished run: base model, data, technique, settings, results."""

from __future__ import annotations

import json
from pathlib import Path

from tools.train.plan import TrainingPlan, read_report
from tools.train.run_dir import PLAN_FILE
from tools.vocab import LORA_METHODS, PREFERENCE_OBJECTIVES, VIRTUAL_TOKEN_METHODS

_TECHNIQUE = {
    "full": "full fine-tuning (every weight)", "lora": "LoRA adapter", "qlora": "QLoRA (LoRA on a 4-bit base)",
    "dora": "DoRA adapter (weight-decomposed LoRA)", "prompt_tuning": "prompt tuning (learned virtual tokens)",
    "prefix_tuning": "prefix tuning (learned key/value prefixes)",
}
_OBJECTIVE = {
    "sft": "supervised fine-tuning (SFT)", "dpo": "direct preference optimization (DPO)",
    "orpo": "odds-ratio preference optimization (ORPO)", "kto": "Kahneman-Tversky optimization (KTO)",
    "continued_pretraining": "continued pretraining on raw text",
}


def model_card(plan: TrainingPlan, base_name: str, results: dict, metrics: list[dict]) -> str:
    """Markdown with YAML front matter, in the layout the Hub renders."""
    library = "transformers" if plan.method == "full" else "peft"
    tags = ["trl", plan.objective.replace("_", "-"), plan.method.replace("_", "-"), "finetune-assistant"]
    front = ["---", f"base_model: {base_name}", f"library_name: {library}", "pipeline_tag: text-generation",
             "tags:", *[f"- {t}" for t in tags], "---", ""]
    body = [
        f"# {plan.name or Path(results.get('run_dir', 'run')).name}", "",
        f"Fine-tuned from `{base_name}` with {_OBJECTIVE[plan.objective]} as a {_TECHNIQUE[plan.method]}, "
        "using TRL. Made with finetune-assistant.", "",
        "## Data", "", _data_summary(plan), "",
        "## Training", "", "| setting | value |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in _settings(plan).items()], "",
        "## Results", "", *_results(results, metrics), "",
        "## Use", "", "```python", *_usage(plan, base_name), "```", "",
        f"The run folder's `{PLAN_FILE}` reproduces this run: `finetune-assistant train {PLAN_FILE} --output NEW_RUN_DIR`.",
        "",
    ]
    return "\n".join(front + body)


def _data_summary(plan: TrainingPlan) -> str:
    report = read_report(plan.data_dir) or {}
    parts = [f"Prepared data `{plan.data_dir}`"]
    if report.get("source"):
        parts.append(f"from `{report['source']}`")
    text = " ".join(parts) + f": {report.get('dataset_type', 'unknown')} rows"
    if report.get("train_rows") is not None:
        text += f", {report['train_rows']} for training and {report.get('validation_rows', 0)} for validation"
    return text + "."


def _settings(plan: TrainingPlan) -> dict:
    rows = {"objective": plan.objective, "method": plan.method, "learning rate": plan.resolved_learning_rate,
            "epochs": plan.epochs, "max steps": plan.max_steps or "-", "batch size (per device)": plan.batch_size,
            "gradient accumulation": plan.gradient_accumulation, "max length": plan.max_length,
            "scheduler": f"{plan.lr_scheduler}, warmup {plan.warmup_ratio}", "weight decay": plan.weight_decay,
            "packing": plan.resolved_packing, "loss on assistant turns only": plan.resolved_assistant_only_loss,
            "precision": plan.precision, "seed": plan.seed}
    if plan.method in LORA_METHODS:
        rows["LoRA r / alpha / dropout"] = f"{plan.lora_r} / {plan.lora_alpha} / {plan.lora_dropout}"
        rows["LoRA targets"] = plan.lora_targets if isinstance(plan.lora_targets, str) else ", ".join(plan.lora_targets)
    if plan.method in VIRTUAL_TOKEN_METHODS:
        rows["virtual tokens"] = plan.num_virtual_tokens
    if plan.objective in PREFERENCE_OBJECTIVES:
        rows["beta"] = plan.beta
    return rows


def _results(results: dict, metrics: list[dict]) -> list[str]:
    losses = [m["loss"] for m in metrics if m.get("loss") is not None]
    evals = [m["eval_loss"] for m in metrics if m.get("eval_loss") is not None]
    lines = [f"- steps: {results.get('global_step')}"]
    if losses:
        lines.append(f"- training loss: {losses[0]:.4f} (first log) -> {losses[-1]:.4f} (last log)")
    if evals:
        lines.append(f"- validation loss: {evals[-1]:.4f}")
    if results.get("train_runtime"):
        lines.append(f"- training time: {results['train_runtime']:.0f} s")
    return lines


def _usage(plan: TrainingPlan, base_name: str) -> list[str]:
    if plan.method == "full":
        return ["from transformers import AutoModelForCausalLM, AutoTokenizer",
                'model = AutoModelForCausalLM.from_pretrained("path/to/model")']
    return ["from peft import AutoPeftModelForCausalLM",
            'model = AutoPeftModelForCausalLM.from_pretrained("path/to/adapter")',
            f"# the base model is {json.dumps(base_name)}"]
