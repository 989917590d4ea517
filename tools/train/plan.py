"""`Plan` (what the user approves) and its `TrainingPlan`, checked for coherence when built, not an hour into training.

    from tools.train.plan import Plan, TrainingPlan, check_runnable
    training = TrainingPlan(base_model="default", data_dir="~/.cache/finetune-assistant/datasets/support",
                            objective="sft", method="lora", max_steps=200)
    plan = Plan(source="chats.jsonl", source_name="chats.jsonl", training=training)
    check_runnable(plan)           # [] or what stops it on this machine (missing file, QLoRA without CUDA)
    plan.to_yaml("plan.yaml"); Plan.from_yaml("plan.yaml") == plan

The validators check coherence only (objective vs data type, method vs objective, lengths); whether the
plan can run *here* is `check_runnable`, called at approval and by the launcher. The plan is also what
the run folder stores as `plan.yaml`, so a run can be reproduced from its folder alone. Importing this
module is cheap (pydantic and yaml only): the agent and the UI build plans freely.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tools.data.spec import DataSpec
from tools.evaluate.checks import SuccessCriteria
from tools.paths import atomic_write_text
from tools.vocab import (
    DATA_FOR_OBJECTIVE,
    DATA_HINT,
    LORA_METHODS,
    VIRTUAL_TOKEN_METHODS,
    DatasetType,
    Method,
    Objective,
)

Precision = Literal["auto", "fp32", "bf16", "fp16"]
Distributed = Literal["auto", "ddp", "fsdp", "deepspeed"]
__all__ = ["DATA_FOR_OBJECTIVE", "LORA_METHODS", "EvalSettings", "Plan", "PlanError", "TrainingPlan", "build", "build_plan",
           "check_runnable", "check_training", "data_problem", "read_report"]


class PlanError(ValueError):
    """A plan that cannot run, with a message a user can act on."""


class TrainingPlan(BaseModel):
    """Everything a training run needs: model, data, technique, hyperparameters and where it goes."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    base_model: str = Field("default", description="'default', a local model folder or a Hugging Face hub id.")
    data_dir: str = Field(..., description="A prepared dataset folder (train.jsonl, validation.jsonl, report.json).")
    objective: Objective = "sft"
    method: Method = "lora"
    name: str | None = Field(None, description="A short label for the run (shown in the runs list).")

    learning_rate: float | None = Field(None, gt=0, le=1, description="None: the recommended rate for the method.")
    epochs: float = Field(1.0, gt=0, le=100)
    max_steps: int | None = Field(None, ge=1, description="If set, stop after this many optimizer steps (overrides epochs).")
    batch_size: int = Field(4, ge=1, le=4096, description="Per-device batch size.")
    gradient_accumulation: int = Field(1, ge=1, le=1024)
    max_length: int = Field(1024, ge=16, le=262144, description="Tokens per example (longer ones are truncated).")
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    max_grad_norm: float = Field(1.0, gt=0)

    lora_r: int = Field(16, ge=1, le=1024)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: str | list[str] = Field("all-linear", description="'all-linear' or module names like ['q_proj', 'v_proj'].")
    num_virtual_tokens: int = Field(20, ge=1, le=512, description="Prompt/prefix tuning: learned virtual tokens.")
    beta: float = Field(0.1, gt=0, description="DPO/ORPO/KTO: strength of the preference term.")

    eval_split: Literal["validation", "none"] = "validation"
    eval_steps: int | None = Field(None, ge=1, description="Evaluate every N steps; None: once per epoch.")
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(50, ge=1, description="Checkpoint every N steps (resume starts from the last one).")
    save_total_limit: int = Field(2, ge=1)
    seed: int = 42
    precision: Precision = "auto"
    packing: bool | None = Field(None, description="None: on for continued pretraining, off otherwise.")
    assistant_only_loss: bool | None = Field(None, description="None: on for chat data (loss on assistant turns only).")
    gradient_checkpointing: bool = False
    num_processes: int | None = Field(None, ge=1, description="Processes to launch; None: one per GPU (1 on CPU).")
    distributed: Distributed = "auto"
    output_dir: str | None = Field(None, description="Run folder; None: <data dir>/runs/<run id>.")

    @field_validator("data_dir", "output_dir", "base_model", mode="before")
    @classmethod
    def _path_to_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, os.PathLike) else value

    @model_validator(mode="after")
    def _check(self) -> TrainingPlan:
        # Coherence only: whether it can run on *this* machine (files, CUDA) is `check_runnable`'s job, so a
        # plan drafted for the user's GPU box can be built, shown and approved on a laptop.
        for check in (_check_method, _check_lengths):
            check(self)
        return self

    # The values the trainer gets once the "None = recommended" fields are resolved.
    @property
    def dataset_type(self) -> str | None:
        report = read_report(self.data_dir)
        return report.get("dataset_type") if report else None

    @property
    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return recommended_learning_rate(self.objective, self.method, self.lora_r, self.lora_alpha,
                                         model_params(self.base_model))  # fmt: skip

    @property
    def resolved_packing(self) -> bool:
        return self.packing if self.packing is not None else self.objective == "continued_pretraining"

    @property
    def resolved_assistant_only_loss(self) -> bool:
        if self.assistant_only_loss is not None:
            return self.assistant_only_loss
        return self.objective == "sft" and self.dataset_type == "conversational"

    @property
    def uses_peft(self) -> bool:
        return self.method != "full"

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The plan as YAML (every field, defaults included); also written to `path` when given."""
        return _dump_yaml(self, path)

    @classmethod
    def from_yaml(cls, source: str | Path) -> TrainingPlan:
        """Load a plan from a YAML file path (or YAML text), raising `PlanError` with a readable message."""
        where, data = _load_yaml(source)
        return build_plan(data, where=where)


def _dump_yaml(model: BaseModel, path: str | Path | None) -> str:
    text = yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    if path is not None:
        atomic_write_text(path, text)
    return text


def _load_yaml(source: str | Path) -> tuple[str, dict]:
    """(where, mapping) from a YAML file path or YAML text, raising `PlanError` with a readable message."""
    # A string with a newline is YAML text (e.g. from the agent); anything else is a file path.
    path = None if isinstance(source, str) and "\n" in source else Path(source).expanduser()
    if path is not None and not path.is_file():
        raise PlanError(f"{path}: plan file not found.")
    where = str(path) if path else "plan"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8") if path else str(source))
    except yaml.YAMLError as exc:
        raise PlanError(f"{where}: not valid YAML ({str(exc).splitlines()[0]}).") from None
    if not isinstance(data, dict):
        raise PlanError(f"{where}: expected a mapping of plan fields (base_model, data_dir, method, ...).")
    return where, data


def build_plan(fields: dict[str, Any], where: str = "plan") -> TrainingPlan:
    """`TrainingPlan(**fields)` with pydantic's errors turned into one plain message naming each field."""
    try:
        return TrainingPlan(**fields)
    except ValidationError as exc:
        raise PlanError(f"{where}: {explain(exc)}") from None


