"""Evaluate a training run on its validation split: base vs tuned, with one plain verdict.

    finetune-assistant eval runs/<run_id> [--judge-url http://host:8000/v1 --judge-model NAME]
    python -c "from tools.evaluate.heldout import evaluate; print(evaluate('runs/r1')['verdict'])"

Measures held-out loss and perplexity on the reference answers (teacher forcing, answer tokens only),
then generates an answer per prompt with both models and scores it against the reference: exact match,
token F1 and ROUGE-L (longest common subsequence of tokens). With a judge (any OpenAI-compatible URL) it
also asks that model which answer is better, in a random order, with the rubric in `prompts/judge_rubric.yaml`.
Writes `eval/report.json`, `eval/report.md` and `eval/metrics.png` into the run folder. A plan with a
`golden` folder (moving off a hosted fine-tune) is also scored against the old model's recorded answers
(`tools.migrate.score`): the `migration` section and its one sentence.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

import prompts
from tools import paths
from tools.data.testsplit import locked_test
from tools.evaluate import probe as general_probe
from tools.evaluate.checks import SuccessCriteria, judge_pairwise, tool_calls_text
from tools.evaluate.checks import score as score_checks
from tools.evaluate.checks import verdict as checks_verdict
from tools.evaluate.metrics import exact_match, lcs_length, normalize, rouge_l, token_f1  # noqa: F401 (re-exported)
from tools.migrate import score as migration
from tools.migrate.checks import golden_criteria
from tools.migrate.record import RecordError
from tools.serve.backends import (
    BASE,
    BackendName,
    Sampling,
    TransformersBackend,
    add_tuned,
    open_backend,
    openai_chat,
)
from tools.serve.server import ServeError
from tools.train import runs
from tools.train.plan import Plan
from tools.train.run_dir import RunDir

TUNED = "tuned"
_VERDICT = re.compile(r"verdict\s*[:\-]?\s*\**\s*(A|B|tie)\b", re.IGNORECASE)


class JudgeConfig(BaseModel):
    """An OpenAI-compatible judge. The API key is read from the named env var, never stored in a report."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., description="Base URL, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1")
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    max_tokens: int = Field(512, ge=16)


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_examples: int = Field(64, ge=1, description="Validation rows used (the first N)")
    max_new_tokens: int = Field(128, ge=1)
    max_length: int = Field(1024, ge=16, description="Tokens per example for the loss")
    backend: BackendName = "transformers"
    judge: JudgeConfig | None = None
    seed: int = 0
    # [checks] None: the plan's own checks (plan.yaml `checks`), if any. The test split is never chosen here.
    checks: SuccessCriteria | None = None
    probe: bool = Field(True, description="Run the general-ability regression probe (base vs tuned).")
    golden_prompts: int = Field(migration.MAX_PROMPTS, ge=1, description="[migrate] Recorded prompts asked (plan.golden).")


@dataclass
class Example:
    prompt: list[dict] | str | None  # chat messages, raw text (non-chat prompt/completion) or None (plain text)
    reference: str

    def messages(self) -> list[dict]:
        return self.prompt if isinstance(self.prompt, list) else [{"role": "user", "content": self.prompt or ""}]


# --- text metrics: tools/evaluate/metrics.py (shared with the success checks) ------------------------


# --- the run and its validation split -------------------------------------------------------------------


def load_run(run_dir: str | Path) -> tuple[Plan, Path, Path]:
    """(plan, tuned folder, validation.jsonl) of a run folder, with messages that say what is missing."""
    run = RunDir(run_dir)
    if not run.holds_run():
        raise FileNotFoundError(f"{run.path} has no {run.plan_file.name}; pass a training run folder (runs/<run_id>)")
    plan = run.plan()
    tuned = run.output
    if tuned is None:
        raise FileNotFoundError(f"{run.path} has no adapter/ or model/ folder yet; wait for the run to finish")
    data_dir = Path(plan.training.data_dir).expanduser()
    if not data_dir.is_absolute() and not data_dir.exists():
        data_dir = run.path / data_dir
    validation = data_dir / "validation.jsonl"
    if not validation.is_file():
        raise FileNotFoundError(f"{validation} is missing (the plan's data_dir); prepare the data with a validation split")
    return plan, tuned, validation


