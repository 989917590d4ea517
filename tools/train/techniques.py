"""From a `TrainingPlan` to a ready TRL trainer: data, model, PEFT config and the trainer's config.

    trainer = build_trainer(plan, run_dir, callbacks=[...])
    trainer.train()

One function per decision, so the quickstart, the runner and the benchmark build trainers the same way.
SFT (full, LoRA, DoRA, QLoRA, prompt and prefix tuning) and continued pretraining use `SFTTrainer`;
DPO and KTO their core TRL trainers; ORPO lives in `trl.experimental.orpo` in TRL 1.16.
Everything heavy is imported inside the functions: this module runs in the training process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools import paths
from tools.train.chat_template import check_trainable_labels, training_chat_template
from tools.train.plan import LORA_METHODS, TrainingPlan
from tools.train.run_dir import RunDir


def device_kind() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolved_precision(plan: TrainingPlan) -> str:
    """bf16 where the GPU supports it, fp16 on older GPUs, fp32 on a CPU (bf16 autocast there is slower)."""
    import torch

    if plan.precision != "auto":
        return plan.precision
    if not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def load_datasets(plan: TrainingPlan) -> tuple[Any, Any | None]:
    """The prepared folder's train split and, when the plan evaluates and rows exist, its validation split."""
    from datasets import load_dataset

    folder = Path(plan.data_dir).expanduser()
    cache = str(paths.subdir("cache") / "datasets")
    train = load_dataset("json", data_files=str(folder / "train.jsonl"), split="train", cache_dir=cache)
    val_file = folder / "validation.jsonl"
    if plan.eval_split == "none" or not val_file.is_file() or not val_file.read_text(encoding="utf-8").strip():
        return train, None
    return train, load_dataset("json", data_files=str(val_file), split="train", cache_dir=cache)


