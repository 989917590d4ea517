"""Trainer callbacks of the training process: metrics to the run folder and the registry, graceful cancel.

Built by `make_callbacks()` inside the training process (they subclass transformers' `TrainerCallback`,
so transformers is imported there, never by the app).
"""

from __future__ import annotations

import resource
import signal
import time

from tools.train import runs
from tools.train.run_dir import RunDir

METRIC_KEYS = ("step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_s", "elapsed")


class CancelRequest:
    """Set by SIGTERM or by the flag file `RUN_DIR/CANCEL` (which `jobs.cancel` writes)."""

    def __init__(self, run_dir):
        self.flag = RunDir(run_dir).cancel_flag
        self.signalled = False

    def install_signal_handler(self) -> None:
        def _handler(signum, frame):
            self.signalled = True

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def requested(self) -> bool:
        return self.signalled or self.flag.exists()


def make_callbacks(run: RunDir, run_id: str, cancel: CancelRequest, elapsed_before: float = 0.0) -> list:
    from transformers import TrainerCallback

    class MetricsCallback(TrainerCallback):
        """Appends one JSON line per log to the run's metrics and mirrors progress into the runs registry.

        The registry is a mirror for the UI: a locked or full database skips an update (`try_upsert`),
        it never stops training (L5).
        """

        def __init__(self):
            self.start = time.time()
            self.last_tokens: tuple[float, float] | None = None
            self.last_sync = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                runs.try_upsert(run_id, status="running", total_steps=state.max_steps, step=state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            # Progress for the UI between logs, at most every 2 s so SQLite is not hammered.
            if state.is_world_process_zero and time.time() - self.last_sync > 2:
                self.last_sync = time.time()
                runs.try_upsert(run_id, step=state.global_step, total_steps=state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            now = time.time()
            row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4),
                   "loss": logs.get("loss"), "eval_loss": logs.get("eval_loss"),
                   "learning_rate": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"),
                   "tokens_per_s": self._tokens_per_s(logs, now), "elapsed": round(elapsed_before + now - self.start, 2)}
            row.update({k: v for k, v in logs.items() if k not in row and isinstance(v, int | float)})
            run.append_metric(row)
            update = {"step": state.global_step, "total_steps": state.max_steps}
            for key in ("loss", "eval_loss"):
                if row[key] is not None:
                    update[key] = row[key]
            runs.try_upsert(run_id, **update)

        def _tokens_per_s(self, logs: dict, now: float) -> float | None:
            # TRL logs a running count of trained tokens; the rate is its change since the previous log.
            tokens = logs.get("num_tokens")
            if tokens is None or "loss" not in logs:
                return None
            previous, self.last_tokens = self.last_tokens, (tokens, now)
            if previous is None or tokens <= previous[0] or now <= previous[1]:
                return None
            return round((tokens - previous[0]) / (now - previous[1]), 1)

        def on_train_end(self, args, state, control, **kwargs):
            # The measured peak sits next to the plan's prediction (`estimate`) so both the user and the
            # estimator benchmark can see how far off the prediction was.
            if state.is_world_process_zero:
                run.update_info(**peak_memory_gb())

    class CancelCallback(TrainerCallback):
        """Stops after the current step with a checkpoint, when cancel is requested on any process."""

        def __init__(self):
            self.cancelled = False

        def on_step_end(self, args, state, control, **kwargs):
            if _agreed(cancel.requested(), args):
                self.cancelled = True
                control.should_save = True
                control.should_training_stop = True
            return control

    return [MetricsCallback(), CancelCallback()]


def peak_memory_gb() -> dict[str, float]:
    """Peak memory of this process so far: resident set on the host, and allocator peak on a GPU."""
    import torch

    peak = {"peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3)}  # KiB on Linux
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        peak["peak_gpu_gb"] = round(torch.cuda.max_memory_reserved() / 1024**3, 3)
    return peak


def _agreed(flag: bool, args) -> bool:
    """With several processes every rank must stop at the same step, so they vote (any one is enough)."""
    if args.world_size <= 1:
        return flag
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([1 if flag else 0], device=args.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())
