"""Start, watch, cancel and resume training runs; each trains in its own process.

    from tools.train.launch import launch, status, cancel, resume, list_runs
    run_id = launch(plan)            # returns at once; the run folder and a registry row exist
    status(run_id).progress          # step/total, ETA, loss, resumable ...
    cancel(run_id)                   # finish the step, checkpoint, stop
    resume(run_id)                   # continue from the last checkpoint (after cancel, crash or kill -9)

The process is `python -m tools.train RUN_DIR`, or `accelerate launch` with the config written to
`RUN_DIR/accelerate_config.yaml` when the run uses more than one device. A crash can't take the app down.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tools import paths
from tools.procs import child_env, python_module
from tools.train import runs
from tools.train.callbacks import CANCEL_FLAG
from tools.train.plan import PlanError, TrainingPlan, read_report

_CHILDREN: dict[int, subprocess.Popen] = {}  # processes this app started, polled so they never linger as zombies


class RunStatus(BaseModel):
    """What the UI and the agent show about a run."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    name: str | None = None
    status: str
    run_dir: str
    base_model: str | None = None
    objective: str | None = None
    method: str | None = None
    step: int = 0
    total_steps: int | None = None
    progress: float | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    resumable: bool = False
    error: str | None = None
    output_dir: str | None = None
    pid: int | None = None

    @property
    def active(self) -> bool:
        return self.status in runs.ACTIVE


class RunError(RuntimeError):
    """A run request that can't be carried out (unknown run, already running, nothing to resume)."""


def launch(plan: TrainingPlan, run_id: str | None = None) -> str:
    """Create the run folder for `plan`, start training in a new process and return the run id at once."""
    data_dir = _check_data(plan)
    run_id = run_id or _new_run_id(plan)
    run_dir = Path(plan.output_dir).expanduser().resolve() if plan.output_dir else paths.runs_dir() / run_id
    if (run_dir / "plan.yaml").exists():
        raise RunError(f"{run_dir} already holds a run; resume it (finetune-assistant train --resume {run_dir}) "
                       "or choose another output folder.")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"{run_dir} exists and is not empty; choose a new output folder.")
    run_dir.mkdir(parents=True, exist_ok=True)
    model = Path(plan.base_model).expanduser()
    base = str(model.resolve()) if model.exists() else plan.base_model  # a local folder, independent of cwd
    resolved = plan.model_copy(update={"base_model": base, "data_dir": str(data_dir), "output_dir": str(run_dir)})
    resolved.to_yaml(run_dir / "plan.yaml")
    paths.atomic_write_text(run_dir / "run.json", json.dumps({"run_id": run_id, "status": "starting",
                                                              "created_at": time.time()}, indent=2))
    runs.upsert(run_id, run_dir=str(run_dir), status="starting", name=plan.name, base_model=plan.base_model,
                objective=plan.objective, method=plan.method)
    _spawn(run_id, run_dir, resolved)
    return run_id


def resume(run_id: str) -> str:
    """Continue a cancelled or failed run from its last complete checkpoint (from scratch if it has none)."""
    row = _row(run_id)
    if row["status"] in runs.ACTIVE:
        raise RunError(f"run {row['run_id']} is still {row['status']}; cancel it first or wait for it to finish.")
    if row["status"] == "completed":
        raise RunError(f"run {row['run_id']} already completed; launch a new run to train further.")
    run_dir = Path(row["run_dir"])
    plan = TrainingPlan.from_yaml(run_dir / "plan.yaml")
    (run_dir / CANCEL_FLAG).unlink(missing_ok=True)
    runs.upsert(row["run_id"], status="starting", error=None, pid=None, pid_start=None)
    _spawn(row["run_id"], run_dir, plan)
    return row["run_id"]


def cancel(run_id: str, wait_s: float = 0) -> RunStatus:
    """Ask the run to stop after its current step, keeping a checkpoint; optionally wait for it to stop."""
    row = _row(run_id)
    if row["status"] not in runs.ACTIVE:
        return status(row["run_id"])
    run_dir = Path(row["run_dir"])
    paths.atomic_write_text(run_dir / CANCEL_FLAG, "cancel requested\n")
    runs.upsert(row["run_id"], status="cancelling")
    # One process: SIGTERM reaches the trainer's handler at once. Several: the flag file alone, because
    # torchrun answers SIGTERM by killing its workers before they can checkpoint. A run still "starting"
    # may not have installed its handler yet; it sees the flag file at its first step.
    signal_it = row["status"] == "running" and not _is_multi_process(run_dir)
    if signal_it and row.get("pid") and runs.process_alive(row["pid"], row.get("pid_start")):
        os.kill(row["pid"], signal.SIGTERM)
    if wait_s:
        return wait(row["run_id"], timeout_s=wait_s)
    return status(row["run_id"])


def status(run_id: str) -> RunStatus:
    """The run's state now: a dead process shows as failed (and resumable when a checkpoint exists)."""
    _reap()
    return _to_status(runs.refresh(_row(run_id)))


def list_runs() -> list[RunStatus]:
    """Every run in the registry, newest first."""
    _reap()
    return [_to_status(runs.refresh(row)) for row in runs.all_runs()]


