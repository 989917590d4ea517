"""The job process: run the approved Plan in `RUN_DIR` from start to end, then hand the machine to the next job.

    python -m tools.train RUN_DIR      # what the job controller starts (or `accelerate launch ... -m tools.train RUN_DIR`)

Its phases, each recorded in the run folder and the runs registry:
  1. preparing  (when `plan.source` is set) the data into a folder named by the content of the source and
                the DataSpec, so a re-approval with other data or settings never rewrites data that another
                run trained on (M9); identical inputs reuse the folder;
  2. running    training with TRL, resuming from the last complete checkpoint in `RUN_DIR/checkpoints/`, so the
                same command continues a cancelled, crashed or killed run;
  3. evaluating (when `plan.evaluate`) base vs tuned on the held-out split, into `RUN_DIR/eval/`;
and last `jobs.start_next()`, so the queue moves with no app or browser open. Only rank 0 writes bookkeeping.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from tools.data import prepare_once
from tools.evaluate.heldout import EvalConfig, evaluate
from tools.models.resolve import is_default, resolve_model
from tools.procs import process_alive, process_start_time
from tools.serve import holds
from tools.train import jobs, runs
from tools.train.callbacks import CancelRequest, make_callbacks
from tools.train.card import model_card
from tools.train.launch import check_data
from tools.train.plan import Plan, TrainingPlan, read_report
from tools.train.run_dir import RunDir
from tools.train.techniques import build_trainer

DEFAULT_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_DATA_WAIT_S = 6 * 3600  # other ranks wait this long for rank 0 to prepare the data


class Cancelled(Exception):
    """The user cancelled between phases."""


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run(run_dir: str | Path, cancel: CancelRequest | None = None, chain: bool = True) -> str:
    """Run the job in `run_dir` to the end; returns completed, cancelled or failed (raising on failure).

    `chain`: start the next queued job once this one has ended (what the job process does).
    """
    run = RunDir(Path(run_dir).expanduser().resolve())
    main = is_main_process()
    run_id = run.info().get("run_id") or run.name
    cancel = cancel or CancelRequest(run.path)
    try:
        return _job(run, run_id, cancel, main)
    except Cancelled:
        if main:
            # The step shown is the kept checkpoint's, the one a resume continues from, not the last one
            # mirrored (a cancel during startup would otherwise show the step a killed attempt reached).
            _finish(run, run_id, "cancelled", checkpoint=str(run.last_checkpoint() or "") or None,
                    step=run.kept_step())
        return "cancelled"
    except BaseException as exc:
        if main:
            _finish(run, run_id, "failed", error=f"{type(exc).__name__}: {exc}".strip()[:1000])
        traceback.print_exc()
        raise
    finally:
        if main and chain:
            _hand_over()


def _job(run: RunDir, run_id: str, cancel: CancelRequest, main: bool) -> str:
    plan = run.plan()
    if main:
        owner = _owner(run_id)
        runs.try_upsert(run_id, run_dir=str(run.path), status="starting", error=None, **owner, **_labels(plan.training))
        run.update_info(run_id=run_id, status="starting", error=None, started_at=time.time())
    if cancel.requested():
        raise Cancelled
    if plan.source:
        plan = _prepare(run, run_id, plan) if main else _wait_for_data(run)
    check_data(plan.training)
    if cancel.requested():
        raise Cancelled
    if _train(plan.training, run, run_id, cancel, main) == "cancelled":
        raise Cancelled
    if main and plan.evaluate:
        _evaluate(run, run_id)
    if main:
        _finish(run, run_id, "completed", step=run.info().get("global_step"))
    return "completed"


def _phase(run: RunDir, run_id: str, phase: str) -> None:
    runs.try_upsert(run_id, status=phase)
    run.update_info(status=phase, **{f"{phase}_at": time.time()})
    print(f"[finetune-assistant] run {run_id}: {phase}", flush=True)


def _finish(run: RunDir, run_id: str, status: str, error: str | None = None, **fields) -> None:
    run.update_info(status=status, error=error, finished_at=time.time(), **fields)
    run.cancel_flag.unlink(missing_ok=True)
    final = {k: v for k, v in fields.items() if k == "step" and v is not None}
    if error is None and status == "completed":
        error = run.info().get("eval_error")  # the run completed; its evaluation did not
    runs.try_upsert(run_id, status=status, error=error, **final)
    print(f"[finetune-assistant] run {run_id}: {status}" + (f" ({error})" if error else ""), flush=True)


def _hand_over() -> None:
    """Start the next queued job; this one no longer holds the machine."""
    try:
        started = jobs.start_next()
        deferred = started is None and bool(jobs.queued()) and bool(holds.holders())
    except Exception as exc:  # the app's worker (or the next `train`) retries; this job's result stands
        print(f"[finetune-assistant] could not start the next queued job: {exc}", flush=True)
        return
    if started:
        print(f"[finetune-assistant] started the next queued job: {started}", flush=True)
    elif deferred:  # the app's serving engine holds GPU memory that only the app can free (H5)
        print("[finetune-assistant] the next queued job is left to the app, which frees GPU memory first", flush=True)


def _labels(plan: TrainingPlan) -> dict:
    return dict(name=plan.name, base_model=plan.base_model, objective=plan.objective, method=plan.method)


# ---------------------------------------------------------------- 1. data


def _prepare(run: RunDir, run_id: str, plan: Plan) -> Plan:
    """Prepare `plan.source` (or reuse the identical earlier preparation) and point the plan at it."""
    prepared = run.info().get("data_dir")
    if prepared and prepared == plan.training.data_dir and read_report(prepared):
        return plan  # a resumed job trains on the data its first attempt prepared
    _phase(run, run_id, "preparing")
    target = Path(prepare_once(plan.source, plan.data).out_dir)
    # Validated again against the real data: e.g. DPO needs preference rows.
    training = TrainingPlan(**{**plan.training.model_dump(), "data_dir": str(target)})
    plan = plan.model_copy(update={"training": training})
    run.write_plan(plan)
    run.update_info(data_dir=str(target))
    return plan


def _wait_for_data(run: RunDir) -> Plan:
    """Ranks other than 0: wait for rank 0 to prepare the data and rewrite the plan file."""
    deadline = time.time() + _DATA_WAIT_S
    while time.time() < deadline:
        plan = run.plan()
        if run.info().get("data_dir") == plan.training.data_dir and read_report(plan.training.data_dir):
            return plan
        if run.info().get("status") in runs.FINAL:
            raise RuntimeError("rank 0 stopped before the data was ready")
        time.sleep(2)
    raise TimeoutError("the data was not prepared in time")


# ---------------------------------------------------------------- 2. training


def _quiet_libraries() -> None:
    """Progress bars of datasets/transformers would flood the log; our metrics say the same."""
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()


def _train(plan: TrainingPlan, run: RunDir, run_id: str, cancel: CancelRequest, main: bool) -> str:
    checkpoint = run.last_checkpoint(clean=main)
    step = int(checkpoint.name.split("-")[-1]) if checkpoint else None
    # Resuming from checkpoint N logs the steps after N again; from scratch, the dead attempt's lines go.
    elapsed = run.keep_metrics_up_to(step) if main else 0.0
    if main:
        runs.try_upsert(run_id, status="running")
        run.update_info(status="running", running_at=time.time(), resumed_from=str(checkpoint) if checkpoint else None)
        print(f"[finetune-assistant] run {run_id}: "
              + (f"resuming from {checkpoint.name}" if checkpoint else "starting from the base model"), flush=True)
    _quiet_libraries()
    model_dir = resolve_model(plan.base_model)
    callbacks = make_callbacks(run, run_id, cancel, elapsed_before=elapsed)
    trainer = build_trainer(plan, run.path, model_dir, callbacks=callbacks)
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if callbacks[1].cancelled:
        return "cancelled"
    final = save_outputs(trainer, plan, run, model_dir)
    if main:
        results = {"run_dir": str(run.path), "global_step": trainer.state.global_step, **output.metrics}
        base_name = DEFAULT_HUB_ID if is_default(plan.base_model) else plan.base_model
        run.write_card(model_card(plan, base_name, results, run.metrics()))
        run.update_info(output_dir=str(final), global_step=trainer.state.global_step,
                        train_loss=output.metrics.get("train_loss"), model_dir=str(model_dir), trained_at=time.time())
        runs.try_upsert(run_id, step=trainer.state.global_step)
    _release(trainer)
    return "trained"


def _owner(run_id: str) -> dict:
    """This process as the run's owner when it was started by hand (`python -m tools.train RUN_DIR`), not
    by the controller, which records the process it spawned."""
    try:
        row = runs.get(run_id)
    except Exception:  # a locked store: the controller's record stands
        return {}
    if row is not None and process_alive(row.get("pid"), row.get("pid_start")):
        return {}
    return {"pid": os.getpid(), "pid_start": process_start_time(os.getpid())}


def _release(trainer) -> None:
    """Give the trainer's memory back before the evaluation loads both models."""
    model = getattr(trainer, "model", None)
    del trainer, model
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def save_outputs(trainer, plan: TrainingPlan, run: RunDir | str | Path, model_dir: Path) -> Path:
    """The final adapter (`adapter/`) or full model (`model/`), renamed into place once complete."""
    from transformers import AutoTokenizer

    run = run if isinstance(run, RunDir) else RunDir(run)
    final = run.output_for(plan.method)
    partial = run.path / f".{final.name}.partial"
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


# ---------------------------------------------------------------- 3. evaluation


def _evaluate(run: RunDir, run_id: str) -> None:
    """Held-out evaluation. Its failure is noted, not fatal: the trained model is there and usable."""
    _phase(run, run_id, "evaluating")
    try:
        report = evaluate(run.path, EvalConfig(**run.plan().eval_settings.model_dump()))
    except Exception as exc:
        traceback.print_exc()
        run.update_info(eval_error=f"evaluation failed: {type(exc).__name__}: {exc}"[:1000])
        return
    run.update_info(eval_error=None, evaluated_at=time.time(), verdict=report.get("verdict"))