def explain(exc: ValidationError) -> str:
    """One line per problem: the field and what is wrong, without pydantic's URLs and type names."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown field; the plan's fields are: {', '.join(TrainingPlan.model_fields)}"
        lines.append(f"{field}: {msg}" if field else msg)
    return "; ".join(lines)


def recommended_learning_rate(objective: str, method: str, lora_r: int = 16, lora_alpha: int | None = None,
                              params: float | None = None) -> float:  # fmt: skip
    """[checks] A rate from the method, the adapter's rank and scale, and the model's size together.

    Published adapter rates (1e-4..2e-4) are tuned on 7B models; small models take larger steps before
    they diverge (the 135M default learned a new identity at 1e-3 and not at 2e-4 with the same data), so
    the rate grows as (7B / params)^0.4, capped at 5x. A LoRA update is scaled by alpha/r, so the rate is
    divided by that scale (relative to the usual alpha = 2r), and a lower rank, with fewer directions to
    move in, gets a slightly larger step ((16/r)^0.25). Never rank alone: the model size dominates.
    """
    size = _size_factor(params)
    if objective in ("dpo", "kto"):
        return 5e-6 if method == "full" else 5e-5
    if objective == "orpo":
        return 8e-6 if method == "full" else 8e-5
    if method == "full":
        return _round2(2e-5 * size)
    if method in VIRTUAL_TOKEN_METHODS:
        return 3e-2  # virtual tokens are few and start random; PEFT's examples use 3e-2
    scale = (lora_alpha or 2 * lora_r) / lora_r
    rank = min(1.4, max(0.7, (16 / lora_r) ** 0.25))
    return _round2(2e-4 * size * (2 / scale) * rank)


def _size_factor(params: float | None) -> float:
    return 1.0 if not params else min(5.0, max(1.0, (7e9 / params) ** 0.4))


def _round2(value: float) -> float:
    return float(f"{value:.2g}")


_DEFAULT_PARAMS = 1.35e8  # "default" is SmolLM2-135M-Instruct (tools/models)


def model_params(base_model: str) -> float | None:
    """[checks] Roughly how many parameters `base_model` has, cheaply: from its config.json when it is a local
    folder, from a size in its name ("Qwen2.5-1.5B", "SmolLM2-360M"), else None."""
    if base_model == "default":
        return _DEFAULT_PARAMS
    config = Path(base_model).expanduser() / "config.json"
    if config.is_file():
        try:
            cfg = json.loads(config.read_text(encoding="utf-8"))
            h, layers, vocab = cfg["hidden_size"], cfg["num_hidden_layers"], cfg.get("vocab_size", 32000)
            inter = cfg.get("intermediate_size", 4 * h)
            return float(layers * (4 * h * h + 3 * h * inter) + vocab * h)
        except (OSError, ValueError, KeyError, TypeError):
            return None
    match = re.search(r"(\d{1,4}(?:\.\d{1,2})?)\s?([MmBb])(?![a-zA-Z])", base_model)
    if match:
        return float(match.group(1)) * (1e6 if match.group(2) in "Mm" else 1e9)
    return None


def read_report(data_dir: str | Path) -> dict | None:
    """The prepared folder's `report.json`, or None when the folder or report isn't there (yet)."""
    report = Path(data_dir).expanduser() / "report.json"
    if not report.is_file():
        return None
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _check_method(plan: TrainingPlan) -> None:
    if plan.method in VIRTUAL_TOKEN_METHODS and plan.objective not in ("sft", "continued_pretraining"):
        raise ValueError(
            f"method {plan.method} works with objective sft or continued_pretraining; "
            f"for {plan.objective} use lora, dora or full."
        )
    if plan.method == "prefix_tuning" and plan.gradient_checkpointing:
        raise ValueError("prefix_tuning cannot use gradient_checkpointing (PEFT feeds the prefix as a KV cache); turn it off.")
    if plan.objective == "continued_pretraining" and plan.assistant_only_loss:
        raise ValueError("continued_pretraining trains on every token of raw text; assistant_only_loss does not apply.")
    if plan.distributed == "fsdp" and plan.method in VIRTUAL_TOKEN_METHODS:
        raise ValueError(f"distributed fsdp is for full or LoRA training; {plan.method} is small enough for ddp.")


def _check_lengths(plan: TrainingPlan) -> None:
    if plan.eval_steps is not None and plan.eval_split == "none":
        raise ValueError("eval_steps is set but eval_split is none; set eval_split to validation or drop eval_steps.")
    if plan.method in LORA_METHODS and isinstance(plan.lora_targets, list) and not plan.lora_targets:
        raise ValueError("lora_targets is empty; use 'all-linear' or name modules like ['q_proj', 'v_proj'].")


class EvalSettings(BaseModel):
    """How much the job's evaluation after training does: fewer examples and shorter answers are quicker."""

    model_config = ConfigDict(extra="forbid")

    max_examples: int = Field(64, ge=1, le=100_000, description="Validation (and test) rows answered and scored.")
    max_new_tokens: int = Field(128, ge=1, le=8192, description="The longest answer generated per prompt.")
    probe: bool = Field(True, description="Also ask the general-skills probe (does the tuned model still cope elsewhere?).")