def load_examples(path: str | Path, limit: int) -> list[Example]:
    examples = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            example = _example(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path} row {n}: {exc}; expected TRL rows (messages, prompt/completion or text)") from None
        if example is not None:
            examples.append(example)
        if len(examples) >= limit:
            break
    if not examples:
        raise ValueError(f"{path} has no rows to evaluate on")
    return examples


def reference_pairs(records: list[dict]) -> list[tuple[str, str]]:
    """(last user turn, reference answer) of each training record with both; rated-bad answers left out."""
    pairs = []
    for record in records:
        try:
            example = _example(record)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if example is not None and example.prompt is not None:
            pairs.append((_last_user(example.messages()), example.reference))
    return pairs


def _example(row: dict) -> Example | None:
    if "messages" in row:
        msgs = row["messages"]
        last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
        # A turn that only calls tools is compared by its calls (the tool-call check reads them back).
        reference = msgs[last]["content"] or tool_calls_text(msgs[last].get("tool_calls") or [])
        return Example(prompt=msgs[:last], reference=reference)
    if "text" in row and "prompt" not in row:
        return Example(prompt=None, reference=row["text"])
    if row.get("label") is False:
        return None  # an undesirable completion is no reference answer
    answer = row["completion"] if "completion" in row else row["chosen"]
    if isinstance(answer, list):
        answer = "".join(m["content"] for m in answer if m["role"] == "assistant")
    return Example(prompt=row["prompt"], reference=answer)


# --- held-out loss --------------------------------------------------------------------------------------


def heldout_loss(backend: TransformersBackend, model: str, examples: list[Example], max_length: int) -> float:
    """Mean negative log-likelihood per reference token (prompt tokens are context, not scored)."""
    import torch

    total, count = 0.0, 0
    with backend.model_for(model) as torch_model, torch.no_grad():
        for example in examples:
            ids, start = _tokens(backend.tokenizer, example)
            ids = ids[:max_length]
            if start >= len(ids) - 1:
                continue
            inputs = torch.tensor([ids], device=backend.device)
            logits = torch_model(input_ids=inputs).logits[0, :-1].float()
            targets = inputs[0, 1:]
            nll = torch.nn.functional.cross_entropy(logits, targets, reduction="none")[max(start - 1, 0):]
            total, count = total + nll.sum().item(), count + nll.numel()
    if count == 0:
        raise ValueError("no reference tokens left to score; raise max_length or check the validation rows")
    return total / count


