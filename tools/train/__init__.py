"""Training: a `TrainingPlan` the user approves, an estimate of whether it fits, and jobs run with TRL in
their own process, one at a time, through one controller (`jobs`: submit, status, cancel, resume, wait).

    from tools.train import TrainingPlan, estimate, jobs
    plan = TrainingPlan(data_dir="~/.cache/finetune-assistant/datasets/support", method="lora", max_steps=100)
    print(estimate(plan).summary())
    run_id = jobs.submit(plan)

Importing this package is cheap: torch, transformers and TRL load only in the training process.
"""

from tools.train import jobs
from tools.train.estimate import Estimate, estimate
from tools.train.hardware import Hardware
from tools.train.jobs import cancel, list_runs, resume, status, submit, wait
from tools.train.plan import Plan, PlanError, TrainingPlan
from tools.train.run_dir import RunDir
from tools.train.runs import RunError, RunStatus

__all__ = [
    "Estimate", "Hardware", "Plan", "PlanError", "RunDir", "RunError", "RunStatus", "TrainingPlan", "cancel",
    "estimate", "jobs", "list_runs", "resume", "status", "submit", "wait",
]
