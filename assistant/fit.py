"""Which base model and method fit the user's hardware, judged by the training estimator.

The recommendation tries candidates from the best to the lightest (largest model first, the lightest
method that fits it) and keeps the first the estimator calls "fits". Draft plans are real, validated
`TrainingPlan`s: the validator checks coherence only, so a QLoRA draft for the user's GPU builds on a laptop
(whether it can run *here* is `check_runnable`, at approval).

`recommend` imports this module, never the other way round.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant import catalogue
from assistant.catalogue import CatalogueModel
from assistant.sizes import training_rows
from assistant.state import ConversationState, Method, Objective
from tools.data.head import token_lengths
from tools.data.prepare import validation_count
from tools.data.testsplit import test_count
from tools.train.diagnose import MIN_UPDATES
from tools.train.estimate import DataSample, Estimate, estimate
from tools.train.hardware import Hardware, cpu_hardware, usable_ram_gb
from tools.train.plan import TrainingPlan, read_report
from tools.vocab import (
    LORA_METHODS,
    METHOD_LABELS,
    PREFERENCE_OBJECTIVES,
    VIRTUAL_TOKEN_METHODS,
    format_duration,
)

DRAFT_DATA_DIR = "<prepared dataset>"  # no report there: `estimate_for` sizes the draft from the user's data
SMALL_ROWS = 500  # below this, overfitting is the main risk


class Alternative(BaseModel):
    model_config = ConfigDict(extra="forbid")

    objective: Objective
    method: Method
    why: str


class Pick(BaseModel):
    """The method and model chosen for an objective, with their settings, estimate and reasons."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    method: Method
    model: CatalogueModel
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    estimate: Estimate | None = None
    reasons: list[str] = Field(default_factory=list)
    alternatives: list[Alternative] = Field(default_factory=list)


def hardware_of(state: ConversationState) -> tuple[Hardware, str | None]:
    """The user's machine as the estimator's `Hardware`, and the assumption made when it wasn't said."""
    c = state.constraints
    # A budget and no machine ("we can rent GPUs, budget $20k", "$60k of GPU compute"): plan for what it rents.
    # A GPU the user has ("one GPU", "an A10G") is their machine, whatever the budget.
    unnamed = c.hardware is None or (c.hardware == "gpu" and not c.gpu_name and c.gpu_memory_gb is None
                                     and "constraints.num_gpus" not in state.notes)
    rented = _rented(c.budget) if unnamed else None
    if rented:
        return Hardware.parse(rented), f"no machine named: planned for what a {c.budget} budget rents ({rented})"
    if c.hardware == "gpu":
        count = c.num_gpus or 1
        if c.gpu_memory_gb is None and not c.gpu_name:
            return Hardware.parse(f"{count}x GPU 24 GB"), "GPU memory not given: assumed 24 GB per GPU"
        memory = f" {c.gpu_memory_gb:g} GB" if c.gpu_memory_gb else ""
        try:
            return Hardware.parse(f"{count}x {c.gpu_name or 'GPU'}{memory}"), None
        except ValueError:
            return Hardware.parse(f"{count}x GPU 24 GB"), f"unknown GPU {c.gpu_name}: assumed 24 GB"
    if c.hardware == "cpu":
        if c.ram_gb:
            return cpu_hardware(c.ram_gb, os.cpu_count() or 1), None
        return _this_cpu(), None
    hw = Hardware.detect()
    return hw, f"hardware not given: planned for this machine ({hw.describe()})"


# What a cloud budget rents, at about $2-4 per 80 GB GPU-hour: from $5k a node of eight for days, from $500 one
# 80 GB GPU for a few days. Below $500 nothing is assumed: the plan keeps the GPU the user named, or asks.
_RENTS = ((5_000.0, "8x A100 80 GB"), (500.0, "1x A100 80 GB"))


def budget_dollars(budget: str | None) -> float | None:
    """"$60k" -> 60000.0, "1.5k euros" -> 1500.0, "$200 per month" -> 200.0; None when no amount is in it."""
    found = re.search(r"(?<![\d,.])(\d[\d,]{0,12}(?:\.\d{1,3})?) ?([km])?\b", (budget or "")[:100], re.I)
    if not found:
        return None
    scale = {"k": 1e3, "m": 1e6}.get((found.group(2) or "").lower(), 1.0)
    return float(found.group(1).replace(",", "")) * scale


def _rented(budget: str | None) -> str | None:
    dollars = budget_dollars(budget)
    return next((hw for floor, hw in _RENTS if dollars is not None and dollars >= floor), None)


