"""Success checks derived from the old model's recorded answers: what "as good as the old fine-tune" means.

    from tools.migrate.checks import golden_criteria
    criteria, note = golden_criteria("golden/")
    criteria.describe()   # ["answer calls the same tools with the same arguments as the reference",
                          #  "ROUGE-L vs the reference ≥ 0.45"]

Each check compares an answer with a reference; in a migration the reference is the old model's answer to
the same prompt (and, on the locked test split during training, the data's own answer):
- rows whose old answer calls tools: the same tool names and arguments (`ToolCall`);
- classification (the old answers are a few short labels, each used repeatedly): the exact label (`Label`);
- anything else: similarity to the old answer (ROUGE-L, or token F1 for very short answers) at a threshold
  set 0.2 above what the old answer to a *different* prompt scores, so a generic in-domain answer fails.
Rule-based and deterministic: the same golden set always gives the same checks.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

from tools.evaluate.checks import Label, Similarity, SuccessCriteria, ToolCall, tool_calls_text
from tools.evaluate.metrics import rouge_l, token_f1
from tools.migrate.record import RecordError, load_golden

TARGET = 0.8  # share of held-out prompts that must match the old answer for "met"
_SHORT_WORDS = 4  # median old answer at most this long: token F1 (ROUGE-L's order adds nothing there)


def old_answer(line: dict) -> str:
    """The old model's answer as text: its content, or its tool calls as `<tool_call>` blocks."""
    if line.get("tool_calls"):
        return tool_calls_text(line["tool_calls"])
    return str(line.get("answer") or "").strip()


def golden_lines(golden_dir: str | Path) -> list[dict]:
    """The recorded answers, or a clear error when the folder holds none."""
    folder = Path(golden_dir).expanduser()
    if not (folder / "golden.jsonl").is_file():
        raise RecordError(f"{folder}: no golden.jsonl; record the old model first "
                          "(finetune-assistant migrate record --data validation.jsonl --endpoint URL --model ID --out DIR).")  # fmt: skip
    lines = load_golden(folder)
    if not lines:
        raise RecordError(f"{folder}/golden.jsonl holds no answers; run `finetune-assistant migrate record` again.")
    return lines


def golden_criteria(golden: str | Path | list[dict], threshold: float | None = None,
                    target: float = TARGET) -> tuple[SuccessCriteria, str]:  # fmt: skip
    """The checks the old answers call for, and a sentence saying where each came from."""
    lines = golden if isinstance(golden, list) else golden_lines(golden)
    calls = [line for line in lines if line.get("tool_calls")]
    texts = [old_answer(line) for line in lines if not line.get("tool_calls")]
    checks, why = [], []
    if calls:
        checks.append(ToolCall(description="derived: the old model called tools on these prompts"))
        why.append(f"the same tool calls ({len(calls)} of {len(lines)} old answers call tools)")
    labels = _labels(texts + [str(line.get("reference") or "") for line in lines if not line.get("tool_calls")])
    if texts and labels and all(t in labels for t in texts):
        checks.append(Label(labels=labels, description="derived: the old answers are a few short labels"))
        why.append(f"the exact label ({len(labels)} labels: {', '.join(labels[:6])})")
    elif texts:
        metric, value, generic = _similarity(texts, threshold)
        checks.append(Similarity(metric=metric, threshold=value, description="derived: close to the old model's answer"))
        name = "ROUGE-L" if metric == "rouge_l" else "token F1"
        about = f" (the old answer to another prompt scores about {generic:.2f})" if generic is not None else ""
        why.append(f"{name} ≥ {value:.2f} against the old answer{about}")
    criteria = SuccessCriteria(checks=checks, target=target, proposed=True)
    note = (f"Success checks from the old model's {len(lines)} recorded answers: {'; '.join(why)}; met when "
            f"{target:.0%} of the held-out prompts pass.")  # fmt: skip
    return criteria, note


def _labels(answers: list[str]) -> list[str]:
    """The distinct answers when they look like classification: few, short, each used repeatedly."""
    answers = [a.strip() for a in answers if a and a.strip()]
    if len(answers) < 6:
        return []
    counts = Counter(answers)
    if all(len(a.split()) <= 3 for a in counts) and len(counts) <= max(2, min(20, len(answers) // 3)):
        return [label for label, _ in counts.most_common()]
    return []


def _similarity(texts: list[str], threshold: float | None) -> tuple[str, float, float | None]:
    """(metric, threshold, what a mismatched old answer scores). The bar sits 0.2 above a generic answer."""
    metric = "token_f1" if statistics.median(len(t.split()) for t in texts) <= _SHORT_WORDS else "rouge_l"
    if len(texts) < 2:
        return metric, threshold or 0.5, None
    score = token_f1 if metric == "token_f1" else rouge_l
    sample = texts[:60]
    pairs = sorted(score(sample[i], sample[(i + 1) % len(sample)]) for i in range(len(sample)))
    generic = pairs[len(pairs) // 2]
    return metric, threshold or round(min(0.7, max(0.3, generic + 0.2)), 2), generic
