"""Training: a `TrainingPlan` the user approves, an estimate of whether it fits, and runs launched with TRL
in their own process (`launch`, `status`, `cancel`, `resume`, `list_runs`).

    from tools.train import TrainingPlan, estimate, launch, status
    plan = TrainingPlan(data_dir="~/.cache/finetune-assistant/datasets/support", method="lora", max_steps=100)
    print(estimate(plan).summary())
    run_id = launch(plan)

Importing this package is cheap: torch, transformers and TRL load only in the training process.
"""

from tools.train.estimate import Estimate, estimate
from tools.train.hardware import Hardware
from tools.train.launch import (
    RunError,
    RunStatus,
    cancel,
    launch,
    list_runs,
    read_metrics,
    resume,
    status,
    wait,
)
from tools.train.plan import PlanError, TrainingPlan

__all__ = [
    "Estimate", "Hardware", "PlanError", "RunError", "RunStatus", "TrainingPlan", "cancel", "estimate", "launch",
    "list_runs", "read_metrics", "resume", "status", "wait",
]
