"""What the graph does after the user approves, as typed calls, each recorded before it runs.

    actions = Actions()
    report = actions.prepare_data(plan)            # a `Plan` in, the data report (a dict, its own out_dir) out
    run_id = actions.launch_training(plan)         # `tools.train.jobs.submit`: starts now or queues
    actions.calls                                  # [{"tool": "prepare_data", "args": {...}}, ...]

A reader follows "what runs when the user approves" by reading calls, not tool names. The record is how
tests and the UI know that nothing acted before the approval. Failures come back as `ToolError` with the
tool's own message, ready for the chat.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tools.data import prepare_once
from tools.evaluate.compare import compare
from tools.evaluate.heldout import evaluate
from tools.monitor.export import next_round_data
from tools.serve.backends import Sampling, open_backend
from tools.train import jobs
from tools.train.estimate import Estimate, estimate
from tools.train.hardware import Hardware
from tools.train.plan import Plan, TrainingPlan

_KEEP_CALLS = 1000  # the UI's one Actions serves every session for the app's lifetime: keep the latest only
_KEEP_AHEAD = 32  # comparisons computed ahead and not (yet) taken: a thread that moved on leaves its own behind


class ToolError(RuntimeError):
    """An action failed; the message is for the user (no traceback)."""


class Actions:
    """The acting steps of the graph, each a typed method; `calls` records every call, newest last."""

    def __init__(self, engines: Callable[[str, dict[str, str]], AbstractContextManager] | None = None) -> None:
        """`engines(base_model, {name: adapter or model folder})`: a context manager holding a shared serving
        engine to compare on while the block runs (the app's `SharedBackends.use`, which neither evicts it
        meanwhile nor keeps it past a training run's start); None opens a private one per comparison."""
        self.calls: list[dict[str, Any]] = []
        self.engines = engines
        self._ahead: OrderedDict[tuple, Future] = OrderedDict()
        self._ahead_lock = threading.Lock()

    def _record(self, tool: str, **args: Any) -> list[dict]:
        record = [{"tool": tool, "args": args}]
        self.calls += record
        del self.calls[:-_KEEP_CALLS]
        return record

    def prepare_data(self, plan: Plan) -> dict:
        """Validate, clean, redact, dedupe, tokenize and split `plan.source` into a folder of its own.

        The folder is named by the source's content and the data settings (`out_dir` in the report): an
        approval never rewrites data that an earlier, running or queued run uses (M9); the same file with
        the same settings reuses the earlier preparation."""
        self._record("prepare_data", source=plan.source, out_dir=plan.training.data_dir)
        with _as_tool_error("prepare_data"):
            return prepare_once(plan.source, plan.data).model_dump(mode="json")

    def estimate_plan(self, training: TrainingPlan, hardware: Hardware | str | None = None) -> Estimate:
        """Peak memory and duration on `hardware` (None: this machine)."""
        self._record("estimate_plan", data_dir=training.data_dir)
        with _as_tool_error("estimate_plan"):
            return estimate(training, hardware)

    def launch_training(self, plan: Plan, owner: str | None = None) -> str:
        """Start (or queue) the training run for `owner` (the logged-in user, if any); returns its run id at once."""
        self._record("launch_training", data_dir=plan.training.data_dir)
        with _as_tool_error("launch_training"):
            # The graph prepared the data already (so the chat could report that step): the job trains on the
            # prepared folder and then evaluates, and plan.yaml keeps the data spec and the file's own name.
            return jobs.submit(plan.revised(source=None), owner=owner)

    def training_status(self, run_id: str) -> dict:
        self._record("training_status", run_id=run_id)
        with _as_tool_error("training_status"):
            return jobs.status(run_id).model_dump(mode="json")

    def evaluate_run(self, run_dir: str) -> dict:
        self._record("evaluate_run", run_dir=run_dir)
        with _as_tool_error("evaluate_run"):
            return evaluate(run_dir)

    def compare_models(self, base_model: str, tuned_path: str, prompt: str, backend: str = "transformers",
                       max_tokens: int = 128) -> dict:
        """The same prompt answered by the base and the tuned model (greedy, same chat template).

        Taken as it is when `compare_ahead` computed it already for these arguments (waiting for it to end)."""
        self._record("compare_models", base_model=base_model, tuned_path=tuned_path)
        key = (base_model, tuned_path, prompt, backend, max_tokens)
        with self._ahead_lock:
            ahead = self._ahead.pop(key, None)
        with _as_tool_error("compare_models"):
            if ahead is not None:
                return ahead.result()
            return self._compare(*key)

    def compare_ahead(self, base_model: str, tuned_path: str, prompt: str, backend: str = "transformers",
                      max_tokens: int = 128) -> None:
        """Compute `compare_models(...)` now, unrecorded, for its next call with these arguments to take.

        `Assistant.advance` runs this slow side-by-side before it takes the conversation's lock (M7), so the
        user's chat answers meanwhile; the graph's compare node then takes the result under the lock. A
        second call with the same arguments waits for the first instead of comparing again. Never raises:
        a failure is kept and raised by the `compare_models` call that takes it."""
        key = (base_model, tuned_path, prompt, backend, max_tokens)
        with self._ahead_lock:
            running = self._ahead.get(key)
            if running is None:
                mine = self._ahead[key] = Future()
                while len(self._ahead) > _KEEP_AHEAD:
                    self._ahead.popitem(last=False)
        if running is not None:
            running.exception()  # waits for the first caller's comparison
            return
        try:
            mine.set_result(self._compare(*key))
        except Exception as exc:
            mine.set_exception(exc)

    def comparing(self, base_model: str, tuned_path: str, prompt: str, backend: str = "transformers",
                  max_tokens: int = 128) -> bool:
        """Whether `compare_ahead` is still computing this comparison."""
        with self._ahead_lock:
            ahead = self._ahead.get((base_model, tuned_path, prompt, backend, max_tokens))
        return ahead is not None and not ahead.done()

    def _compare(self, base_model: str, tuned_path: str, prompt: str, backend: str, max_tokens: int) -> dict:
        sampling = Sampling(max_tokens=max_tokens)
        if self.engines is not None:
            # The app's engine: one copy of the base in memory, counted and freed like every comparison (H5, M7).
            name = Path(tuned_path).parent.name or "tuned"
            with self.engines(base_model, {name: str(Path(tuned_path))}) as engine:
                result = compare(engine, prompt, tuned=name, sampling=sampling)
        else:
            engine = open_backend(base_model, {"tuned": str(Path(tuned_path))}, backend=backend)
            try:
                result = compare(engine, prompt, tuned="tuned", sampling=sampling)
            finally:
                engine.close()
        return {**asdict(result), "base": result.answers["base"], "tuned": result.answers["tuned"]}

    def export_traffic(self) -> dict:
        """Rated traffic of the deployed models as the next round's data (thumbs -> KTO rows; corrections
        -> SFT rows when nothing was rated); {"path", "kind", "rows", "rated"}. Writes one file in the data dir."""
        self._record("export_traffic")
        with _as_tool_error("export_traffic"):
            try:
                return next_round_data("kto")
            except ValueError as nothing_rated:
                try:
                    return next_round_data("sft")
                except ValueError:
                    raise nothing_rated from None

    def traced(self, step: Callable[..., Any], **args: Any) -> tuple[Any, list[dict]]:
        """(result, the call records it made): the monitor/evaluate/compare nodes keep those in the state."""
        before = len(self.calls)
        return step(**args), self.calls[before:]


class _as_tool_error:
    """Turn any failure inside the block into a `ToolError` naming the step, with the tool's own message."""

    def __init__(self, step: str):
        self.step = step

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None and isinstance(exc, Exception) and not isinstance(exc, ToolError):
            raise ToolError(f"{self.step} failed: {exc}") from exc
        return False