def _tokens(tokenizer, example: Example) -> tuple[list[int], int]:
    """Token ids of prompt + reference and the index where the reference starts."""
    if isinstance(example.prompt, list):
        prompt = tokenizer.apply_chat_template(example.prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
        full = tokenizer.apply_chat_template(example.prompt + [{"role": "assistant", "content": example.reference}],
                                             tokenize=True, return_dict=False)  # fmt: skip
        return list(full), len(prompt)
    prompt = tokenizer(example.prompt or "", add_special_tokens=False)["input_ids"]
    full = tokenizer((example.prompt or "") + example.reference, add_special_tokens=False)["input_ids"]
    return full, len(prompt)


# --- generation, scores, judge --------------------------------------------------------------------------


def generate_answers(backend, model: str, examples: list[Example], sampling: Sampling) -> list[str]:
    """Answers in order; a vLLM server gets them concurrently (it batches), transformers one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    workers = 16 if backend.kind == "vllm" else 1
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda ex: backend.chat(model, ex.messages(), sampling).strip(), examples))


def score(answers: list[str], examples: list[Example]) -> dict[str, float]:
    n = len(examples)
    return {
        "exact_match": sum(exact_match(a, e.reference) for a, e in zip(answers, examples, strict=True)) / n,
        "token_f1": sum(token_f1(a, e.reference) for a, e in zip(answers, examples, strict=True)) / n,
        "rouge_l": sum(rouge_l(a, e.reference) for a, e in zip(answers, examples, strict=True)) / n,
    }


def judge_win_rate(judge: JudgeConfig, examples: list[Example], base: list[str], tuned: list[str],
                   seed: int = 0) -> dict:  # fmt: skip
    """Ask the judge per example, tuned shown as A or B at random; unparseable verdicts are counted apart.

    A judge call that fails (unreachable, timed out, an HTTP error) counts as `failed` with the first error
    kept, so one bad call never throws away the generated answers; the rate is over the judged examples.
    """
    import httpx

    rng = random.Random(seed)
    api_key = os.environ.get(judge.api_key_env) if judge.api_key_env else None
    tally, error = Counter(), None
    for example, b, t in zip(examples, base, tuned, strict=True):
        tuned_first = rng.random() < 0.5
        a_text, b_text = (t, b) if tuned_first else (b, t)
        question = example.prompt if isinstance(example.prompt, str) else _last_user(example.messages())
        text = prompts.render("judge_rubric", question=question, reference=example.reference, answer_a=a_text,
                              answer_b=b_text)  # fmt: skip
        try:
            reply = openai_chat(judge.url, judge.model, [{"role": "user", "content": text}],
                                Sampling(temperature=0.0, max_tokens=judge.max_tokens), api_key=api_key)  # fmt: skip
        except (httpx.HTTPError, ServeError, TimeoutError, ValueError, KeyError, IndexError, TypeError) as exc:
            tally["failed"] += 1
            error = error or f"{type(exc).__name__}: {exc}"[:300]
            continue
        found = _VERDICT.findall(reply)
        if not found:
            tally["unparsed"] += 1
            continue
        verdict = found[-1].upper() if found[-1].lower() != "tie" else "tie"
        if verdict == "tie":
            tally["ties"] += 1
        else:
            tally["tuned_wins" if (verdict == "A") == tuned_first else "base_wins"] += 1
    decided = tally["tuned_wins"] + tally["base_wins"] + tally["ties"]
    rate = (tally["tuned_wins"] + 0.5 * tally["ties"]) / decided if decided else None
    return {"model": judge.model, "url": judge.url, "win_rate": rate, "judged": decided, "error": error,
            **{k: tally[k] for k in ("tuned_wins", "base_wins", "ties", "unparsed", "failed")}}  # fmt: skip


def _last_user(messages: list[dict]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


# --- the whole evaluation -------------------------------------------------------------------------------


def evaluate(run_dir: str | Path, config: EvalConfig | None = None) -> dict:
    """Evaluate a run's tuned model against its base on the validation split; write and return the report."""
    config = config or EvalConfig()
    run_dir = Path(run_dir).expanduser().resolve()
    plan, tuned_dir, validation = load_run(run_dir)
    examples = load_examples(validation, config.max_examples)
    base_model = plan.training.base_model
    criteria = _criteria(plan, config)
    test_path = locked_test(validation.parent) if criteria.checks else None  # refuses a changed test split
    local = TransformersBackend(base_model)
    try:
        add_tuned(local, TUNED, tuned_dir)
        metrics = {name: _loss_metrics(local, name, examples, config.max_length) for name in (BASE, TUNED)}
        chat_examples = [e for e in examples if e.prompt is not None]
        answers, engine, reason = _answers(local, base_model, tuned_dir, chat_examples, config)
        checked = _check_goal(local, criteria, test_path or validation, config, metrics) if criteria.checks else None
        migrated = _against_old(local, plan, criteria, config, run_dir) if plan.golden else None
        probed = _probe(local, config) if config.probe else None
    finally:
        local.close()
    for name in (BASE, TUNED):
        if chat_examples:
            metrics[name].update(score(answers[name], chat_examples))
    judge = None
    if config.judge and chat_examples:
        judge = judge_win_rate(config.judge, chat_examples, answers[BASE], answers[TUNED], config.seed)
    report = {
        "run_dir": str(run_dir), "base_model": base_model, "tuned": str(tuned_dir),
        "validation": str(validation), "examples": len(examples), "generated": len(chat_examples),
        "backend": engine, "fallback_reason": reason, "config": config.model_dump(mode="json"),
        "metrics": metrics, "judge": judge,
        "samples": [{"prompt": _last_user(e.messages()), "reference": e.reference, "base": b, "tuned": t}
                    for e, b, t in zip(chat_examples[:5], answers[BASE][:5], answers[TUNED][:5], strict=True)],
    }  # fmt: skip
    report["verdict"] = verdict(metrics, judge)
    report["checks"], report["probe"], report["migration"] = checked, probed, migrated
    if checked:
        report["verdict"] = checked["verdict"]["sentence"]
        # Rounds choose on validation (the same checks on the validation answers); the verdict stays on test.
        val = [_last_user(e.messages()) for e in chat_examples], [e.reference for e in chat_examples]
        checked["validation"] = {n: score_checks(criteria, val[0], answers[n], val[1]).pass_rate for n in (BASE, TUNED)}
    write_report(RunDir(run_dir).eval_dir, report)
    return report


# --- [checks] the success checks on the locked test split, and the general-ability probe ------------------


def _criteria(plan: Plan, config: EvalConfig) -> SuccessCriteria:
    return config.checks if config.checks is not None else plan.checks


def _check_goal(local, criteria: SuccessCriteria, split: Path, config: EvalConfig, metrics: dict) -> dict:
    """Base vs tuned on the checks: the test split's prompts plus the criteria's own prompts."""
    examples = [e for e in load_examples(split, config.max_examples) if e.prompt is not None]
    examples += [Example(prompt=[{"role": "user", "content": p}], reference="") for p in criteria.prompts]
    sampling = Sampling(temperature=0.0, max_tokens=config.max_new_tokens, seed=config.seed)
    answers = {n: generate_answers(local, n, examples, sampling) for n in (BASE, TUNED)}
    prompts, references = [_last_user(e.messages()) for e in examples], [e.reference for e in examples]
    reports = {n: score_checks(criteria, prompts, answers[n], references) for n in (BASE, TUNED)}
    ask = _judge_ask(config.judge) if config.judge else None
    judged = [judge_pairwise(c, ask, prompts, answers[BASE], answers[TUNED]) for c in criteria.checks if c.kind == "judge"]
    result = checks_verdict(criteria, reports[BASE], reports[TUNED], metrics[BASE]["loss"], metrics[TUNED]["loss"], judged)
    return {"split": str(split), "criteria": criteria.model_dump(mode="json"), "verdict": result.model_dump(mode="json"),
            BASE: reports[BASE].model_dump(mode="json"), TUNED: reports[TUNED].model_dump(mode="json"),
            "answers": [{"prompt": p, "reference": r, BASE: b, TUNED: t}
                        for p, r, b, t in zip(prompts, references, answers[BASE], answers[TUNED], strict=True)]}  # fmt: skip


def _against_old(local, plan: Plan, criteria: SuccessCriteria, config: EvalConfig, run_dir: Path) -> dict:
    """[migrate] The tuned model vs the old fine-tune's recorded answers (the plan's golden folder). A golden
    folder gone missing is noted in the report, not fatal: the rest of the evaluation stands."""
    sampling = Sampling(temperature=0.0, max_tokens=config.max_new_tokens, seed=config.seed)
    found = runs.find_by_dir(run_dir)  # the Compare tab serves (and tallies votes for) a run by its id
    try:
        criteria = criteria if criteria.checks else golden_criteria(plan.golden)[0]
        return migration.migration_report(local, TUNED, plan.golden, criteria, sampling,
                                          run_id=found["run_id"] if found else run_dir.name, limit=config.golden_prompts)  # fmt: skip
    except RecordError as exc:
        return {"error": str(exc), "verdict": f"Not compared with the old fine-tune: {exc}"}


def _judge_ask(judge: JudgeConfig):
    api_key = os.environ.get(judge.api_key_env) if judge.api_key_env else None

    def ask(text: str) -> str:
        return openai_chat(judge.url, judge.model, [{"role": "user", "content": text}],
                           Sampling(temperature=0.0, max_tokens=judge.max_tokens), api_key=api_key)  # fmt: skip

    return ask


def _probe(local, config: EvalConfig) -> dict:
    probe = general_probe.load_probe()
    examples = [Example(prompt=[{"role": "user", "content": item.prompt}], reference="") for item in probe.prompts]
    sampling = Sampling(temperature=0.0, max_tokens=min(config.max_new_tokens, 64), seed=config.seed)
    answers = {n: generate_answers(local, n, examples, sampling) for n in (BASE, TUNED)}
    text = [Example(prompt=None, reference=probe.text)]
    ppl = {n: math.exp(min(heldout_loss(local, n, text, config.max_length), 50.0)) for n in (BASE, TUNED)}
    return general_probe.compare(probe, answers[BASE], answers[TUNED], ppl[BASE], ppl[TUNED])


def _loss_metrics(backend: TransformersBackend, name: str, examples: list[Example], max_length: int) -> dict:
    loss = heldout_loss(backend, name, examples, max_length)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}


