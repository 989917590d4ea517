"""Training: a `TrainingPlan` the user approves, an estimate of whether it fits, and runs launched with TRL
in their own process (`launch`, `status`, `cancel`, `resume`, `list_runs`).

    from tools.train import TrainingPlan, estimate, launch, status
    run_id = launch(TrainingPlan(data_dir="...", method="lora", max_steps=100))

Importing this package is cheap: torch, transformers and TRL load only in the training process.
"""

from tools.train.estimate import Estimate, estimate
from tools.train.hardware import Hardware
from tools.train.plan import PlanError, TrainingPlan

__all__ = ["Estimate", "Hardware", "PlanError", "TrainingPlan", "estimate"]