def _this_cpu() -> Hardware:
    return cpu_hardware(usable_ram_gb(), os.cpu_count() or 1)


def draft_plan(model: CatalogueModel, objective: str, method: str, params: dict[str, Any]) -> TrainingPlan:
    return TrainingPlan(base_model=model.model, data_dir=DRAFT_DATA_DIR, objective=objective, method=method,
                        **params)


def estimate_for(state: ConversationState, plan: TrainingPlan, hw: Hardware) -> Estimate:
    """The estimator's verdict for a draft plan, sized by the user's data before it is prepared.

    Rows are the stated or counted rows (for a raw-text corpus, its size in tokens cut into packed
    max_length blocks) less the validation and test splits; token lengths are measured on the attached
    file's first rows when it can be read, else assumed to fill max_length. A prepared folder's report
    replaces both. The time is this machine's measured speed when the plan trains here (`estimate`)."""
    if read_report(plan.data_dir) is not None:
        return estimate(plan, hw)  # a prepared folder: the estimator reads the real rows and lengths
    rows = training_rows(state.data, plan.objective, plan.max_length or 2048)
    held = held_out_rows(rows)
    # Continued pretraining's rows are packed max_length blocks of the corpus (`training_rows`): a
    # paragraph's own length says nothing about a block's.
    cpt = plan.objective == "continued_pretraining"
    lengths = None if cpt else _file_lengths(state.data.location, plan.base_model)
    mean, longest = lengths or (plan.max_length, plan.max_length)
    est = estimate(plan, hw, DataSample(rows=max(rows - sum(held), 1), mean_tokens=mean, longest_tokens=longest,
                                        validation_rows=held[0]))
    if lengths:
        est.notes.append(f"example lengths measured on the first rows of {Path(state.data.location or '').name}: "
                         f"{mean} tokens on average, {longest} at most")
    elif not cpt:
        est.notes.append("example lengths assumed to fill max_length until the data file is read")
    return est


def held_out_rows(rows: int, val_fraction: float = 0.1, test_fraction: float = 0.1) -> tuple[int, int]:
    """(validation, test) rows the data step holds out of `rows` with its default shares, so a draft counts
    only the rows that train: the counts of `tools.data.prepare.split` then `testsplit.carve`."""
    val = validation_count(rows, val_fraction)
    return val, test_count(rows, rows - val, test_fraction)


def _file_lengths(location: str | None, model: str) -> tuple[int, int] | None:
    """(mean, longest) tokens per row of the attached file's first rows; None when it can't be read."""
    if not location:
        return None
    path = Path(location).expanduser()
    try:
        # A folder's own mtime does not change when a file inside is edited: key on its files' (first 100).
        stats = [f.stat() for f in sorted(path.iterdir())[:100] if f.is_file()] if path.is_dir() else [path.stat()]
    except (OSError, ValueError):
        return None
    return _lengths_of(str(path), max((s.st_mtime for s in stats), default=0.0), sum(s.st_size for s in stats), model)


@functools.lru_cache(maxsize=16)
def _lengths_of(path: str, mtime: float, size: int, model: str) -> tuple[int, int] | None:
    """Cached per file version and tokenizer: a recommendation sizes several candidate plans."""
    try:
        lengths = token_lengths(path, model)
    except Exception:  # an unreadable file or tokenizer: the draft assumes full rows, preparing reports why
        return None
    return (max(1, round(sum(lengths) / len(lengths))), max(lengths)) if lengths else None


def pick_fitting(state: ConversationState, objective: str, hw: Hardware) -> Pick:
    """The largest candidate model with the first method that fits; the smallest setup if none does."""
    methods, method_reasons = _methods(state, objective, hw)
    models, model_reason = _models(state, objective, hw)
    limit_min = (state.constraints.time_limit_hours or 0) * 60
    tried: list[tuple[CatalogueModel, str, Estimate, dict]] = []
    explicit = bool(state.preferences.base_model)
    for model, method in _candidates(models, methods, hw, state):
        params, est = _fitted(state, model, objective, method, hw, hyperparameters(state, objective, method, hw))
        tried.append((model, method, est, params))
        good = est.verdict == "fits" or (explicit and est.verdict == "tight")
        if good and (not limit_min or est.duration_min <= limit_min or model is models[-1]):
            params, est = _cap_time(state, model, objective, method, hw, params, est)
            reasons = method_reasons.get(method, []) + [_fit_reason(state, model, method, est, hw, model_reason)]
            return Pick(method=method, model=model, hyperparameters=params, estimate=est, reasons=reasons,
                        alternatives=_runner_up(objective, methods, method))
    model, method, est, params = min(tried, key=lambda t: t[2].peak_memory_gb)
    reason = (f"Nothing in the catalogue fits comfortably on your {hw.describe()}; the lightest setup is "
              f"{model.name} with {method} ({est.verdict}).")
    return Pick(method=method, model=model, hyperparameters=params, estimate=est, reasons=[reason])


