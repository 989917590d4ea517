"""This machine's training speed, measured before the chat's first plan is shown.

A FLOPs guess of a CPU's speed can be off several times (the plan card said 46 min for a 6 min run), and
an hour-long guess also caps the run's updates, so the plan under-trains. When the plan would train here,
on a model already on disk, and no earlier run measured this model and technique on this machine, the
chat times a few training steps on the first rows of the user's own file (about a minute, once: the
result is cached in `throughput.json`) and sizes the plan from that. The probe is a throwaway: its
folder and its row in the runs registry are removed once the speed is read.

    wanted = probe_wanted(rec, conv)      # the draft plan to time, or None
    if wanted: measure(wanted, conv.data.location)

`FINETUNE_ASSISTANT_SPEED_PROBE=off` skips it: plans are then timed by the FLOPs guess until a run has
measured the speed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

from assistant.fit import DRAFT_DATA_DIR, estimate_for, hardware_of
from assistant.recommend import Recommendation
from assistant.state import ConversationState
from tools import paths
from tools.data.head import sample
from tools.data.prepare import prepare_data
from tools.data.spec import DataError, DataSpec
from tools.models.resolve import local_tokenizer
from tools.train import jobs, runs, throughput
from tools.train.estimate import runs_here
from tools.train.plan import Plan, TrainingPlan

ENV = "FINETUNE_ASSISTANT_SPEED_PROBE"
PROBE_ROWS = 64  # enough for PROBE_STEPS updates of a default batch, and seconds to prepare
PROBE_STEPS = 6  # the first logged step carries one-off costs; throughput.measure needs three after it
LONGEST_PROBE_S = 240  # a probe guessed longer than this (a big model on a CPU) is not worth the wait
START_WITHIN_S = 30  # a probe queued behind another run this long is given up: the chat must not wait hours


class ProbeError(RuntimeError):
    """The timed steps could not run; the message says why in the user's terms."""


def enabled() -> bool:
    return os.environ.get(ENV, "on").strip().lower() not in {"0", "off", "false", "no"}


def probe_wanted(rec: Recommendation, conv: ConversationState) -> TrainingPlan | None:
    """The recommended plan as a draft to time here, when its speed is unknown and can be measured now."""
    if not (enabled() and rec.trains and conv.data.location and Path(conv.data.location).expanduser().exists()):
        return None
    hw = hardware_of(conv)[0]
    if not runs_here(hw):
        return None  # planned for the user's other machine: this one's speed says nothing about it
    if local_tokenizer(rec.model) is None:
        return None  # a hub model: timing it would download its weights before anything was approved
    try:
        training = TrainingPlan(base_model=rec.model, data_dir=DRAFT_DATA_DIR, objective=rec.objective,
                                method=rec.method, **rec.hyperparameters)
    except ValueError:
        return None
    if throughput.lookup(training) is not None or _machine_busy():
        return None  # measured already; or a run holds the machine, and a probe beside it would time both
    short = training.model_copy(update={"max_steps": PROBE_STEPS})
    if estimate_for(conv, short, hw).duration_s > LONGEST_PROBE_S:
        return None  # minutes of timing before a plan is shown: the guess stands until the first run measures
    return training


def measure(training: TrainingPlan, source: str | Path, timeout_s: float = 600) -> dict:
    """Prepare the first PROBE_ROWS rows of `source` and time `training` on them (`time_steps`); the
    copy is removed after. Raises `ProbeError`."""

    folder = paths.home() / "speed-probes" / re.sub(r"[^\w.-]+", "-", throughput.key(training))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        rows = sample(Path(source).expanduser(), rows=PROBE_ROWS).rows
        if not rows:
            raise ProbeError("no readable rows at the start of the file")
        head = folder / "head.jsonl"
        paths.atomic_write_text(head, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        spec = DataSpec(model=training.base_model, max_length=training.max_length, val_fraction=0.0, test_fraction=0.0)
        try:
            report = prepare_data(head, folder / "data", spec)
        except DataError as exc:
            raise ProbeError(f"the first rows could not be prepared: {exc.message}") from None
        prepared = training.model_copy(update={"data_dir": report.out_dir or str(folder / "data")})
        return time_steps(prepared, folder / "run", timeout_s)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def time_steps(training: TrainingPlan, output_dir: str | Path, timeout_s: float = 600) -> dict:
    """Train PROBE_STEPS steps of `training` (its prepared data, batch and length) through the job queue and
    cache the measured speed under its key (`throughput.record`); the run's registry row is removed after.
    Raises `ProbeError`. `finetune-assistant auto` and the chat both time a plan with this."""

    fields = {**training.model_dump(), "max_steps": PROBE_STEPS, "eval_split": "none", "eval_steps": None,
              "save_steps": 10_000, "name": "speed-probe", "output_dir": str(output_dir)}  # fmt: skip
    run_id = jobs.submit(Plan(training=TrainingPlan(**fields), evaluate=False))
    try:
        status = _wait(run_id, timeout_s)
        if status.status != "completed":
            raise ProbeError(f"the timed steps {status.status}" + (f" ({_short(status.error)})" if status.error else ""))
        found = throughput.record(training, status.run_dir)
        if found is None:
            raise ProbeError("the timed steps logged too little to measure")
        return found
    finally:
        runs.forget(run_id)


def _wait(run_id: str, timeout_s: float):
    """The probe's final status; cancelled when it waits to start or runs past its time."""
    started = time.time()
    while True:
        jobs.start_next()  # the app's monitor does this too; here the chat waits on it
        current = jobs.status(run_id)
        if current.status != jobs.QUEUED and not current.active:
            return current
        waited = time.time() - started
        if (current.status == jobs.QUEUED and waited > START_WITHIN_S) or waited > timeout_s:
            jobs.cancel(run_id, wait_s=60)
            raise ProbeError("another run holds the machine" if current.status == jobs.QUEUED else "it took too long")
        time.sleep(1.0)


def _short(error: str) -> str:
    """The last line of a run's error ("ValueError: ..."), short enough for a chat message."""
    return error.strip().splitlines()[-1][:160] if error and error.strip() else ""


def _machine_busy() -> bool:
    try:
        return jobs.training_now() is not None or bool(jobs.queued())
    except Exception:  # a locked or missing store: don't probe on a guess
        return True
