"""Measured training speed of this machine, per model and technique, for time estimates that hold.

    from tools.train.throughput import record, lookup
    record(plan, run_dir)                 # after any run (or a short probe): seconds per token, startup
    lookup(plan)                          # {"sec_per_token", "startup_s", ...} or None

The FLOPs formula in `estimate.py` can be off several times on a CPU (the issue measured 8x and 2.2x):
peak FLOPs say little about a 2-core laptop under load. A run's own metrics say exactly how long a
trained token took here, so the estimator scales that: startup + tokens x seconds per token, plus the
evaluation passes. The cache lives in `<data dir>/throughput.json`, keyed by model, method, rank,
gradient checkpointing, precision and core count; the newest measurement wins (machines change load).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tools import paths
from tools.train.run_dir import RunDir

_FILE = "throughput.json"
EVAL_COST = 0.35  # an eval token costs about a third of a trained one (forward only, no optimizer)


def key(plan) -> str:
    rank = plan.lora_r if plan.method in ("lora", "qlora", "dora") else 0
    name = Path(str(plan.base_model)).name or str(plan.base_model)
    return f"{name}|{plan.objective}|{plan.method}|r{rank}|gc{int(plan.gradient_checkpointing)}|{plan.precision}|cpu{os.cpu_count()}"


def _path() -> Path:
    return paths.home() / _FILE


def _load() -> dict:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def measure(run_dir: str | Path) -> dict | None:
    """Seconds per trained token and startup seconds from a finished run folder, or None if too short."""
    run_dir = Path(run_dir)
    rows = RunDir(run_dir).metrics()
    train = [r for r in rows if r.get("loss") is not None and r.get("num_tokens") and r.get("elapsed") is not None]
    if len(train) < 3:
        return None
    # From the second logged step: the first carries one-off costs (allocations, lazy imports).
    first, last = train[1], train[-1]
    tokens, seconds = last["num_tokens"] - first["num_tokens"], last["elapsed"] - first["elapsed"]
    evals = [r for r in rows if r.get("eval_runtime")]
    seconds -= sum(r["eval_runtime"] for r in evals if first["elapsed"] < r["elapsed"] <= last["elapsed"])
    if tokens <= 0 or seconds <= 0:
        return None
    sec_per_token = seconds / tokens
    startup = _startup(run_dir, last["elapsed"], train[0], sec_per_token)
    return {"sec_per_token": sec_per_token, "startup_s": startup, "tokens": tokens, "measured_at": time.time(),
            "run_dir": str(run_dir)}  # fmt: skip


def _startup(run_dir: Path, train_elapsed: float, first_row: dict, sec_per_token: float) -> float | None:
    """Process start to the first step, plus the final save: the run's wall time not spent on steps."""
    created = RunDir(run_dir).info().get("created_at")
    if created is None:
        return None
    ended = max(p.stat().st_mtime for p in run_dir.rglob("*") if p.is_file())
    first_step = first_row["elapsed"] - first_row["num_tokens"] * sec_per_token
    return max(0.0, (ended - created) - train_elapsed + first_step)


def record(plan, run_dir: str | Path) -> dict | None:
    """Measure `run_dir` and store it under the plan's key (written atomically)."""
    found = measure(run_dir)
    if found is None:
        return None
    data = _load()
    previous = data.get(key(plan), {})
    if found["startup_s"] is None:
        found["startup_s"] = previous.get("startup_s")
    data[key(plan)] = found
    paths.atomic_write_text(_path(), json.dumps(data, indent=2))
    return found


def lookup(plan) -> dict | None:
    return _load().get(key(plan))


def duration_s(plan, train_tokens: int, eval_tokens: int, evals: int) -> float | None:
    """Predicted wall time of a run from this machine's measurement, or None when none is cached."""
    found = lookup(plan)
    if not found:
        return None
    startup = found.get("startup_s") or 30.0
    return startup + found["sec_per_token"] * (train_tokens + EVAL_COST * eval_tokens * evals)