_OTHER_WHY = {
    "lora": "LoRA on a 16-bit base: a little better than QLoRA, but needs about twice the memory for the weights",
    "qlora": "QLoRA: a 4-bit base takes a bigger model or a longer max_length on the same GPU",
    "full": "full fine-tuning: every weight, most memory, most risk of forgetting",
    "dora": "DoRA: often a bit better than LoRA at the same memory, ~20% slower",
}
_OTHER_WHY_AFTER = {("dora", "lora"): "a plain LoRA adapter: faster than DoRA, a little less quality",
                    ("full", "lora"): "LoRA: a small adapter, far less memory, less forgetting"}


SMALL_GPU_GB = 12.0  # at or below this, QLoRA is tried before LoRA
CPU_MINUTES = 60  # without a stated time limit, a CPU run is kept to about an hour


def _cap_time(state: ConversationState, model: CatalogueModel, objective: str, method: str, hw: Hardware,
              params: dict[str, Any], est: Estimate) -> tuple[dict[str, Any], Estimate]:
    """Cap the steps when the run would take longer than the user's limit (or an hour on a CPU)."""
    limit = (state.constraints.time_limit_hours or 0) * 60 or (CPU_MINUTES if hw.kind == "cpu" else 0)
    if not limit or est.duration_min <= limit or est.total_steps <= 1:
        return params, est
    steps = max(10, int(est.total_steps * limit / est.duration_min))
    capped = {**params, "max_steps": steps}
    share = steps / est.total_steps
    note = (f"Capped at {steps} steps ({share:.0%} of the planned passes over your data) to stay within "
            f"{limit / 60:g} h on this hardware; raise max steps if you can wait longer.")
    capped_est = est.model_copy(update={"duration_s": round(est.duration_s * share, 1), "total_steps": steps,
                                        "notes": [*est.notes, note]})
    return capped, capped_est


def _candidates(models: list[CatalogueModel], methods: list[str], hw: Hardware,
                state: ConversationState) -> list[tuple[CatalogueModel, str]]:
    """(model, method) pairs, best first: largest model first, then its lightest method that fits."""
    pairs: list[tuple[CatalogueModel, str]] = []
    wanted = state.preferences.method
    if wanted and wanted == methods[0]:
        pairs += [(m, wanted) for m in models]  # the user's method on the largest model it fits
    if "full" in methods:
        # Full fine-tuning is only worth it on a model of some size; below that, LoRA on a bigger one wins.
        pairs += [(m, "full") for m in models if m.params_b >= 3 or len(models) == 1]
    for model in models:
        order = [m for m in methods if m != "full"]
        # 16-bit weights taking over half the card leave too little room for activations: QLoRA first
        # (the standard recipe for 7-8B models on 24 GB consumer GPUs, Dettmers et al. 2023).
        if (hw.kind == "cuda" and "qlora" in order and model.params_b * 2 > 0.5 * hw.memory_gb
                and state.success.priority != "quality"):  # 4-bit costs a little quality
            order.remove("qlora")
            order.insert(0, "qlora")
        pairs += [(model, m) for m in order]
    return pairs


def _fitted(state: ConversationState, model: CatalogueModel, objective: str, method: str, hw: Hardware,
            params: dict[str, Any]) -> tuple[dict[str, Any], Estimate]:
    """Estimate; when it doesn't fit, take the estimator's own fix once if it keeps the method."""
    est = estimate_for(state, draft_plan(model, objective, method, params), hw)
    changes = getattr(est, "suggested_changes", None)
    if est.verdict != "fits" and changes and "method" not in changes:
        fixed = {**params, **changes}
        retry = estimate_for(state, draft_plan(model, objective, method, fixed), hw)
        if retry.verdict == "fits":
            return fixed, retry
    return params, est


def _runner_up(objective: str, methods: list[str], chosen: str) -> list[Alternative]:
    return [Alternative(objective=objective, method=m, why=_OTHER_WHY_AFTER.get((chosen, m), _OTHER_WHY[m]))
            for m in methods if m != chosen and m in _OTHER_WHY][:2]


