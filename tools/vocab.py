"""The project's words, each defined once: objectives, methods, dataset types, data kinds, file types, GPUs.

    from tools.vocab import Objective, Method, LORA_METHODS, DATA_FOR_OBJECTIVE, DATA_SUFFIXES, GPU_TABLE

A leaf: it imports nothing of ours, so the interview, the planner, the trainer, the data tools and the UI
all import their vocabulary from here instead of spelling it again (and drifting apart).
"""

from __future__ import annotations

from typing import Literal, get_args

# ---------------------------------------------------------------- training techniques

Objective = Literal["sft", "dpo", "orpo", "kto", "continued_pretraining"]
Method = Literal["full", "lora", "qlora", "dora", "prompt_tuning", "prefix_tuning"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)
METHODS: tuple[str, ...] = get_args(Method)
LORA_METHODS = ("lora", "qlora", "dora")
# Prompt and prefix tuning only make sense as language-modeling adapters in PEFT; preference losses need
# the reference-free/reference model plumbing that TRL only wires for LoRA-style or full training.
VIRTUAL_TOKEN_METHODS = ("prompt_tuning", "prefix_tuning")
PREFERENCE_OBJECTIVES = ("dpo", "orpo", "kto")

OBJECTIVE_LABELS = {"sft": "supervised fine-tuning (SFT)", "dpo": "preference tuning (DPO)",
                    "orpo": "preference tuning with SFT in one run (ORPO)", "kto": "learning from ratings (KTO)",
                    "continued_pretraining": "continued pretraining on raw text"}
METHOD_LABELS = {"lora": "LoRA adapter", "qlora": "QLoRA (4-bit base + LoRA adapter)", "dora": "DoRA adapter",
                 "full": "full fine-tuning (all weights)", "prompt_tuning": "prompt tuning (virtual tokens)",
                 "prefix_tuning": "prefix tuning"}

# ---------------------------------------------------------------- data

# TRL's dataset formats: what a prepared folder holds.
DatasetType = Literal["conversational", "prompt_completion", "preference", "unpaired_preference", "language_modeling"]
# Which prepared-data types each objective can learn from.
DATA_FOR_OBJECTIVE: dict[str, tuple[str, ...]] = {
    "sft": ("conversational", "prompt_completion", "language_modeling"),
    "dpo": ("preference",),
    "orpo": ("preference",),
    "kto": ("unpaired_preference",),
    "continued_pretraining": ("language_modeling",),
}
DATA_HINT = {
    "preference": "rows with prompt, chosen and rejected (e.g. exported votes)",
    "unpaired_preference": "rows with prompt, completion and a true/false label",
    "language_modeling": "raw text rows ({\"text\": ...})",
}

# A source file's layout, as the data tools detect it, and the dataset type each becomes.
SourceLayout = Literal["openai_chat", "sharegpt", "alpaca", "question_answer", "prompt_completion", "preference",
                       "sharegpt_preference", "openai_preference", "unpaired_preference", "classification", "text"]
DATASET_TYPE_OF_LAYOUT: dict[str, str] = {
    "openai_chat": "conversational", "sharegpt": "conversational", "alpaca": "conversational",
    "question_answer": "conversational", "prompt_completion": "prompt_completion", "preference": "preference",
    "sharegpt_preference": "preference", "unpaired_preference": "unpaired_preference", "text": "language_modeling",
    # OpenAI's DPO format; a labelled table trains as chat rows whose answer is the label.
    "openai_preference": "preference", "classification": "conversational",
}

# What the user says their data is, in the interview's words, and the dataset type each trains as.
DataKind = Literal["chat", "prompt_completion", "labelled", "preference_pairs", "ratings", "unlabelled_text"]
DATASET_TYPE_OF_KIND: dict[str, str] = {
    "chat": "conversational", "prompt_completion": "prompt_completion", "labelled": "prompt_completion",
    "preference_pairs": "preference", "ratings": "unpaired_preference", "unlabelled_text": "language_modeling",
}
# A detected dataset type in the interview's words (a file the user attaches fills the interview).
KIND_OF_DATASET_TYPE: dict[str, str] = {
    "conversational": "chat", "prompt_completion": "prompt_completion", "preference": "preference_pairs",
    "unpaired_preference": "ratings", "language_modeling": "unlabelled_text",
}

# The data files the loader reads; the chat, the upload widgets and the edit parser accept exactly these.
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")
TEXT_SUFFIXES = (".txt", ".md", ".markdown")
DATA_SUFFIXES = (*JSONL_SUFFIXES, ".json", ".csv", ".tsv", ".parquet", *TEXT_SUFFIXES)
# A regex alternative of the suffixes, longest first so "jsonl" wins over "json" ("md" after "markdown").
DATA_SUFFIX_PATTERN = "|".join(s.lstrip(".") for s in sorted(DATA_SUFFIXES, key=len, reverse=True))

# ---------------------------------------------------------------- hardware

# Dense (no sparsity) 16-bit tensor-core TFLOPS and memory per device, from NVIDIA's datasheets:
# B200 2250, H100 SXM 989 (PCIe 756), H200 989, A100 312, L40S 362, L4 121, A10 125, A6000 155,
# RTX 6000 Ada 364, RTX 5090 209, RTX 4090 165 (fp16 with fp32 accumulate), RTX 4080 97, RTX 3090 71,
# RTX 2080 40 (fp16, no bf16), T4 65 (fp16, no bf16), V100 125 (fp16, no bf16). Used only for duration
# estimates, scaled by a realistic utilisation.
GPU_TABLE: dict[str, tuple[float, float, bool]] = {  # name key -> (memory GB, TFLOPS, bf16)
    "b200": (180, 2250, True), "h200": (141, 989, True), "h100": (80, 989, True), "a100": (80, 312, True),
    "l40s": (48, 362, True), "l40": (48, 181, True), "l4": (24, 121, True), "a10g": (24, 70, True),
    "a10": (24, 125, True), "a6000": (48, 155, True), "rtx 6000 ada": (48, 364, True), "5090": (32, 209, True),
    "4090": (24, 165, True), "4080": (16, 97, True), "4070": (12, 58, True), "4060": (8, 30, True),
    "3090": (24, 71, True), "3080": (10, 60, True), "3060": (12, 25, True), "2080": (8, 40, False),
    "t4": (16, 65, False), "v100": (16, 125, False), "mi300x": (192, 1307, True), "mi250": (128, 362, True),
    # Older and smaller cards people still train on at home: fp16 only before Ampere.
    "5080": (16, 110, True), "5070": (12, 60, True), "3070": (8, 40, True), "3050": (8, 18, True),
    "2070": (8, 30, False), "2060": (6, 25, False), "1080": (8, 9, False), "1070": (8, 7, False),
    "1660": (6, 10, False), "a4000": (16, 38, True), "a5000": (24, 55, True), "a40": (48, 150, True),
}


def gpu_keys() -> list[str]:
    """GPU_TABLE's keys, longest first, so "a10g" is tried before "a10" and "l40s" before "l4"."""
    return sorted(GPU_TABLE, key=len, reverse=True)


def lookup_gpu(name: str) -> tuple[float, float, bool] | None:
    """(memory GB, TFLOPS, bf16) of the first GPU_TABLE key inside `name`, or None for an unknown GPU."""
    low = name.lower()
    return next((GPU_TABLE[key] for key in gpu_keys() if key in low), None)


# ---------------------------------------------------------------- small shared helpers


def format_duration(seconds: float) -> str:
    """A duration as people say it: '45 s', '12 min', '3.5 h'."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
