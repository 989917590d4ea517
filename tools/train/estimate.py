"""Before training: will this plan fit in memory on this machine, and how long will it take?

    from tools.train.estimate import estimate
    est = estimate(plan)                                   # this machine
    est = estimate(plan, "1x RTX 4090 24 GB")              # a machine the user describes
    est = estimate(plan, hw, DataSample(rows=90, mean_tokens=60, longest_tokens=140))  # before preparing
    print(est.verdict, est.peak_memory_gb, est.suggestion)

Peak memory per device = weights + gradients + optimizer states + activations + logits + runtime overhead.
The byte counts follow published figures (cited where used); the CPU constants were then checked against
measured peak RSS by `benchmarks/bench_estimate.py`. Importing this module is cheap (no torch).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from tools import paths
from tools.models.resolve import DEFAULT_NAME, is_default
from tools.train import throughput
from tools.train.hardware import Hardware
from tools.train.plan import TrainingPlan, read_report
from tools.vocab import LORA_METHODS, PREFERENCE_OBJECTIVES, format_duration

GB = 2**30
FITS, TIGHT = 0.80, 0.95  # share of device memory: under 80% fits, up to 95% is tight, above won't fit


class Estimate(BaseModel):
    """Predicted peak memory per device, duration and a verdict, with the change that would make it fit."""

    model_config = ConfigDict(extra="forbid")

    peak_memory_gb: float
    available_gb: float
    breakdown_gb: dict[str, float]
    verdict: Literal["fits", "tight", "won't fit"]
    suggestion: str | None = None
    suggested_changes: dict[str, object] | None = None
    total_steps: int
    tokens: int
    duration_s: float
    hardware: str
    notes: list[str] = []

    @property
    def duration_min(self) -> float:
        return self.duration_s / 60

    def summary(self) -> str:
        text = (f"{self.verdict}: ~{self.peak_memory_gb:.1f} GB peak of {self.available_gb:.1f} GB on "
                f"{self.hardware}; {self.total_steps} steps, about {format_duration(self.duration_s)}.")
        return f"{text} {self.suggestion}" if self.suggestion else text


@dataclass(frozen=True)
class ModelShape:
    """The few numbers of a decoder-only transformer that drive memory and compute."""

    vocab: int
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    tied: bool

    @property
    def linears(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer in one block, by the module names PEFT targets."""
        q, kv, h, i = self.heads * self.head_dim, self.kv_heads * self.head_dim, self.hidden, self.intermediate
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    @property
    def params(self) -> int:
        block = sum(a * b for a, b in self.linears.values()) + 2 * self.hidden
        embed = self.vocab * self.hidden * (1 if self.tied else 2)
        return self.layers * block + embed + self.hidden

    @classmethod
    def from_config(cls, cfg: dict) -> ModelShape:
        cfg = cfg.get("text_config", cfg)
        h = cfg["hidden_size"]
        heads = cfg.get("num_attention_heads", max(1, h // 64))
        return cls(vocab=cfg["vocab_size"], hidden=h, layers=cfg["num_hidden_layers"],
                   intermediate=cfg.get("intermediate_size") or 4 * h, heads=heads,
                   kv_heads=cfg.get("num_key_value_heads") or heads, head_dim=cfg.get("head_dim") or h // heads,
                   tied=bool(cfg.get("tie_word_embeddings", False)))


# SmolLM2-135M-Instruct, for plans on "default" before the model has been converted.
SMOLLM2_135M = ModelShape(vocab=49152, hidden=576, layers=30, intermediate=1536, heads=9, kv_heads=3,
                          head_dim=64, tied=True)


@dataclass(frozen=True)
class DataSample:
    """The data as read before it is prepared (the chat's first plan): rows that will train, rows held out
    for validation, and token lengths measured on the file's first rows with the model's chat template."""

    rows: int
    mean_tokens: int
    longest_tokens: int
    validation_rows: int = 0


def estimate(plan: TrainingPlan, hardware: Hardware | str | None = None, sample: DataSample | None = None) -> Estimate:
    """Predict peak memory and duration of `plan` on `hardware` (default: this machine) and judge the fit.

    The data's size and lengths come from the prepared folder's report; before there is one, from `sample`
    (else 1000 rows that fill max_length are assumed). The time comes from this machine's measured speed
    (`throughput`) when the plan trains here and a measurement exists, else from a FLOPs guess."""
    hw = Hardware.parse(hardware) if isinstance(hardware, str) else hardware or Hardware.detect()
    shape, notes = model_shape(plan.base_model)
    data = _data_stats(plan, notes, sample)
    breakdown = memory_breakdown(plan, shape, hw, data.seq_len)
    peak = sum(breakdown.values())
    steps, tokens = _steps_and_tokens(plan, hw, data)
    duration = tokens * flops_per_token(plan, shape) / (hw.tflops * 1e12 * hw.device_count * _utilisation(hw))
    duration += _startup_s(hw)
    here = hardware is None or runs_here(hw)
    measured = _measured_duration(plan, tokens, steps, data) if here else None  # [checks]
    if measured is not None:
        duration = measured
        notes.append("time from this machine's measured training speed (tools/train/throughput.py)")
    verdict = _verdict(peak, hw.memory_gb)
    suggestion, changes = (None, None) if verdict == "fits" else suggest(plan, shape, hw, data.seq_len)
    return Estimate(
        peak_memory_gb=round(peak, 2), available_gb=hw.memory_gb, breakdown_gb={k: round(v, 3) for k, v in breakdown.items()},
        verdict=verdict, suggestion=suggestion, suggested_changes=changes, total_steps=steps, tokens=tokens,
        duration_s=round(duration, 1), hardware=hw.describe(), notes=notes,
    )


def runs_here(hw: Hardware) -> bool:
    """Whether `hw` is this machine, so its measured training speed applies: the same kind of device, and the
    same GPUs (a plan for the user's A100 is not timed by this laptop's speed)."""
    here = _this_machine()
    if hw.kind != here.kind:
        return False
    if hw.kind == "cpu":
        return hw.cpu_cores == here.cpu_cores
    # "H200" as the user says it, "NVIDIA H200" as the driver does: the same card if either name holds the other.
    names = hw.name.lower().strip(), here.name.lower().strip()
    return hw.device_count == here.device_count and (names[0] in names[1] or names[1] in names[0])


@functools.lru_cache(maxsize=1)
def _this_machine() -> Hardware:
    return Hardware.detect()  # only its kind and GPUs are compared, which do not change while the app runs


def _measured_duration(plan: TrainingPlan, tokens: int, steps: int, data: _DataStats) -> float | None:
    """[checks] Startup + trained tokens x measured seconds per token + the evaluation passes."""
    val_rows = data.validation_rows if plan.eval_split != "none" else 0
    per_epoch = max(1, math.ceil(data.train_rows / (plan.batch_size * plan.gradient_accumulation)))
    evals = math.ceil(steps / plan.eval_steps) if plan.eval_steps else max(1, math.ceil(steps / per_epoch))
    return throughput.duration_s(plan, tokens, val_rows * data.mean_tokens, evals if val_rows else 0)


def _verdict(peak_gb: float, available_gb: float) -> str:
    if peak_gb <= FITS * available_gb:
        return "fits"
    return "tight" if peak_gb <= TIGHT * available_gb else "won't fit"


def compute_dtype(plan: TrainingPlan, hw: Hardware) -> str:
    """The precision the runner will use: bf16 where the GPU has it, fp16 on older GPUs, fp32 on a CPU."""
    if plan.precision != "auto":
        return plan.precision
    if hw.kind == "cpu":
        return "fp32"
    return "bf16" if hw.bf16 else "fp16"


def memory_breakdown(plan: TrainingPlan, shape: ModelShape, hw: Hardware, seq_len: int) -> dict[str, float]:
    """Bytes per device, in GB, by what holds them."""
    dtype = compute_dtype(plan, hw)
    act_bytes = 4 if dtype == "fp32" else 2
    params, trainable = shape.params, trainable_params(plan, shape)
    weights = params * _weight_bytes(plan, dtype)
    if plan.method == "qlora":
        # NF4 keeps embeddings and lm_head in 16-bit; only the blocks' linears are 4-bit.
        embed = shape.vocab * shape.hidden * (1 if shape.tied else 2)
        weights = (params - embed) * _weight_bytes(plan, dtype) + embed * 2
    # AdamW keeps two fp32 moments (8 bytes/param) and each trainable param has an fp32 gradient (4); full
    # fine-tuning with mixed precision keeps fp32 master weights, hence the 16 bytes/param of the ZeRO paper
    # (Rajbhandari et al. 2020, sec. 3.1: 2+2+12 bytes with fp16 copies; PyTorch AMP keeps fp32 weights and grads).
    grads = trainable * 4
    optimizer = trainable * 8
    if plan.objective in ("dpo", "kto") and plan.method == "full":
        weights += params * act_bytes  # a frozen reference copy; with adapters TRL disables them instead
    batch = plan.batch_size * _sequences_per_example(plan)
    acts = activation_bytes(plan, shape, act_bytes, batch, seq_len, fused_attention=hw.kind == "cuda")
    # The loss upcasts logits to fp32; log-softmax and its gradient are the same size, and TRL's SFT metrics
    # (entropy, token accuracy) take more passes over them: 5.3 vocab-wide fp32 tensors per token measured
    # with TRL 1.16 (benchmarks/bench_estimate.py, where the 2-layer model makes them nearly all of the peak).
    logits = batch * seq_len * shape.vocab * 4 * (5.3 if plan.objective in ("sft", "continued_pretraining") else 4)
    # Activations and gradients peak at opposite ends of the backward pass: activations are freed as the
    # gradients fill in. At the activation peak only the first gradients exist (lm_head/embeddings come first).
    embed_grad = min(grads, shape.vocab * shape.hidden * 4) if plan.method == "full" else grads
    if acts + logits + embed_grad >= grads:
        grads = embed_grad
    else:  # the end of backward is the peak: every gradient, the activations gone
        acts = logits = 0.0
    overhead = _runtime_overhead_gb(hw) * GB
    return {"weights": weights / GB, "gradients": grads / GB, "optimizer": optimizer / GB,
            "activations": acts / GB, "logits": logits / GB, "runtime": overhead / GB}


def _weight_bytes(plan: TrainingPlan, dtype: str) -> float:
    if plan.method == "qlora":
        # QLoRA (Dettmers et al. 2023, sec. 3): NF4 with double quantization costs 4.127 bits per parameter.
        return 4.127 / 8
    if plan.method == "full" or dtype == "fp32":
        return 4  # full FT keeps fp32 master weights under autocast
    return 2  # a frozen base in bf16/fp16 under adapters


def _sequences_per_example(plan: TrainingPlan) -> int:
    # DPO/ORPO forward chosen and rejected together; KTO adds a mismatched "KL" batch to each real one.
    return 2 if plan.objective in PREFERENCE_OBJECTIVES else 1


def trainable_params(plan: TrainingPlan, shape: ModelShape) -> int:
    if plan.method == "full":
        return shape.params
    if plan.method == "prompt_tuning":
        return plan.num_virtual_tokens * shape.hidden
    if plan.method == "prefix_tuning":
        return plan.num_virtual_tokens * shape.layers * 2 * shape.kv_heads * shape.head_dim
    per_layer = sum(plan.lora_r * (i + o) + (o if plan.method == "dora" else 0)
                    for name, (i, o) in _targets(plan, shape).items())
    return per_layer * shape.layers


def _targets(plan: TrainingPlan, shape: ModelShape) -> dict[str, tuple[int, int]]:
    if plan.lora_targets == "all-linear":
        return shape.linears
    names = [plan.lora_targets] if isinstance(plan.lora_targets, str) else plan.lora_targets
    return {k: v for k, v in shape.linears.items() if any(n in k for n in names)} or shape.linears


def activation_bytes(plan: TrainingPlan, shape: ModelShape, act_bytes: int, batch: int, seq_len: int,
                     fused_attention: bool = True) -> float:
    """Saved activations for the backward pass.

    Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", eq. 1) count
    s·b·h·(34 + 5·a·s/h) bytes per layer for 16-bit GPT blocks; with fused (SDPA/flash) attention the a·s²
    term is not stored, and re-deriving their count for a gated (SwiGLU) MLP of width I and grouped KV gives
    about (10h + 4I + 4kv) elements per token per layer. Gradient checkpointing keeps only each layer's input
    plus one layer being recomputed. Without a fused kernel (PyTorch's CPU path with a padding mask) the
    softmax of the attention scores is stored too: Korthikanti's a·s term, a·s elements per token per layer.
    """
    h, i, kv = shape.hidden, shape.intermediate, shape.kv_heads * shape.head_dim
    per_token_layer = 10 * h + 4 * i + 4 * kv
    if not fused_attention:
        per_token_layer += shape.heads * seq_len
    if plan.method in LORA_METHODS and plan.lora_dropout > 0:
        # PEFT applies dropout to a copy of each targeted layer's input before lora_A, and keeps its mask
        # (one byte per element, a quarter of an fp32 element) for the backward pass.
        per_token_layer += 1.25 * sum(inp for inp, _ in _targets(plan, shape).values())
    if plan.method == "dora":
        per_token_layer += sum(out for _, out in _targets(plan, shape).values())
    tokens = batch * seq_len
    if plan.gradient_checkpointing and not fused_attention:
        # Measured on PyTorch's CPU attention: checkpointing keeps each layer's input plus ~2.5 score-sized
        # tensors per layer (benchmarks/bench_estimate.py; SmolLM2-135M at s=256 and s=512 gave 1.9-3.3).
        total = tokens * act_bytes * (shape.layers * (h + 2.5 * shape.heads * seq_len) + per_token_layer)
    elif plan.gradient_checkpointing:
        total = tokens * act_bytes * (shape.layers * h + per_token_layer)
    else:
        total = tokens * act_bytes * shape.layers * per_token_layer
    if plan.method == "dora" and not fused_attention:
        # CPU (measured, benchmarks/bench_estimate.py): BA and W + BA of every targeted layer stay resident
        # through the backward pass, ~3 weight-sized tensors per layer.
        total += 3 * act_bytes * shape.layers * sum(a * b for a, b in _targets(plan, shape).values())
    elif plan.method == "dora":
        # CUDA (not measured here): PEFT detaches the weight norm as the DoRA paper (sec. 4.3) prescribes, so
        # W + BA is a transient of one layer at a time: about two copies of the largest targeted weight.
        total += 2 * act_bytes * max(a * b for a, b in _targets(plan, shape).values())
    return float(total + tokens * h * act_bytes * 2)  # embeddings output and final norm


def _runtime_overhead_gb(hw: Hardware) -> float:
    # CPU: the Python process with torch, transformers, TRL and datasets loaded (0.66 GB RSS after the
    # imports; ~0.9 GB while training with the tokenizer, Arrow tables and allocator slack, measured).
    # GPU: the CUDA context and kernels (~0.5-1 GB, PyTorch's "CUDA semantics" notes) plus allocator slack.
    return 0.9 if hw.kind == "cpu" else 1.0


def flops_per_token(plan: TrainingPlan, shape: ModelShape) -> float:
    """Training FLOPs per token: 6N for full training (Kaplan et al. 2020, sec. 2.1), 4N with a frozen base
    (no weight gradients), +2N to recompute the forward under gradient checkpointing; preference
    objectives run two sequences per example and DPO/KTO a reference forward (2N) on each."""
    n = shape.params
    per = 6 * n if plan.method == "full" else 4 * n
    if plan.gradient_checkpointing:
        per += 2 * n
    if plan.objective in ("dpo", "kto"):
        per += 2 * n
    return per * _sequences_per_example(plan)


def _utilisation(hw: Hardware) -> float:
    # Model FLOPs utilisation of single-node fine-tuning is typically 30-40% on modern GPUs (PaLM paper,
    # Chowdhery et al. 2022, table 3 reports 46% at scale; small-batch fine-tuning runs lower).
    return 1.0 if hw.kind == "cpu" else 0.35


def _startup_s(hw: Hardware) -> float:
    return 20.0 if hw.kind == "cpu" else 40.0


@dataclass
class _DataStats:
    train_rows: int
    seq_len: int  # padded length of the longest batch: the memory peak
    mean_tokens: int  # average tokens per example: the duration
    validation_rows: int = 0  # the evaluation passes' share of the duration


def _data_stats(plan: TrainingPlan, notes: list[str], sample: DataSample | None = None) -> _DataStats:
    report = read_report(plan.data_dir)
    if report is None and sample is not None:
        stats: tuple[int, int] | None = (sample.longest_tokens, sample.mean_tokens)
        rows, val_rows = sample.rows, sample.validation_rows
    else:
        report = report or {}
        rows, val_rows = int(report.get("train_rows") or report.get("rows") or 0), int(report.get("validation_rows") or 0)
        if not rows:
            rows = 1000
            notes.append("no prepared data report yet: assumed 1000 training rows")
        stats = _token_stats(report)
        if stats is None and not plan.resolved_packing:
            notes.append("no token statistics in the data report: assumed examples fill max_length")
    if plan.resolved_packing or stats is None:
        return _DataStats(rows, plan.max_length, plan.max_length, val_rows)
    longest, mean = stats
    return _DataStats(rows, min(plan.max_length, longest), min(plan.max_length, mean), val_rows)


def _token_stats(report: dict) -> tuple[int, int] | None:
    """(longest, mean) tokens per row from the data report, whatever name the data step gave them."""
    for key in ("tokens", "token_stats", "token_lengths", "length_tokens"):
        stats = report.get(key)
        if isinstance(stats, dict):
            longest = stats.get("max") or stats.get("p99") or stats.get("p95")
            rows = report.get("usable_rows") or report.get("valid_rows") or report.get("rows")
            mean = stats.get("mean") or (stats["total"] / rows if stats.get("total") and rows else None)
            mean = mean or stats.get("p50") or stats.get("median")
            if longest and mean:
                return int(longest), int(mean)
    return None


def _steps_and_tokens(plan: TrainingPlan, hw: Hardware, data: _DataStats) -> tuple[int, int]:
    devices = plan.num_processes or hw.device_count if hw.kind == "cuda" else plan.num_processes or 1
    per_step = plan.batch_size * plan.gradient_accumulation * devices
    rows = data.train_rows
    if plan.resolved_packing and data.mean_tokens:
        rows = max(1, rows * data.mean_tokens // plan.max_length)
    steps = plan.max_steps or max(1, math.ceil(math.ceil(rows / per_step) * plan.epochs))
    return steps, steps * per_step * data.mean_tokens


def suggest(plan: TrainingPlan, shape: ModelShape, hw: Hardware, seq_len: int) -> tuple[str, dict | None]:
    """The first single change (in order of least harm to the result) that brings the plan to 'fits'."""
    eff = plan.batch_size * plan.gradient_accumulation
    candidates: list[tuple[str, dict]] = []
    if not plan.gradient_checkpointing and plan.method != "prefix_tuning":
        candidates.append(("turn on gradient checkpointing (about 30% slower)", {"gradient_checkpointing": True}))
    for bs in (plan.batch_size // 2, plan.batch_size // 4, 1):
        if 1 <= bs < plan.batch_size:
            changes = {"batch_size": bs, "gradient_accumulation": max(1, eff // bs)}
            candidates.append((f"lower batch_size to {bs} with gradient_accumulation {max(1, eff // bs)} "
                               "(same effective batch)", changes))
    if plan.method == "full":
        candidates.append(("train a LoRA adapter instead of all weights (method lora)", {"method": "lora"}))
    if plan.method in ("lora", "full", "dora") and hw.kind == "cuda":
        candidates.append(("use QLoRA: a 4-bit base with a LoRA adapter (method qlora)", {"method": "qlora"}))
    for length in (plan.max_length // 2, plan.max_length // 4):
        if length >= 128:
            candidates.append((f"shorten max_length to {length} (longer examples get truncated)", {"max_length": length}))
    for text, changes in candidates:
        if _fits_with(plan, shape, hw, seq_len, changes):
            return f"To fit: {text}.", changes
    combo = {"gradient_checkpointing": True, "batch_size": 1, "gradient_accumulation": eff}
    if plan.method == "full":
        combo["method"] = "qlora" if hw.kind == "cuda" else "lora"
    if _fits_with(plan, shape, hw, seq_len, combo):
        return "To fit: combine " + ", ".join(f"{k}={v}" for k, v in combo.items()) + ".", combo
    return ("Even the smallest setup does not fit this machine: pick a smaller base model "
            "or a machine with more memory."), None


def _fits_with(plan: TrainingPlan, shape: ModelShape, hw: Hardware, seq_len: int, changes: dict) -> bool:
    # Validated like any plan (coherence only, so a QLoRA candidate builds on any machine); a change the
    # plan can't take (gradient checkpointing with prefix tuning) is no fix.
    try:
        candidate = TrainingPlan.model_validate({**plan.model_dump(), **changes})
    except ValidationError:
        return False
    length = min(seq_len, candidate.max_length)
    peak = sum(memory_breakdown(candidate, shape, hw, length).values())
    return _verdict(peak, hw.memory_gb) == "fits"


def model_shape(base_model: str) -> tuple[ModelShape, list[str]]:
    """The model's shape from its config.json (local folder, converted default or HF cache), else a guess."""
    notes: list[str] = []
    config = _find_config(base_model)
    if config is not None:
        return ModelShape.from_config(json.loads(config.read_text())), notes
    if is_default(base_model):
        return SMOLLM2_135M, notes
    guess = _shape_from_name(base_model)
    notes.append(f"config of {base_model} not available offline: sized from its name ({guess.params / 1e9:.2f}B params)")
    return guess, notes


def _find_config(base_model: str) -> Path | None:
    if is_default(base_model):
        cfg = paths.models_dir() / DEFAULT_NAME / "config.json"
        return cfg if cfg.is_file() else None
    local = Path(base_model).expanduser()
    if (local / "config.json").is_file():
        return local / "config.json"
    if base_model.count("/") == 1:
        try:
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(base_model, "config.json")
            return Path(hit) if isinstance(hit, str) else None
        except Exception:
            return None
    return None


def _shape_from_name(name: str) -> ModelShape:
    """A Llama-like shape with about the parameter count in the name ('7B', '0.5B', '360M'); 1B if none."""
    match = re.search(r"(\d+(?:\.\d+)?)\s*([bm])\b", name.lower().replace("-", " ").replace("_", " "))
    params = 1e9
    if match:
        params = float(match.group(1)) * (1e9 if match.group(2) == "b" else 1e6)
    # Llama-family proportions: layers grow slowly, hidden ~ sqrt(params / (12 * layers)).
    layers = max(12, min(80, round(8 * math.log2(max(params, 1e8) / 1e8)) + 16))
    hidden = int(math.sqrt(params / (12 * layers)) // 128 * 128) or 512
    return ModelShape(vocab=128256 if params > 3e9 else 151936, hidden=hidden, layers=layers,
                      intermediate=int(hidden * 8 / 3 // 128 * 128), heads=max(1, hidden // 128),
                      kv_heads=max(1, hidden // 1024), head_dim=128, tied=params < 3e9)