def _answers(local, base_model: str, tuned_dir: Path, examples: list[Example], config: EvalConfig):
    """Answers of both models, from the already loaded transformers model or a vLLM server."""
    sampling = Sampling(temperature=0.0, max_tokens=config.max_new_tokens, seed=config.seed)
    if not examples:
        return {BASE: [], TUNED: []}, "none", None
    if config.backend == "transformers":
        engine, reason = local, None
        return {n: generate_answers(engine, n, examples, sampling) for n in (BASE, TUNED)}, "transformers", reason
    engine = open_backend(base_model, {TUNED: str(tuned_dir)}, backend=config.backend)
    try:
        answers = {n: generate_answers(engine, n, examples, sampling) for n in (BASE, TUNED)}
    finally:
        engine.close()
    return answers, engine.kind, engine.fallback_reason


def verdict(metrics: dict, judge: dict | None = None) -> str:
    """One plain sentence: did the tuned model beat the base, and by how much."""
    base, tuned = metrics[BASE], metrics[TUNED]
    change = (tuned["loss"] - base["loss"]) / base["loss"]
    loss_part = f"held-out loss {'fell' if change < 0 else 'rose'} {abs(change):.0%} ({base['loss']:.3f} -> {tuned['loss']:.3f})"
    if judge and judge.get("win_rate") is not None:
        rate = judge["win_rate"]
        head = "beat" if rate > 0.5 else ("tied with" if rate == 0.5 else "did not beat")
        return f"The tuned model {head} the base: the judge preferred it in {rate:.0%} of {judge['judged']} comparisons, and {loss_part}."
    better_loss = change < 0
    if "rouge_l" not in base:
        return f"The tuned model {'beat' if better_loss else 'did not beat'} the base: {loss_part}."
    rouge_part = f"ROUGE-L went from {base['rouge_l']:.2f} to {tuned['rouge_l']:.2f}"
    better_rouge = tuned["rouge_l"] > base["rouge_l"]
    if better_loss and tuned["rouge_l"] >= base["rouge_l"]:
        head = "beat the base"
    elif not better_loss and not better_rouge:
        head = "did not beat the base"
    else:
        head = "gave a mixed result against the base"
    return f"The tuned model {head}: {loss_part}, and {rouge_part}."


