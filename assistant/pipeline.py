"""The graph's nodes after training starts: monitor the run, then read its evaluation and compare base and tuned.

`Assistant.advance(thread)` (or any message while a run trains) enters at `monitor`. While the job is
queued or active it narrates progress; once it completed, it reads the held-out evaluation that the job
itself ran as its last step (no browser or chat needs to be open for that), answers one held-out prompt
with both models, and says in plain words whether fine-tuning paid off.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING

from langgraph.constants import (
    END,  # a string; LangGraph itself loads with the graph, not with `import assistant`
)

from assistant.actions import Actions
from assistant.narrate import progress_text, results_text
from assistant.tools import ToolError
from tools.train import jobs
from tools.train.run_dir import RunDir
from tools.train.runs import ACTIVE as _RUNNING
from tools.train.runs import QUEUED

if TYPE_CHECKING:
    from langgraph.types import Command

ACTIVE = (*_RUNNING, QUEUED)
COMPARING = ("I'm answering a held-out prompt with the base and the tuned model now; the results follow here "
             "in a moment.")


def _say(text: str) -> dict:
    return {"role": "assistant", "content": text}


class Pipeline:
    """Nodes after launch, acting through the graph's typed `Actions`."""

    def __init__(self, actions: Actions):
        self.actions = actions

    def monitor(self, state: dict) -> Command:
        from langgraph.types import Command

        heard = [{"role": "user", "content": state["input"]}] if state.get("input") else []
        run_id = state.get("run_id")
        if not run_id:
            return Command(goto=END, update={"messages": heard + [_say("No training run is going yet.")]})
        try:
            status, calls = self.actions.traced(self.actions.training_status, run_id=run_id)
        except ToolError as exc:
            return Command(goto=END, update={"messages": heard + [_say(f"I couldn't read the run's status: {exc}")]})
        metrics = RunDir(status["run_dir"]).metrics() if status.get("run_dir") else []
        text = progress_text(status, metrics)
        update = {"tools_called": calls, "messages": heard + [_say(text)]}
        if status.get("status") in ACTIVE:
            return Command(goto=END, update=update)
        if status.get("status") != "completed":
            hint = " It can be resumed from its last checkpoint." if status.get("resumable") else ""
            return Command(goto=END, update={**update, "phase": "failed", "messages": heard + [_say(text + hint)]})
        ahead = comparison_args(state, status)
        if ahead and self.actions.comparing(**ahead):
            # `Assistant.advance` is comparing outside this conversation's lock: answer now, and leave the
            # results to it (it writes them under the lock once both models have answered).
            return Command(goto=END, update={**update, "messages": heard + [_say(f"{text} {COMPARING}")]})
        return Command(goto="evaluate", update={**update, "results": {"status": status}})

    def evaluate(self, state: dict) -> Command:
        """The evaluation report the job wrote (`eval/report.json`), or why there is none."""
        from langgraph.types import Command

        status = (state.get("results") or {}).get("status", {})
        run = RunDir(status.get("run_dir") or ".")
        report = run.eval_report()
        if report is None:
            why = status.get("error") or run.info().get("eval_error") or "evaluation was off in the approved plan"
            return Command(goto="compare", update={"messages": [_say(f"The run was not evaluated: {why}")]})
        update = {"results": {"status": status, "evaluation": _brief(report)}}
        migrated = (report.get("migration") or {}).get("verdict")
        if migrated:  # [migrate] the one sentence against the old fine-tune, said before the side-by-side
            update["messages"] = [_say(f"Against the old fine-tune: {migrated} In the Compare tab, pick \"old model "
                                       "(recorded)\" to vote blind on the held-out prompts; your votes join this sentence.")]
        return Command(goto="compare", update=update)

    def compare(self, state: dict) -> Command:
        from langgraph.types import Command

        results = dict(state.get("results") or {})
        args = comparison_args(state, results.get("status", {}))
        comparison, calls = None, []
        if args:
            try:
                comparison, calls = self.actions.traced(self.actions.compare_models, **args)
            except ToolError as exc:
                results["compare_error"] = str(exc)
        results["comparison"] = {k: comparison.get(k) for k in ("prompt", "base", "tuned")} if comparison else None
        text = results_text(results.get("evaluation"), results["comparison"])
        if results.get("compare_error"):
            text += f"\n\n(The side-by-side comparison failed: {results['compare_error']})"
        text += "\n\nOpen the Compare tab to try your own prompts and vote blind; votes become DPO data."
        # The verdict on the success checks (and the next round) follows: assistant.next_round.
        return Command(goto="verdict", update={"tools_called": calls, "results": results, "phase": "done",
                                               "messages": [_say(text)]})


def comparison_args(state: dict, status: dict) -> dict | None:
    """What the compare node asks `Actions.compare_models` for a finished run: the approved base model, the
    run's output, the held-out prompt and the evaluation's answer length (None: no held-out prompt)."""
    approved = (state.get("proposal") or {}).get("plan") or {}
    plan = approved.get("training", {})
    prompt = held_out_prompt((state.get("dataset") or {}).get("out_dir") or plan.get("data_dir"))
    if not prompt:
        return None
    tuned = status.get("output_dir") or str(Path(status.get("run_dir", ".")) / "adapter")
    return {"base_model": plan.get("base_model", "default"), "tuned_path": tuned, "prompt": prompt,
            "max_tokens": (approved.get("eval_settings") or {}).get("max_new_tokens", 128)}  # as long as the evaluation's


def compare_ahead(actions: Actions, state: dict) -> None:
    """The slow part of advancing a thread whose run has finished, done before its lock is taken (M7).

    Answering a held-out prompt with both models takes minutes on a CPU; under the conversation's lock the
    user's chat would hang meanwhile. `state`: the thread's graph values. Nothing happens unless the thread
    is training and its run completed; the graph's compare node then takes the result (`Actions.compare_ahead`).
    """
    run_id = state.get("run_id")
    if state.get("phase") != "training" or not run_id:
        return
    try:
        status = jobs.status(run_id).model_dump(mode="json")
    except Exception:  # the monitor node says why, under the lock
        return
    args = comparison_args(state, status) if status.get("status") == "completed" else None
    if args:
        actions.compare_ahead(**args)


def _brief(report: dict) -> dict:
    """The parts of an eval report worth keeping in the conversation (not the per-example answers)."""
    metrics = report.get("metrics") or {}
    return {"verdict": report.get("verdict"), "metrics": metrics, "migration": (report.get("migration") or {}).get("verdict"),
            "base_loss": (metrics.get("base") or {}).get("loss"), "tuned_loss": (metrics.get("tuned") or {}).get("loss")}


def held_out_prompt(data_dir: str | None) -> str | None:
    """The first user turn (or prompt) of the validation split: a prompt neither model trained on."""
    if not data_dir:
        return None
    path = Path(data_dir) / "validation.jsonl"
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as fh:  # the first lines only: a validation split can be 100 MB
        head = list(itertools.islice(fh, 50))
    for line in head:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        prompt = row.get("prompt")
        if isinstance(prompt, list):
            row = {"messages": prompt}
            prompt = None
        if isinstance(prompt, str) and prompt.strip():
            return prompt
        for msg in row.get("messages") or []:
            if isinstance(msg, dict) and msg.get("role") == "user" and msg.get("content"):
                return str(msg["content"])
        if isinstance(row.get("text"), str):
            return row["text"][:200]
    return None
