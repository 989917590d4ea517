"""The job's process: make the run folder, start `python -m tools.train RUN_DIR` in its own session, stop it.

    launch(plan, run_id, run_dir)   # checks, writes the plan and run info, spawns; raises PlanError/RunError
    respawn(row)                    # the same process again on an existing folder (resume)
    stop(row)                       # ask the job to finish its step, checkpoint and exit

This module knows processes, not policy: which run may start, and when, is `tools.train.jobs`' job (the
only caller). The process is `accelerate launch ... -m tools.train RUN_DIR` when the run uses more than
one device. A crash of the job can't take the app down, and the job outlives a closed terminal.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

from tools import paths
from tools.procs import child_env, process_alive, process_start_time, python_module
from tools.train import runs
from tools.train.accelerate_config import accelerate_config, write_accelerate_config
from tools.train.estimate import compute_dtype, model_shape
from tools.train.hardware import Hardware
from tools.train.plan import Plan, PlanError, TrainingPlan, check_runnable, read_report
from tools.train.run_dir import RunDir
from tools.train.runs import RunError

_CHILDREN: dict[int, subprocess.Popen] = {}  # processes this process started, polled so they never linger as zombies


def new_run_id(plan: TrainingPlan) -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{plan.objective}-{plan.method}-{secrets.token_hex(2)}".replace("_", "-")


def run_dir_for(plan: Plan, run_id: str) -> RunDir:
    """The run's folder: the plan's output_dir, else `<data dir>/runs/<run id>`."""
    out = plan.training.output_dir
    return RunDir(Path(out).expanduser().resolve() if out else paths.runs_dir() / run_id)


def check(plan: Plan, run: RunDir, run_id: str | None = None) -> None:
    """The checks that depend on this machine now: is the data there, is the folder free. Raises with what to do."""
    problems = check_runnable(plan)  # the data as it is now, CUDA/bitsandbytes/fp16 on this machine
    if problems:
        raise PlanError(" ".join(problems))
    if not plan.source:
        check_data(plan.training)
    if run_id is not None and run.info().get("run_id") == run_id:
        return  # this job's own earlier start, whose starter died before the spawn: start it again here
    if run.holds_run():
        raise RunError(f"{run.path} already holds a run; resume it (finetune-assistant train --resume {run.path}) "
                       "or choose another output folder.")
    # A CANCEL flag may be there already: the user cancelled the job between its claim and its start. A
    # temp file is what a starter killed while writing plan.yaml leaves: the retry starts the job there.
    if run.path.is_dir() and any(p != run.cancel_flag and not paths.is_partial_write(p) for p in run.path.iterdir()):
        raise RunError(f"{run.path} exists and is not empty; choose a new output folder.")


def check_data(plan: TrainingPlan) -> Path:
    folder = Path(plan.data_dir).expanduser().resolve()
    if not (folder / "train.jsonl").is_file():
        raise PlanError(f"data_dir {folder} has no train.jsonl; prepare the data first (finetune-assistant data ...).")
    if read_report(folder) is None:
        raise PlanError(f"data_dir {folder} has no report.json; it is not a prepared dataset folder.")
    return folder


def launch(plan: Plan, run_id: str, run: RunDir) -> None:
    """Write the run folder for `plan` and start its job process; the row must already say "starting"."""
    check(plan, run, run_id)
    run.path.mkdir(parents=True, exist_ok=True)
    for leftover in filter(paths.is_partial_write, run.path.iterdir()):
        leftover.unlink(missing_ok=True)
    training = plan.training
    model = Path(training.base_model).expanduser()
    base = str(model.resolve()) if model.exists() else training.base_model  # a local folder, independent of cwd
    update = {"base_model": base, "output_dir": str(run.path)}
    if not plan.source:
        update["data_dir"] = str(Path(training.data_dir).expanduser().resolve())
    run.write_plan(plan.model_copy(update={"training": training.model_copy(update=update)}))
    run.update_info(run_id=run_id, status="starting", created_at=time.time())
    spawn(run_id, run)


def respawn(row: dict) -> None:
    """Start the job process again on its existing folder: it resumes from the last checkpoint."""
    run = RunDir(row["run_dir"])
    run.cancel_flag.unlink(missing_ok=True)
    spawn(row["run_id"], run)


def spawn(run_id: str, run: RunDir) -> None:
    command = _command(run)
    # Allow-listed, no UI password or LLM key (L7); the Hub token stays, the trainer may download the base model.
    env = child_env(hub=True, extra={"PYTHONUNBUFFERED": "1", paths.ENV_HOME: str(paths.home())})
    with open(run.log_file, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        # A new session: the run outlives a closed terminal, and cancel/kill reach its whole process group.
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    runs.upsert(run_id, pid=proc.pid, pid_start=process_start_time(proc.pid))


def stop(row: dict) -> None:
    """Ask the job to stop after its current step, keeping a checkpoint (the flag file, and SIGTERM when safe)."""
    run = RunDir(row["run_dir"])
    run.path.mkdir(parents=True, exist_ok=True)
    paths.atomic_write_text(run.cancel_flag, "cancel requested\n")
    # One process: SIGTERM reaches the trainer's handler at once. Several: the flag file alone, because
    # torchrun answers SIGTERM by killing its workers before they can checkpoint. A job still starting
    # may not have installed its handler yet; it sees the flag file at its next phase or step.
    signal_it = row["status"] in ("preparing", "running", "evaluating") and not run.accelerate_config.is_file()
    if signal_it and row.get("pid") and process_alive(row["pid"], row.get("pid_start")):
        os.kill(row["pid"], signal.SIGTERM)


def reap() -> None:
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def _num_processes(plan: TrainingPlan) -> tuple[int, bool]:
    hw = Hardware.detect()
    on_gpu = hw.kind == "cuda"
    return plan.num_processes or (hw.device_count if on_gpu else 1), on_gpu


def _command(run: RunDir) -> list[str]:
    plan = run.plan().training
    count, on_gpu = _num_processes(plan)
    if count <= 1:
        run.accelerate_config.unlink(missing_ok=True)
        return python_module("tools.train", str(run.path))
    shape, _ = model_shape(plan.base_model)
    config = accelerate_config(plan, count, on_gpu, compute_dtype(plan, Hardware.detect()), shape.params)
    path = write_accelerate_config(run.accelerate_config, config)
    return [*python_module("accelerate.commands.launch"), "--config_file", str(path), "-m", "tools.train", str(run.path)]