def write_report(out_dir: Path, report: dict) -> Path:
    """report.json, report.md and metrics.png, all or nothing (an existing report is replaced whole)."""
    with paths.atomic_dir(out_dir, replaces="report.json") as tmp:
        (tmp / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        (tmp / "report.md").write_text(_markdown(report), encoding="utf-8")
        _plot(report, tmp / "metrics.png")
        tmp.chmod(0o755)
    return out_dir


_ROWS = (("loss", "Held-out loss", "lower"), ("perplexity", "Perplexity", "lower"), ("exact_match", "Exact match", "higher"),
         ("token_f1", "Token F1", "higher"), ("rouge_l", "ROUGE-L", "higher"))  # fmt: skip


def _markdown(report: dict) -> str:
    base, tuned = report["metrics"][BASE], report["metrics"][TUNED]
    lines = [f"# Evaluation of {Path(report['run_dir']).name}", "", f"**{report['verdict']}**", "",
             f"Base `{report['base_model']}` vs tuned `{report['tuned']}` on {report['examples']} validation rows "
             f"({report['generated']} answered, backend: {report['backend']}).", "",
             "| Metric | Base | Tuned | Better |", "|---|---|---|---|"]  # fmt: skip
    for key, label, better in _ROWS:
        if key in base:
            lines.append(f"| {label} | {base[key]:.4g} | {tuned[key]:.4g} | {better} |")
    lines += _checks_markdown(report)  # [checks]
    lines += migration.markdown_lines(report.get("migration"))  # [migrate]
    judge = report.get("judge")
    if judge:
        rate = "n/a" if judge["win_rate"] is None else f"{judge['win_rate']:.0%}"
        lines += ["", f"Judge `{judge['model']}`: tuned win rate {rate} ({judge['tuned_wins']} won, "
                  f"{judge['base_wins']} lost, {judge['ties']} ties, {judge['unparsed']} unparsed)."]  # fmt: skip
        if judge.get("failed"):
            lines.append(f"The judge call failed on {judge['failed']} examples (unjudged): {judge['error']}")
    for n, sample in enumerate(report["samples"], 1):
        lines += ["", f"## Sample {n}", "", f"**Prompt:** {sample['prompt']}", "", f"**Reference:** {sample['reference']}",
                  "", f"**Base:** {sample['base']}", "", f"**Tuned:** {sample['tuned']}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _checks_markdown(report: dict) -> list[str]:
    """[checks] The success checks (base vs tuned pass rates, failing examples) and the probe."""
    lines, checked, probed = [], report.get("checks"), report.get("probe")
    if checked:
        v = checked["verdict"]
        lines += ["", "## Success checks", "", f"On `{Path(checked['split']).name}`: base {v['base_pass_rate']:.0%}, "
                  f"tuned {v['tuned_pass_rate']:.0%} of {v['tested']} prompts pass every check (target {v['target']:.0%}).", "",
                  "| Check | Base | Tuned |", "|---|---|---|"]  # fmt: skip
        for b, t in zip(checked[BASE]["checks"], checked[TUNED]["checks"], strict=True):
            cell = lambda r: r["skipped"] or f"{r['passed']}/{r['tested']}"  # noqa: E731
            lines.append(f"| {t['check']} | {cell(b)} | {cell(t)} |")
        for failure in checked[TUNED]["failures"]:
            lines.append(f"- tuned failed: **{failure['prompt'][:100]}** -> {failure['answer'][:150]!r} ({failure['why']})")
    if probed:
        lines += ["", "## General-ability probe", "", f"Base passes {probed['base_passed']} of {probed['prompts']} general prompts, "
                  f"tuned {probed['tuned_passed']}; perplexity on general text {probed['base_perplexity']:.1f} -> "
                  f"{probed['tuned_perplexity']:.1f}.", "", f"**{probed['flag'] or 'No loss of general skills beyond the tolerance.'}**"]  # fmt: skip
    return lines


def _plot(report: dict, out: Path) -> None:
    # The object API, not pyplot: pyplot's global figure state is not thread-safe, and the app evaluates
    # from Gradio worker threads. Agg draws without a display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    base, tuned = report["metrics"][BASE], report["metrics"][TUNED]
    scores = [(label, key) for key, label, _ in _ROWS[2:] if key in base]
    if report.get("judge") and report["judge"]["win_rate"] is not None:
        base["judge_win"], tuned["judge_win"] = 1 - report["judge"]["win_rate"], report["judge"]["win_rate"]
        scores.append(("Judge win rate", "judge_win"))
    fig = Figure(figsize=(10 if scores else 5, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if scores else 1, squeeze=False)
    _bars(axes[0][0], [("Loss", "loss")], base, tuned, "Held-out loss (lower is better)")
    if scores:
        _bars(axes[0][1], scores, base, tuned, "Scores (higher is better)")
        axes[0][1].set_ylim(0, 1.05)  # all scores are fractions; a fixed scale keeps runs comparable
    fig.suptitle(report["verdict"][:120], fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    base.pop("judge_win", None), tuned.pop("judge_win", None)


def _bars(ax, items: list[tuple[str, str]], base: dict, tuned: dict, title: str) -> None:
    xs = range(len(items))
    ax.bar([x - 0.2 for x in xs], [base[k] for _, k in items], 0.4, label="base")
    ax.bar([x + 0.2 for x in xs], [tuned[k] for _, k in items], 0.4, label="tuned")
    ax.set_xticks(list(xs), [label for label, _ in items])
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