def load_tokenizer(model_dir: str | Path, plan: TrainingPlan):
    """The base tokenizer, with a generation-marked chat template when the loss is on assistant turns only."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if plan.resolved_assistant_only_loss:
        try:
            template = training_chat_template(tokenizer)
        except ValueError:  # nothing can mark this template: `check_trainable_labels` says so and what to do
            template = None
        if template is not None:
            tokenizer.chat_template = template
    return tokenizer


def load_model(model_dir: str | Path, plan: TrainingPlan):
    """The base model in the dtype the plan trains in (4-bit NF4 for QLoRA)."""
    import torch
    from transformers import AutoModelForCausalLM

    precision = resolved_precision(plan)
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    # Full fine-tuning keeps fp32 master weights and lets autocast run the matmuls in 16-bit; a frozen base
    # under an adapter can live in 16-bit outright, which halves its memory.
    dtype = half if (half is not None and plan.method != "full") else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if plan.method == "qlora":
        from transformers import BitsAndBytesConfig

        # The QLoRA paper's recipe: NF4 weights, double quantization, 16-bit compute.
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=half or torch.bfloat16,
        )
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    if plan.gradient_checkpointing:
        model.config.use_cache = False
    return model


def peft_config(plan: TrainingPlan):
    """The PEFT adapter for the method, or None for full fine-tuning."""
    if plan.method == "full":
        return None
    if plan.method in LORA_METHODS:
        from peft import LoraConfig

        return LoraConfig(
            r=plan.lora_r, lora_alpha=plan.lora_alpha, lora_dropout=plan.lora_dropout,
            target_modules=plan.lora_targets, use_dora=plan.method == "dora", task_type="CAUSAL_LM",
        )
    if plan.method == "prompt_tuning":
        from peft import PromptTuningConfig

        return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=plan.num_virtual_tokens)
    from peft import PrefixTuningConfig

    return PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=plan.num_virtual_tokens)


def common_args(plan: TrainingPlan, run_dir: Path, has_eval: bool) -> dict[str, Any]:
    """`TrainingArguments` fields shared by every objective."""
    precision = resolved_precision(plan)
    if not has_eval:
        eval_strategy = "no"
    else:
        eval_strategy = "steps" if plan.eval_steps else "epoch"
    return dict(
        output_dir=str(RunDir(run_dir).checkpoints), learning_rate=plan.resolved_learning_rate,
        num_train_epochs=plan.epochs, max_steps=plan.max_steps or -1,
        per_device_train_batch_size=plan.batch_size, per_device_eval_batch_size=plan.batch_size,
        gradient_accumulation_steps=plan.gradient_accumulation, warmup_steps=plan.warmup_ratio,
        weight_decay=plan.weight_decay, lr_scheduler_type=plan.lr_scheduler, max_grad_norm=plan.max_grad_norm,
        logging_steps=plan.logging_steps, logging_first_step=True, save_strategy="steps",
        save_steps=plan.save_steps, save_total_limit=plan.save_total_limit, eval_strategy=eval_strategy,
        eval_steps=plan.eval_steps, seed=plan.seed, bf16=precision == "bf16", fp16=precision == "fp16",
        use_cpu=device_kind() == "cpu", gradient_checkpointing=plan.gradient_checkpointing,
        report_to="none", disable_tqdm=True, dataloader_num_workers=0, max_length=plan.max_length,
        # Every parameter takes part in each step (adapters and full models alike); searching for unused ones
        # costs DDP an extra pass over the graph.
        ddp_find_unused_parameters=False,
    )


def trainer_config(plan: TrainingPlan, run_dir: Path, has_eval: bool):
    """The TRL config object of the plan's objective."""
    args = common_args(plan, run_dir, has_eval)
    if plan.objective in ("sft", "continued_pretraining"):
        from trl import SFTConfig

        packing = plan.resolved_packing
        return SFTConfig(
            **args, packing=packing,
            # Continued pretraining splits long documents across blocks instead of dropping their tails.
            packing_strategy="bfd_split" if plan.objective == "continued_pretraining" else "bfd",
            assistant_only_loss=plan.resolved_assistant_only_loss, dataset_num_proc=None,
        )
    if plan.objective == "dpo":
        from trl import DPOConfig

        return DPOConfig(**args, beta=plan.beta)
    if plan.objective == "kto":
        from trl import KTOConfig

        return KTOConfig(**args, beta=plan.beta)
    from trl.experimental.orpo import ORPOConfig

    return ORPOConfig(**args, beta=plan.beta)


def build_trainer(plan: TrainingPlan, run_dir: str | Path, model_dir: str | Path, callbacks: list | None = None):
    """A TRL trainer for `plan`, writing checkpoints under `run_dir/checkpoints`."""
    run_dir = Path(run_dir)
    train, evaluation = load_datasets(plan)
    tokenizer = load_tokenizer(model_dir, plan)
    if plan.objective == "sft" and plan.resolved_assistant_only_loss:
        # Before the model loads: a loss that masks every label must fail now, with its cause and fix.
        check_trainable_labels(tokenizer, [train[i] for i in range(min(8, len(train)))], plan.max_length)
    model = load_model(model_dir, plan)
    config = trainer_config(plan, run_dir, evaluation is not None)
    kwargs = dict(model=model, args=config, train_dataset=train, eval_dataset=evaluation,
                  processing_class=tokenizer, peft_config=peft_config(plan), callbacks=callbacks or [])
    trainer = _trainer_class(plan.objective)(**kwargs)
    if len(trainer.train_dataset) == 0:
        # TRL drops examples whose trained tokens were all cut off; say why instead of a sampler error.
        raise ValueError(f"no training example is left after truncating to max_length {plan.max_length}: "
                         "the prompts fill it before any answer token. Raise max_length.")
    return trainer


def _trainer_class(objective: str):
    if objective in ("sft", "continued_pretraining"):
        from trl import SFTTrainer

        return SFTTrainer
    if objective == "dpo":
        from trl import DPOTrainer

        return DPOTrainer
    if objective == "kto":
        from trl import KTOTrainer

        return KTOTrainer
    from trl.experimental.orpo import ORPOTrainer

    return ORPOTrainer
