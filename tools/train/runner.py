"""The training process: read `RUN_DIR/plan.yaml`, build the TRL trainer, train, save, write the model card.

    python -m tools.train RUN_DIR      # what launch() starts (or `accelerate launch ... -m tools.train RUN_DIR`)

It resumes from the last complete checkpoint in `RUN_DIR/checkpoints/` when there is one, so the same
command continues a cancelled, crashed or killed run. Only rank 0 writes the run folder's bookkeeping.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from pathlib import Path

from tools import paths
from tools.train import runs
from tools.train.callbacks import CANCEL_FLAG, CancelRequest, make_callbacks
from tools.train.plan import TrainingPlan

DEFAULT_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def read_run_info(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_run_info(run_dir: Path, **fields) -> dict:
    info = {**read_run_info(run_dir), **fields, "updated_at": time.time()}
    paths.atomic_write_text(run_dir / "run.json", json.dumps(info, indent=2, default=str))
    return info


def last_checkpoint(run_dir: Path, clean: bool = False) -> Path | None:
    """The newest checkpoint that finished saving (trainer_state.json is written last).

    With `clean`, newer half-written checkpoints (a kill -9 during a save) are removed.
    """
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return None
    found = sorted((p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for ckpt in found:
        if (ckpt / "trainer_state.json").is_file():
            return ckpt
        if clean:
            shutil.rmtree(ckpt, ignore_errors=True)
    return None


def _trim_metrics(run_dir: Path, step: int) -> float:
    """Drop metric lines past the checkpoint being resumed (they will be logged again); return elapsed so far."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return 0.0
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    kept = [r for r in rows if r.get("step", 0) <= step]
    paths.atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
    return float(kept[-1].get("elapsed") or 0.0) if kept else 0.0


def _quiet_libraries() -> None:
    """Progress bars of datasets/transformers would flood stdout.log; our metrics say the same."""
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()


def run(run_dir: str | Path, cancel: CancelRequest | None = None) -> str:
    """Train the plan in `run_dir` to the end; returns the final status: completed, cancelled or failed."""
    run_dir = Path(run_dir).expanduser().resolve()
    plan = TrainingPlan.from_yaml(run_dir / "plan.yaml")
    main = is_main_process()
    info = read_run_info(run_dir)
    run_id = info.get("run_id") or run_dir.name
    cancel = cancel or CancelRequest(run_dir)
    checkpoint = last_checkpoint(run_dir, clean=main)
    elapsed = _trim_metrics(run_dir, int(checkpoint.name.split("-")[-1])) if checkpoint and main else 0.0
    if not checkpoint and main and (run_dir / "metrics.jsonl").exists():
        (run_dir / "metrics.jsonl").unlink()  # a restart from scratch must not mix in the dead attempt's logs
    if main:
        _register(run_id, run_dir, plan, checkpoint)
    try:
        return _train(plan, run_dir, run_id, cancel, checkpoint, elapsed, main)
    except BaseException as exc:
        if main:
            error = f"{type(exc).__name__}: {exc}".strip()[:1000]
            write_run_info(run_dir, status="failed", error=error, finished_at=time.time())
            runs.upsert(run_id, status="failed", error=error)
        traceback.print_exc()
        raise


def _register(run_id: str, run_dir: Path, plan: TrainingPlan, checkpoint: Path | None) -> None:
    row = runs.get(run_id)
    fields = dict(run_dir=str(run_dir), status="running", name=plan.name, base_model=plan.base_model,
                  objective=plan.objective, method=plan.method, error=None)
    # Started by hand (`python -m tools.train RUN_DIR`) rather than by launch(): this process is the run.
    if row is None or not runs.process_alive(row.get("pid"), row.get("pid_start")):
        fields.update(pid=os.getpid(), pid_start=runs.process_start_time(os.getpid()))
    runs.upsert(run_id, **fields)
    write_run_info(run_dir, run_id=run_id, status="running", error=None, started_at=time.time(),
                   resumed_from=str(checkpoint) if checkpoint else None)
    print(f"[finetune-assistant] run {run_id}: "
          + (f"resuming from {checkpoint.name}" if checkpoint else "starting from the base model"), flush=True)


def _train(plan, run_dir, run_id, cancel, checkpoint, elapsed, main) -> str:
    from tools.models.resolve import resolve_model
    from tools.train.techniques import build_trainer

    _quiet_libraries()
    model_dir = resolve_model(plan.base_model)
    callbacks = make_callbacks(run_dir, run_id, cancel, elapsed_before=elapsed)
    trainer = build_trainer(plan, run_dir, model_dir, callbacks=callbacks)
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if callbacks[1].cancelled:
        if main:
            kept = last_checkpoint(run_dir)
            write_run_info(run_dir, status="cancelled", finished_at=time.time(), checkpoint=str(kept) if kept else None)
            runs.upsert(run_id, status="cancelled")
            (run_dir / CANCEL_FLAG).unlink(missing_ok=True)
        return "cancelled"
    final = save_outputs(trainer, plan, run_dir, model_dir)
    if main:
        results = {"run_dir": str(run_dir), "global_step": trainer.state.global_step, **output.metrics}
        _write_card(plan, run_dir, final, model_dir, results)
        write_run_info(run_dir, status="completed", finished_at=time.time(), output_dir=str(final),
                       global_step=trainer.state.global_step, train_loss=output.metrics.get("train_loss"),
                       model_dir=str(model_dir))
        runs.upsert(run_id, status="completed", step=trainer.state.global_step)
    return "completed"


def save_outputs(trainer, plan: TrainingPlan, run_dir: Path, model_dir: Path) -> Path:
    """The final adapter (`adapter/`) or full model (`model/`), renamed into place once complete."""
    from transformers import AutoTokenizer

    final = run_dir / ("model" if plan.method == "full" else "adapter")
    partial = run_dir / f".{final.name}.partial"
    main = is_main_process()
    if main:
        shutil.rmtree(partial, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(partial))  # every rank takes part (FSDP gathers the shards), rank 0 writes
    trainer.accelerator.wait_for_everyone()
    if main:
        # The original tokenizer, not the generation-marked training template.
        AutoTokenizer.from_pretrained(model_dir).save_pretrained(partial)
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
    trainer.accelerator.wait_for_everyone()
    return final


def _write_card(plan: TrainingPlan, run_dir: Path, final: Path, model_dir: Path, results: dict) -> None:
    from tools.models.resolve import is_default
    from tools.train.card import model_card

    metrics_file = run_dir / "metrics.jsonl"
    metrics = [json.loads(x) for x in metrics_file.read_text().splitlines() if x.strip()] if metrics_file.exists() else []
    base_name = DEFAULT_HUB_ID if is_default(plan.base_model) else plan.base_model
    card = model_card(plan, base_name, results, metrics)
    paths.atomic_write_text(final / "README.md", card)
    paths.atomic_write_text(run_dir / "README.md", card)
