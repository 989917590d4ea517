"""Replay a run's locked test prompts through its base and tuned model, each answer scored by the run's checks.

    from tools.evaluate.replay import test_prompts, replay
    prompts = test_prompts("runs/r1")                                  # [(prompt, reference), ...]
    for rows in replay(backend, "runs/r1", tuned="r1", sampling=Sampling(max_tokens=64)):
        rows[-1]   # {"prompt", "reference", "base", "tuned", "base_passes", "tuned_passes"}

The prompts are the ones the verdict was given on: the locked test split (checked against its recorded
hash; a changed file is refused, as the evaluation refuses it), or the validation split of data prepared
without one. `backend` is any chat backend that serves the base as `BASE` and the adapter as `tuned`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tools.data.testsplit import locked_test
from tools.evaluate.checks import SuccessCriteria, score
from tools.evaluate.heldout import load_examples, load_run
from tools.serve.backends import BASE, ChatBackend, Sampling

MAX_PROMPTS = 16  # a replay is for reading side by side; the evaluation report has the full numbers


def split_of(run_dir: str | Path) -> Path:
    """The split the run's verdict is on: test.jsonl when it was prepared with one, else validation.jsonl."""
    _, _, validation = load_run(run_dir)
    return locked_test(validation.parent) or validation


def test_prompts(run_dir: str | Path, limit: int = MAX_PROMPTS) -> list[tuple[list[dict], str]]:
    """(chat messages, reference answer) of the first `limit` prompts of the run's verdict split."""
    examples = load_examples(split_of(run_dir), limit)
    return [(e.messages(), e.reference) for e in examples if e.prompt is not None]


def replay(backend: ChatBackend, run_dir: str | Path, tuned: str, sampling: Sampling | None = None,
           limit: int = MAX_PROMPTS) -> Iterator[list[dict]]:  # fmt: skip
    """The rows so far after each prompt: both answers and whether each passes every check that applies."""
    plan, _, _ = load_run(run_dir)
    sampling = sampling or Sampling(temperature=0.0, max_tokens=plan.eval_settings.max_new_tokens)
    rows: list[dict] = []
    for messages, reference in test_prompts(run_dir, limit):
        prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        answers = {name: backend.chat(name, messages, sampling).strip() for name in (BASE, tuned)}
        rows.append({"prompt": prompt, "reference": reference, "base": answers[BASE], "tuned": answers[tuned],
                     "base_passes": passes(plan.checks, prompt, answers[BASE], reference),
                     "tuned_passes": passes(plan.checks, prompt, answers[tuned], reference)})  # fmt: skip
        yield list(rows)


def passes(criteria: SuccessCriteria, prompt: str, answer: str, reference: str) -> bool | None:
    """Whether `answer` passes every check that applies to `prompt`; None when none applies."""
    report = score(criteria, [prompt], [answer], [reference])
    return None if report.tested == 0 else report.passed == 1