def _fit_reason(state: ConversationState, model: CatalogueModel, method: str, est: Estimate, hw: Hardware, why: str) -> str:
    said = state.quote("constraints.hardware") or state.quote("constraints.gpu_name")
    machine = f'your {hw.describe()}' + (f' ("{said}")' if said else "")
    words = ("a " if method in ("lora", "dora") else "") + METHOD_LABELS[method]
    return (f"{model.name} with {words} {est.verdict} on {machine}: about {est.peak_memory_gb:.1f} GB of "
            f"{est.available_gb:.0f} GB, roughly {format_duration(est.duration_s)}. {why}").strip()


def _models(state: ConversationState, objective: str, hw: Hardware) -> tuple[list[CatalogueModel], str]:
    wanted = catalogue.find(state.preferences.base_model or "")
    if wanted:
        return [wanted], f'You asked for {wanted.name} ("{state.quote("preferences.base_model", wanted.name)}").'
    if hw.kind == "cpu":
        return [catalogue.DEFAULT], "On a CPU the embedded SmolLM2-135M-Instruct is the model that trains in minutes."
    task, priority = state.use_case.task_kind, state.success.priority
    cap, why = 8.5, "The largest model that fits usually answers best."
    if task in {"classification", "extraction"}:
        cap, why = 1.6, "A label or a few fields don't need a big model; a small one is fast and cheap to serve."
    elif priority in {"speed", "cost"}:
        cap, why = 3.5, "You want it fast and cheap, so a small model."
    elif hw.device_count >= 8:
        cap = 100.0
    elif priority == "quality":
        cap, why = 15.0, "You put quality first, so the largest model that trains in 16 bits on your GPU."
    elif hw.device_count > 1:
        cap = 35.0
    # Prefer permissive licences at similar size: a Llama 8B ranks like a 6.8B.
    ranked = sorted((m for m in catalogue.gpu_models() if m.params_b <= cap),
                    key=lambda m: m.params_b * (1.0 if m.permissive else 0.85), reverse=True)
    return ranked, why


def _methods(state: ConversationState, objective: str, hw: Hardware) -> tuple[list[str], dict[str, list[str]]]:
    q, d = state.quote, state.data
    wanted = state.preferences.method
    cpu = hw.kind == "cpu"
    if wanted and wanted != "none":
        if wanted == "qlora" and cpu:
            return ["lora"], {"lora": ["QLoRA needs a CUDA GPU for its 4-bit base; on a CPU we use LoRA, the same adapter."]}
        if wanted in VIRTUAL_TOKEN_METHODS and objective not in ("sft", "continued_pretraining"):
            return ["lora"], {"lora": [f"{wanted} works with SFT only; for {objective.upper()} we use LoRA."]}
        said = q("preferences.method", wanted)
        return [wanted, "lora", "qlora"], {wanted: [f'You asked for {wanted} ("{said}").']}
    virtual = _virtual_token_method(state, objective)
    if virtual:
        return [virtual[0], "lora"], {virtual[0]: [virtual[1]]}
    if cpu:
        return ["lora"], {"lora": ["LoRA trains a small adapter, the practical choice on a CPU."]}
    if state.deployment.many_adapters:
        said = q("deployment.many_adapters", "one per customer")
        return ["lora"], {"lora": [f'You said "{said}": one LoRA adapter per customer on one shared 16-bit base, '
                                   "served together (vLLM multi-LoRA). QLoRA would train each against a 4-bit base "
                                   "the server doesn't run."]}
    rows = d.rows or 0
    # Full fine-tuning on a node (4+ GPUs) with a corpus or plenty of data, or when quality was asked for; on two
    # GPUs a LoRA on a large base does nearly as well at a fraction of the memory and forgetting (every story
    # writer who accepted full on two GPUs accepted LoRA too, and one rejected full there).
    node = hw.device_count >= 4 and (objective == "continued_pretraining" or rows >= 20_000)
    if node or (hw.device_count > 1 and state.success.priority == "quality"):
        why = (f"With {hw.device_count} GPUs ({q('constraints.num_gpus', 'multi-GPU')}) and "
               f"{'a large corpus' if objective == 'continued_pretraining' else 'plenty of data'}, full fine-tuning "
               "uses every weight; it is the most thorough option when memory allows.")
        return ["full", "lora"], {"full": [why], "lora": [
            f"With {hw.device_count} GPUs, LoRA scales to a large base model; data-parallel across the GPUs."]}
    if hw.device_count > 1:
        return ["lora"], {"lora": [
            f"With {hw.device_count} GPUs, LoRA on a large 16-bit base trains data-parallel across them."]}
    if state.success.priority == "quality":
        why = (f'You said "{q("success.priority", "quality matters most")}": DoRA splits each update into direction '
               "and magnitude and usually closes part of the gap to full fine-tuning, at LoRA's memory.")
        return ["dora", "lora", "qlora"], {"dora": [why]}
    reasons = {
        "lora": ["LoRA trains a small adapter on a frozen 16-bit base: most of full fine-tuning's quality at a "
                 "fraction of the memory."],
        "qlora": ["QLoRA keeps the base in 4 bits so a bigger model fits your GPU; the adapter trains in 16 bits."],
    }
    if hw.memory_gb <= SMALL_GPU_GB:
        # On a 12 GB card a 16-bit base leaves little room for a useful model or context; every story writer
        # accepted QLoRA there, a third of them only QLoRA.
        return ["qlora", "lora"], reasons
    return ["lora", "qlora"], reasons