def wait(run_id: str, timeout_s: float | None = None, poll_s: float = 0.5) -> RunStatus:
    """Block until the run is no longer active (or `timeout_s` passes) and return its status."""
    deadline = None if timeout_s is None else time.time() + timeout_s
    while True:
        current = status(run_id)
        if not current.active or (deadline is not None and time.time() > deadline):
            return current
        time.sleep(poll_s)


def read_metrics(run_id: str) -> list[dict]:
    """The run's metrics.jsonl rows (step, epoch, loss, eval_loss, learning_rate, grad_norm, tokens_per_s, elapsed)."""
    path = Path(_row(run_id)["run_dir"]) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the line being written right now
    return rows


def _check_data(plan: TrainingPlan) -> Path:
    folder = Path(plan.data_dir).expanduser().resolve()
    if not (folder / "train.jsonl").is_file():
        raise PlanError(f"data_dir {folder} has no train.jsonl; prepare the data first (finetune-assistant data ...).")
    if read_report(folder) is None:
        raise PlanError(f"data_dir {folder} has no report.json; it is not a prepared dataset folder.")
    return folder


def _new_run_id(plan: TrainingPlan) -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{plan.objective}-{plan.method}-{secrets.token_hex(2)}".replace("_", "-")


def _row(run_id: str) -> dict:
    row = runs.get(run_id) or runs.find_by_dir(run_id)
    if row is None:
        raise RunError(f"no run '{run_id}'; `finetune-assistant runs` lists them.")
    return row


def _num_processes(plan: TrainingPlan) -> tuple[int, bool]:
    from tools.train.hardware import Hardware

    hw = Hardware.detect()
    on_gpu = hw.kind == "cuda"
    return plan.num_processes or (hw.device_count if on_gpu else 1), on_gpu


def _is_multi_process(run_dir: Path) -> bool:
    return (run_dir / "accelerate_config.yaml").is_file()


def _command(run_dir: Path, plan: TrainingPlan) -> list[str]:
    count, on_gpu = _num_processes(plan)
    if count <= 1:
        (run_dir / "accelerate_config.yaml").unlink(missing_ok=True)
        return python_module("tools.train", str(run_dir))
    from tools.train.accelerate_config import accelerate_config, write_accelerate_config
    from tools.train.estimate import compute_dtype, model_shape
    from tools.train.hardware import Hardware

    shape, _ = model_shape(plan.base_model)
    config = accelerate_config(plan, count, on_gpu, compute_dtype(plan, Hardware.detect()), shape.params)
    path = write_accelerate_config(run_dir / "accelerate_config.yaml", config)
    return [*python_module("accelerate.commands.launch"), "--config_file", str(path), "-m", "tools.train", str(run_dir)]


def _spawn(run_id: str, run_dir: Path, plan: TrainingPlan) -> None:
    command = _command(run_dir, plan)
    # Allow-listed, no UI password or LLM key (L7); the Hub token stays, the trainer may download the base model.
    env = child_env(hub=True, extra={"PYTHONUNBUFFERED": "1", paths.ENV_HOME: str(paths.home())})
    with open(run_dir / "stdout.log", "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        # A new session: the run outlives a closed terminal, and cancel/kill reach its whole process group.
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    runs.upsert(run_id, pid=proc.pid, pid_start=runs.process_start_time(proc.pid))


def _reap() -> None:
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def _to_status(row: dict) -> RunStatus:
    run_dir = Path(row["run_dir"])
    step, total = row.get("step") or 0, row.get("total_steps")
    elapsed, eta = _timing(run_dir, step, total)
    output = next((str(run_dir / d) for d in ("adapter", "model") if (run_dir / d).is_dir()), None)
    resumable = row["status"] in ("failed", "cancelled") and (run_dir / "plan.yaml").is_file()
    return RunStatus(
        run_id=row["run_id"], name=row.get("name"), status=row["status"], run_dir=str(run_dir),
        base_model=row.get("base_model"), objective=row.get("objective"), method=row.get("method"),
        step=step, total_steps=total, progress=round(step / total, 4) if total else None,
        eta_s=eta if row["status"] in runs.ACTIVE else None, elapsed_s=elapsed, loss=row.get("loss"),
        eval_loss=row.get("eval_loss"), resumable=resumable, error=row.get("error"), output_dir=output,
        pid=row.get("pid"),
    )


def _timing(run_dir: Path, step: int, total: int | None) -> tuple[float | None, float | None]:
    """Elapsed training time from the last metrics line, and the ETA at the average pace so far."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None, None
    lines = path.read_text(encoding="utf-8").strip().splitlines()
    try:
        last = json.loads(lines[-1]) if lines else {}
        first = json.loads(lines[0]) if lines else {}
    except json.JSONDecodeError:
        return None, None
    elapsed = last.get("elapsed")
    done = (last.get("step") or 0) - (first.get("step") or 0)
    span = (elapsed or 0) - (first.get("elapsed") or 0)
    if not total or done <= 0 or span <= 0:
        return elapsed, None
    return elapsed, round((total - step) * span / done, 1)