class Plan(BaseModel):
    """The one object the user approves: which data, how to prepare it, how to train, and what to run after.

    Built and validated once (when the assistant proposes it or the user edits it). The plan card renders
    it, the approval stores it, the job runs it (prepare when `source` is set, then train, then evaluate),
    and the run folder's `plan.yaml` is its dump, which `finetune-assistant train PLAN.yaml` loads back.
    Checks that depend on this machine (is the file there, does it fit) run at approval and at launch
    (`check_runnable`), never inside the validator, so a plan drafted for another machine can still be
    built and shown.
    """

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    source: str | None = Field(None, description="The user's data file or folder; None when data_dir is already prepared.")
    source_name: str | None = Field(None, description="The name the user knows the data by (the attached file's own name).")
    dataset_type: DatasetType | None = Field(
        None, description="What the data trains as, when known before preparing it (from the interview or a peek).")
    data: DataSpec = Field(default_factory=DataSpec, description="How the source becomes training.data_dir.")
    training: TrainingPlan
    evaluate: bool = Field(True, description="Evaluate on the held-out split as the job's last step.")
    eval_settings: EvalSettings = Field(default_factory=EvalSettings, description="How much that evaluation does.")
    # [checks] What "done" means: approved with the plan, scored on the locked test split after each run.
    checks: SuccessCriteria = Field(default_factory=SuccessCriteria, description="Success checks and their target pass rate.")
    # [migrate] Moving off a hosted fine-tune: the evaluation also scores the tuned model against these answers.
    golden: str | None = Field(None, description="Folder of the old model's recorded answers (`migrate record`).")

    @field_validator("source", mode="before")
    @classmethod
    def _source_to_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, os.PathLike) else value

    @model_validator(mode="after")
    def _check(self) -> Plan:
        if self.dataset_type is not None:
            problem = data_problem(self.training.objective, self.dataset_type, "the data you described")
            if problem:
                raise ValueError(problem)
        if self.training.assistant_only_loss and self.dataset_type not in (None, "conversational"):
            raise ValueError(f"assistant_only_loss needs conversational (chat) data, but the data is {self.dataset_type}.")
        return self

    @property
    def data_name(self) -> str | None:
        """The data as the user knows it: the attached file's own name, else the source path."""
        return self.source_name or (Path(self.source).name if self.source else None)

    def revised(self, training: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                **fields: Any) -> Plan:
        """A new plan with these changes, validated once as a whole (raises `PlanError` naming the field)."""
        dumped = self.model_dump(mode="json")
        dumped["training"].update(training or {})
        dumped["data"].update(data or {})
        dumped.update(fields)
        return build(dumped)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The plan as YAML (every field, defaults included); also written to `path` when given."""
        return _dump_yaml(self, path)

    @classmethod
    def from_yaml(cls, source: str | Path) -> Plan:
        """Load a plan file (or YAML text). A bare `TrainingPlan` YAML (older run folders) loads as its training part."""
        where, data = _load_yaml(source)
        if "training" not in data:
            return cls(training=build_plan(data, where=where), evaluate=False)
        return build(data, where=where)


def build(fields: dict[str, Any], where: str = "plan") -> Plan:
    """`Plan(**fields)` with pydantic's errors turned into one plain message naming each field."""
    try:
        return Plan.model_validate(fields)
    except ValidationError as exc:
        raise PlanError(f"{where}: {explain(exc)}") from None