def _virtual_token_method(state: ConversationState, objective: str) -> tuple[str, str] | None:
    """Prompt or prefix tuning: many small per-tenant adapters, or very little data for a narrow task."""
    if objective not in ("sft",):
        return None
    d, u, q = state.data, state.use_case, state.quote
    narrow = u.task_kind in {"classification", "extraction"}
    generative = u.task_kind in {"summarization", "generation"}
    if not (narrow or generative):
        return None
    if state.deployment.many_adapters:
        said = f'You said "{q("deployment.many_adapters", "one per customer")}"'
    elif d.rows is not None and d.rows < 200:
        said = f"With about {d.rows} examples"
    else:
        return None
    if narrow:
        return "prompt_tuning", (f"{said}: prompt tuning learns only ~20 virtual tokens per task (a few KB), so it "
                                 "can't overfit much and one base model serves every task.")
    return "prefix_tuning", (f"{said}: prefix tuning learns a small prefix per layer (Li & Liang 2021, made for "
                             "generation tasks like summarisation), tiny to store and hard to overfit.")


def hyperparameters(state: ConversationState, objective: str, method: str, hw: Hardware) -> dict[str, Any]:
    """Settings from the data size and the technique; the plan's validators check them again."""
    rows = training_rows(state.data, objective)
    epochs = 3.0 if rows < SMALL_ROWS else 2.0 if rows < 10_000 else 1.0
    if objective in ("dpo", "orpo", "kto", "continued_pretraining"):
        epochs = min(epochs, 2.0 if rows < SMALL_ROWS else 1.0)
    task = state.use_case.task_kind
    max_length = 512 if task in {"classification", "extraction"} else 2048 if objective == "continued_pretraining" else 1024
    if hw.kind == "cpu":
        max_length = min(max_length, 512)
    # Small per-device batches with accumulation: the logits of a 150k-token vocabulary dominate memory.
    pairs = objective in PREFERENCE_OBJECTIVES
    params: dict[str, Any] = {"epochs": epochs, "max_length": max_length,
                              "batch_size": 1 if pairs else 2, "gradient_accumulation": 8 if pairs else 4}
    if hw.kind == "cuda" and method != "prefix_tuning":
        params["gradient_checkpointing"] = True  # ~30% slower, a fraction of the activation memory
    if method in LORA_METHODS:
        # Rank 16 even for small data: rank 8 at a 7B-style rate under-trained a 90-row identity set.
        rank = 16 if rows < 50_000 else 32
        params.update(lora_r=rank, lora_alpha=2 * rank, lora_dropout=0.1 if rows < SMALL_ROWS else 0.05)
    if not pairs and rows < SMALL_ROWS:
        params.update(small_data_schedule(rows, params["epochs"]))
        if method in VIRTUAL_TOKEN_METHODS:
            # The same 4 rows per update, one at a time: prefix tuning can't checkpoint its activations.
            params.update(batch_size=1, gradient_accumulation=4)
    if method in VIRTUAL_TOKEN_METHODS:
        params["num_virtual_tokens"] = 20
    if objective in PREFERENCE_OBJECTIVES:
        params["beta"] = 0.1
    return params


def small_data_schedule(rows: int, epochs: float, held_out: float = 0.2) -> dict[str, Any]:
    """Batch 4 without accumulation and enough epochs for at least MIN_UPDATES optimizer updates.

    The schedule is set by updates, not epochs: with 90 rows, batch 2 x accumulation 4 and 3 epochs gave
    33 updates and the model learned nothing visible; batch 4, 6-7 epochs (~126 updates) learned it.
    `held_out` is the share of rows prepare keeps for validation and test. At most 12 epochs.
    """
    train_rows = max(1, int(rows * (1 - held_out)))
    per_epoch = max(1, -(-train_rows // 4))
    needed = -(-MIN_UPDATES // per_epoch)
    return {"batch_size": 4, "gradient_accumulation": 1, "epochs": float(min(12, max(int(epochs), needed)))}
