"""The project's tools as LangChain `StructuredTool`s, and the `ToolBox` the agent calls them through.

    box = ToolBox()                                   # every tool below
    report = box.call("prepare_data", source="chats.jsonl", out_dir="...")
    box.calls                                         # [{"tool": "prepare_data", "args": {...}}]

Each wrapper takes a pydantic argument schema and forwards to a plain function in `tools/`; the tool
modules are imported inside the call, so this module imports (and `--help` runs) without torch or the
tool modules themselves. The ToolBox records every call before making it: that record is how tests and the
UI know that nothing ran before the user approved.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InspectArgs(_Args):
    path: str = Field(..., description="The user's data file or folder (never modified).")
    model: str = Field("default", description="Model whose tokenizer counts tokens.")
    max_length: int = Field(1024, ge=8)


class PrepareArgs(_Args):
    source: str = Field(..., description="The user's data file or folder (never modified).")
    out_dir: str = Field(..., description="Prepared dataset folder to write (atomically).")
    model: str = Field("default", description="Model whose tokenizer and chat template count tokens.")
    max_length: int = Field(1024, ge=8)
    val_fraction: float = Field(0.1, ge=0.0, le=0.5)
    pii_redaction: bool = True
    near_dedupe_threshold: float | None = Field(0.85, gt=0.0, le=1.0)


class EstimateArgs(_Args):
    plan: dict[str, Any] = Field(..., description="TrainingPlan fields.")
    hardware: str | None = Field(None, description="'1x RTX 4090 24 GB', 'CPU 16 GB'; None: this machine.")


class LaunchArgs(_Args):
    plan: dict[str, Any] = Field(..., description="TrainingPlan fields, as approved by the user.")


class RunArgs(_Args):
    run_id: str


class EvalArgs(_Args):
    run_dir: str = Field(..., description="The run folder (holds plan.yaml and adapter/ or model/).")


class CompareArgs(_Args):
    base_model: str = Field(..., description="'default', a local folder or a hub id.")
    tuned_path: str = Field(..., description="The run's adapter/ or model/ folder.")
    prompt: str
    backend: str = Field("transformers", description="auto, vllm or transformers.")
    max_tokens: int = Field(128, ge=1, le=4096)


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def inspect_data(path: str, model: str = "default", max_length: int = 1024) -> dict:
    """Detect the layout of a data file and report rows, errors, duplicates, PII and token lengths."""
    from tools.data import DataSpec
    from tools.data import inspect_data as run

    return _dump(run(path, DataSpec(model=model, max_length=max_length)))


def prepare_data(source: str, out_dir: str, model: str = "default", max_length: int = 1024,
                 val_fraction: float = 0.1, pii_redaction: bool = True,
                 near_dedupe_threshold: float | None = 0.85) -> dict:
    """Validate, clean, redact PII, dedupe, tokenize and split a data file into a prepared folder."""
    from tools.data import DataSpec
    from tools.data import prepare_data as run

    spec = DataSpec(model=model, max_length=max_length, val_fraction=val_fraction, pii_redaction=pii_redaction,
                    near_dedupe_threshold=near_dedupe_threshold)
    return _dump(run(source, out_dir, spec))


def estimate_plan(plan: dict[str, Any], hardware: str | None = None) -> dict:
    """Predict peak memory and duration of a training plan and say whether it fits."""
    from tools.train.estimate import estimate
    from tools.train.plan import build_plan

    return _dump(estimate(build_plan(plan), hardware))


def launch_training(plan: dict[str, Any]) -> str:
    """Start training in its own process (or queue it while another run trains); returns the run id at once."""
    from tools.train.jobs import submit
    from tools.train.plan import build_plan

    return submit(build_plan(plan))


def training_status(run_id: str) -> dict:
    """A run's status, step/total, losses and folder."""
    from tools.train.launch import status

    return _dump(status(run_id))


def evaluate_run(run_dir: str) -> dict:
    """Held-out loss, perplexity and reference metrics for base and tuned, with a one-line verdict."""
    from tools.evaluate.heldout import evaluate

    return evaluate(run_dir)


def compare_models(base_model: str, tuned_path: str, prompt: str, backend: str = "transformers",
                   max_tokens: int = 128) -> dict:
    """The same prompt answered by the base and the tuned model (greedy, same chat template)."""
    from dataclasses import asdict

    from tools.serve.backends import Sampling, open_backend
    from tools.evaluate.compare import compare

    engine = open_backend(base_model, {"tuned": tuned_path}, backend=backend)
    try:
        result = compare(engine, prompt, tuned="tuned", sampling=Sampling(max_tokens=max_tokens))
    finally:
        engine.close()
    return {**asdict(result), "base": result.answers["base"], "tuned": result.answers["tuned"]}


_SPECS: list[tuple[str, Any, type[_Args]]] = [
    ("inspect_data", inspect_data, InspectArgs),
    ("prepare_data", prepare_data, PrepareArgs),
    ("estimate_plan", estimate_plan, EstimateArgs),
    ("launch_training", launch_training, LaunchArgs),
    ("training_status", training_status, RunArgs),
    ("evaluate_run", evaluate_run, EvalArgs),
    ("compare_models", compare_models, CompareArgs),
]
# Tools that change something (write data, start processes): never before the user approves.
ACTING = frozenset({"prepare_data", "launch_training", "evaluate_run", "compare_models"})


def default_tools() -> list:
    from langchain_core.tools import StructuredTool

    return [StructuredTool.from_function(func=fn, name=name, description=fn.__doc__, args_schema=schema)
            for name, fn, schema in _SPECS]


class ToolError(RuntimeError):
    """A tool failed; the message is for the user (no traceback)."""


_KEEP_CALLS = 1000  # the UI's one ToolBox serves every session for the app's lifetime: keep the latest only


class ToolBox:
    """The tools the agent may call, and a record of every call made through it."""

    def __init__(self, tools: list | None = None):
        self.tools = {t.name: t for t in (tools if tools is not None else default_tools())}
        self.calls: list[dict[str, Any]] = []

    def call(self, name: str, **args: Any) -> Any:
        if name not in self.tools:
            raise ToolError(f"no tool named {name}")
        self.calls.append({"tool": name, "args": args})
        del self.calls[:-_KEEP_CALLS]
        try:
            return self.tools[name].invoke(args)
        except Exception as exc:  # the tool's own message is what the user needs
            raise ToolError(f"{name} failed: {exc}") from exc