def data_problem(objective: str, kind: str | None, where: str) -> str | None:
    """Why `objective` can't learn from `kind` data (naming both and what would fit), or None when it can."""
    allowed = DATA_FOR_OBJECTIVE[objective]
    if kind is None or kind in allowed:
        return None
    need = " or ".join(allowed)
    hint = f" ({DATA_HINT[allowed[0]]})" if allowed[0] in DATA_HINT else ""
    fits = [o for o, kinds in DATA_FOR_OBJECTIVE.items() if kind in kinds]
    other = f" This data suits objective {' or '.join(fits)}." if fits else ""
    return f"objective {objective} needs {need} data{hint}, but {where} holds {kind} data.{other}"


# ---------------------------------------------------------------- can it run here?


def check_runnable(plan: Plan, hardware: Any = None) -> list[str]:
    """What stops `plan` from running on `hardware` (None: this machine), one sentence each; [] when it can.

    Called at approval (the plan card lists the problems, approval refuses) and by the launcher. The data
    is checked as it is now: the source file when the job prepares it, else the prepared folder.
    """
    problems = []
    if plan.source is not None:
        source = Path(plan.source).expanduser()
        if not source.exists():
            # By the user's name for it: an upload's stored path under the data dir means nothing to them.
            problems.append(f"data file {plan.data_name} is not there (any more); attach it again or give its path.")
    if plan.golden is not None and not (Path(plan.golden).expanduser() / "golden.jsonl").is_file():
        problems.append(f"the old model's answers are not in {plan.golden} (no golden.jsonl); record them with "
                        "`finetune-assistant migrate record` or give the folder it wrote.")
    return problems + check_training(plan.training, hardware, prepared=plan.source is None)


