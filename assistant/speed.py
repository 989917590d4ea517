"""This machine's training speed, measured before the chat's first plan is shown.

A FLOPs guess of a CPU's speed can be off several times (the plan card said 46 min for a 6 min run), and
an hour-long guess also caps the run's updates, so the plan under-trains. When the plan would train here,
on a model already on disk, and no earlier run measured this model and technique on this machine, the
chat times a few training steps on the first rows of the user's own file (`auto.probe_speed`, about a
minute, once: the result is cached in `throughput.json`) and sizes the plan from that.

    wanted = probe_wanted(rec, conv)      # the draft plan to time, or None
    if wanted: measure(wanted, conv.data.location)

`FINETUNE_ASSISTANT_SPEED_PROBE=off` skips it: plans are then timed by the FLOPs guess until a run has
measured the speed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from assistant.fit import DRAFT_DATA_DIR, hardware_of
from assistant.recommend import Recommendation
from assistant.state import ConversationState
from tools import paths
from tools.data.head import sample
from tools.models.resolve import local_tokenizer
from tools.train import throughput
from tools.train.estimate import runs_here
from tools.train.plan import TrainingPlan

ENV = "FINETUNE_ASSISTANT_SPEED_PROBE"
PROBE_ROWS = 64  # enough for PROBE_STEPS updates of a default batch, and seconds to prepare


def enabled() -> bool:
    return os.environ.get(ENV, "on").strip().lower() not in {"0", "off", "false", "no"}


def probe_wanted(rec: Recommendation, conv: ConversationState) -> TrainingPlan | None:
    """The recommended plan as a draft to time here, when its speed is unknown and can be measured now."""
    if not (enabled() and rec.trains and conv.data.location and Path(conv.data.location).expanduser().exists()):
        return None
    if not runs_here(hardware_of(conv)[0]):
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
    return training


def measure(training: TrainingPlan, source: str | Path) -> dict | None:
    """Prepare the first PROBE_ROWS rows of `source` and time a few steps of `training` on them.

    Returns the cached measurement (`throughput.record`), or None when the probe could not run (the
    data or the model failed); the plan then keeps the FLOPs guess. Nothing of the user's is changed."""
    from assistant.auto import probe_speed
    from tools.data.prepare import prepare_data
    from tools.data.spec import DataSpec

    folder = paths.home() / "speed-probes" / re.sub(r"[^\w.-]+", "-", throughput.key(training))
    folder.mkdir(parents=True, exist_ok=True)
    rows = sample(Path(source).expanduser(), rows=PROBE_ROWS).rows
    if not rows:
        return None
    head = folder / "head.jsonl"
    paths.atomic_write_text(head, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    spec = DataSpec(model=training.base_model, max_length=training.max_length, val_fraction=0.0, test_fraction=0.0)
    report = prepare_data(head, folder / "data", spec)
    return probe_speed(training.model_copy(update={"data_dir": report.out_dir or str(folder / "data")}), folder / "runs")


def _machine_busy() -> bool:
    from tools.train import jobs

    try:
        return jobs.training_now() is not None or bool(jobs.queued())
    except Exception:  # a locked or missing store: don't probe on a guess
        return True
