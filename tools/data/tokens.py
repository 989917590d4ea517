"""Token counts with the chosen model's tokenizer and chat template: per-row lengths, summary stats,
truncation at `max_length`, and a histogram image.

Rows are rendered with the chat template in one batched call, then encoded by the fast (Rust)
tokenizer's `encode_batch_fast`, which skips offsets we do not need.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from tools.data.spec import DataError, TokenStats
from tools.models.resolve import DEFAULT_MODEL, local_tokenizer, resolve_model

_BATCH = 2048


def load_tokenizer(model: str) -> Any:
    """The fast tokenizer (with chat template) of `model`: 'default', a local folder or a hub id."""
    path = resolve_model(model, weights=False)  # the tokenizer only; raises ModelNotFoundError with its advice
    stamp = max((f.stat().st_mtime for f in Path(path).glob("tokenizer*")), default=0.0)
    return _load_tokenizer(str(path), stamp)


def sizing_tokenizer(model: str) -> Any:
    """`model`'s tokenizer when it loads without converting or downloading anything (`local_tokenizer`),
    else the shipped default's: counting a draft's tokens must cost seconds. Llama-family tokenizers
    count within ~15% of each other; preparing the data counts with the chosen model's own."""
    found = local_tokenizer(model) or local_tokenizer(DEFAULT_MODEL)
    if found is None:
        raise DataError(model, "no tokenizer on this machine to count tokens with; the estimate assumes full rows.")
    folder, gguf = found
    return _load_tokenizer(str(folder), 0.0, gguf) if gguf else load_tokenizer(str(folder))


@functools.lru_cache(maxsize=4)
def _load_tokenizer(path: str, stamp: float, gguf_file: str | None = None) -> Any:
    """Cached per folder and tokenizer-file mtime: the agent and UI inspect the same model repeatedly."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **({"gguf_file": gguf_file} if gguf_file else {}))
    except Exception as exc:  # broken or partial model folders
        raise DataError(path, f"could not load the tokenizer ({str(exc)[:200]}); check the model folder.") from None
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(path, "this model has no fast tokenizer (tokenizer.json); data preparation needs one.")
    return tokenizer


def count(tokenizer: Any, texts: list[str]) -> list[int]:
    """Tokens per text, no special tokens added (the chat template already holds them)."""
    backend = tokenizer.backend_tokenizer
    lengths: list[int] = []
    for lo in range(0, len(texts), _BATCH):  # len(encoding) counts ids without building the list
        lengths += [len(e) for e in backend.encode_batch_fast(texts[lo : lo + _BATCH], add_special_tokens=False)]
    return lengths


def render_chats(tokenizer: Any, conversations: list[list[dict]], tools: list[Any] | None = None) -> list[str]:
    """Chat-template text of each conversation (rows with tool schemas are rendered one by one)."""
    if tokenizer.chat_template is None:
        return ["\n".join(f"{m['role']}: {m['content']}" for m in conv) for conv in conversations]
    if not tools or not any(tools):
        return tokenizer.apply_chat_template(conversations, tokenize=False)
    return [
        tokenizer.apply_chat_template(conv, tools=(json.loads(row_tools) if row_tools else None) or None, tokenize=False)
        for conv, row_tools in zip(conversations, tools, strict=True)
    ]


def row_lengths(tokenizer: Any, records: list[dict], dataset_type: str) -> list[int]:
    """Tokens per training row as TRL will see it (for preference rows, the longer of the two answers)."""
    if not records:
        return []
    if dataset_type == "conversational":
        return count(tokenizer, render_chats(tokenizer, [r["messages"] for r in records], [r.get("tools") for r in records]))
    if dataset_type == "language_modeling":
        eos = 1 if tokenizer.eos_token else 0
        return [n + eos for n in count(tokenizer, [r["text"] for r in records])]
    answers = ("chosen", "rejected") if dataset_type == "preference" else ("completion",)
    per_answer = [_pair_lengths(tokenizer, records, answer) for answer in answers]
    return [max(values) for values in zip(*per_answer, strict=True)]


def _pair_lengths(tokenizer: Any, records: list[dict], answer: str) -> list[int]:
    if isinstance(records[0]["prompt"], list):
        return count(tokenizer, render_chats(tokenizer, [r["prompt"] + r[answer] for r in records]))
    return count(tokenizer, [r["prompt"] + r[answer] for r in records])


def stats(lengths: list[int], max_length: int) -> TokenStats:
    import numpy as np

    if len(lengths) == 0:
        return TokenStats(max_length=max_length)
    arr = np.asarray(lengths, dtype=np.int64)
    return TokenStats(
        p50=int(np.percentile(arr, 50, method="nearest")),
        p95=int(np.percentile(arr, 95, method="nearest")),
        max=int(arr.max()),
        total=int(arr.sum()),
        truncated_fraction=round(float((arr > max_length).mean()), 6),
        max_length=max_length,
    )


def histogram(lengths: list[int], max_length: int, path: Path, title: str) -> Path:
    """A PNG histogram of tokens per row, with the `max_length` cut marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in servers and threads
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    import numpy as np

    values = np.asarray(lengths if len(lengths) else [0])
    ax.hist(values, bins=min(60, max(5, len(np.unique(values)))), color="#4C72B0")
    ax.axvline(max_length, color="#C44E52", linestyle="--", label=f"max_length = {max_length}")
    ax.set_xlabel("tokens per row")
    ax.set_ylabel("rows")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