def check_training(training: TrainingPlan, hardware: Any = None, prepared: bool = True) -> list[str]:
    """This-machine checks of the training part: the prepared folder (when `prepared`), CUDA, bitsandbytes, fp16.

    `hardware` is a `tools.train.hardware.Hardware` (a machine the user described) or None for this one.
    """
    problems = _folder_problems(training) if prepared else []
    cuda = cuda_available() if hardware is None else hardware.kind == "cuda"
    if training.method == "qlora":
        missing = [] if cuda else ["a CUDA GPU"]
        if hardware is None and importlib.util.find_spec("bitsandbytes") is None:
            missing.append("the bitsandbytes package (pip install bitsandbytes)")
        if missing:
            problems.append(f"method qlora (4-bit base weights) needs {' and '.join(missing)}, which this machine "
                            "lacks. Use method lora instead: same adapter, full-precision base.")
    if training.precision == "fp16" and not cuda:
        problems.append("precision fp16 needs a CUDA GPU; on a CPU use fp32 or bf16 (or auto).")
    if training.precision == "bf16" and hardware is not None and hardware.kind == "cuda" and not hardware.bf16:
        problems.append(f"precision bf16 is not supported by {hardware.name}; use fp16 or auto.")
    return problems


def _folder_problems(training: TrainingPlan) -> list[str]:
    folder = Path(training.data_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        return [f"data_dir {folder} is a file; point it to a prepared dataset folder (run the data step first)."]
    report = read_report(folder)
    if report is None:
        return [f"data_dir {folder} holds no prepared dataset (report.json); prepare the data first."]
    kind = report.get("dataset_type")
    problem = data_problem(training.objective, kind, str(folder))
    if problem:
        return [problem]
    if training.assistant_only_loss and kind != "conversational":
        return [f"assistant_only_loss needs conversational (chat) data, but {folder} holds {kind} data."]
    return []


def cuda_available() -> bool:
    """Whether a CUDA GPU is usable, without importing torch unless the caller already has."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    return Path("/proc/driver/nvidia/gpus").is_dir() or shutil.which("nvidia-smi") is not None
