"""A training run's folder, the one place that knows its layout.

    from tools.train.run_dir import RunDir
    run = RunDir("~/.cache/finetune-assistant/runs/20250101-sft-lora-ab12")
    run.plan()              # the approved `Plan` (plan.yaml)
    run.info()              # run.json: status, phase times, final step, errors
    run.metrics()           # metrics.jsonl rows (a torn last line is skipped)
    run.log_tail(30)        # the last lines of stdout.log, read from the end
    run.output              # adapter/ or model/ once the run has finished, else None
    run.eval_report()       # eval/report.json once the job evaluated the run

    <run>/plan.yaml         the Plan the job runs (reproduce: finetune-assistant train plan.yaml)
    <run>/run.json          what the job process says about itself (status, times, error)
    <run>/metrics.jsonl     one JSON line per trainer log
    <run>/stdout.log        the job process's output
    <run>/checkpoints/      checkpoint-N folders (resume starts from the newest complete one)
    <run>/adapter/|model/   the final adapter or full model, with its model card
    <run>/README.md         the model card
    <run>/eval/             report.json, report.md, metrics.png (held-out evaluation)
    <run>/exports/          zips made for download
    <run>/merged/           the adapter merged into the base (finetune-assistant export merge)
    <run>/CANCEL            present while a cancel is requested

Everything else in the project reads and writes a run through this class, so the layout can change here alone.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from tools import paths
from tools.train.plan import Plan

PLAN_FILE = "plan.yaml"
OUTPUT_NAMES = ("adapter", "model")
_TAIL_BYTES = 64 * 1024  # enough for the last few hundred log lines; a 2 GB log is never read whole
# metrics() is polled every couple of seconds per open tab; unchanged files are parsed once (L12).
_METRICS_CACHE: dict[str, tuple[int, int, list[dict]]] = {}


class RunDir:
    """Paths and files of one run folder. Cheap to build; touches the disk only when asked."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ------------------------------------------------------------------ paths

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def plan_file(self) -> Path:
        return self.path / PLAN_FILE

    @property
    def info_file(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def log_file(self) -> Path:
        return self.path / "stdout.log"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def card_file(self) -> Path:
        return self.path / "README.md"

    @property
    def eval_dir(self) -> Path:
        return self.path / "eval"

    @property
    def eval_report_file(self) -> Path:
        return self.eval_dir / "report.json"

    @property
    def eval_markdown_file(self) -> Path:
        return self.eval_dir / "report.md"

    @property
    def exports(self) -> Path:
        return self.path / "exports"

    @property
    def merged(self) -> Path:
        """Where `export merge` writes the adapter folded into the base weights."""
        return self.path / "merged"

    @property
    def cancel_flag(self) -> Path:
        return self.path / "CANCEL"

    @property
    def accelerate_config(self) -> Path:
        return self.path / "accelerate_config.yaml"

    def output_for(self, method: str) -> Path:
        """Where the final weights go: `model/` for full fine-tuning, `adapter/` otherwise."""
        return self.path / ("model" if method == "full" else "adapter")

    @property
    def output(self) -> Path | None:
        """The finished adapter/ or model/ folder, or None before the run has saved one."""
        return next((self.path / d for d in OUTPUT_NAMES if (self.path / d).is_dir()), None)

    # ------------------------------------------------------------------ plan and info

    def holds_run(self) -> bool:
        return self.plan_file.is_file()

    def plan(self) -> Plan:
        """The approved Plan (a bare TrainingPlan file from an older release loads as its training part)."""
        return Plan.from_yaml(self.plan_file)

    def write_plan(self, plan: Plan) -> None:
        plan.to_yaml(self.plan_file)

    def info(self) -> dict:
        """run.json, or {} when it is missing or unreadable (a crash before the first write)."""
        try:
            data = json.loads(self.info_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def update_info(self, **fields: Any) -> dict:
        info = {**self.info(), **fields, "updated_at": time.time()}
        paths.atomic_write_text(self.info_file, json.dumps(info, indent=2, default=str))
        return info

    # ------------------------------------------------------------------ metrics

    def metrics(self) -> list[dict]:
        """The rows of metrics.jsonl. Lines that don't decode are skipped: the one being written right now,
        or a tail torn by a full disk or a power loss (a resume rewrites the file without them)."""
        try:
            stat = self.metrics_file.stat()
        except OSError:
            return []
        key = str(self.metrics_file)
        cached = _METRICS_CACHE.get(key)
        if cached and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return list(cached[2])
        rows = _parse_jsonl(self.metrics_file.read_bytes())
        _METRICS_CACHE[key] = (stat.st_mtime_ns, stat.st_size, rows)
        return list(rows)

    def append_metric(self, row: dict) -> None:
        """One log line. A torn previous line (no newline at the end) is closed first so it can't eat this one."""
        line = json.dumps(row, default=str) + "\n"
        with open(self.metrics_file, "a+b") as fh:
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = "\n" + line
            fh.write(line.encode("utf-8"))

    def keep_metrics_up_to(self, step: int | None) -> float:
        """Rewrite metrics.jsonl with the readable rows up to `step` (None: drop the file); returns the
        elapsed training time they cover. Resuming from checkpoint N logs the steps after N again, and a
        torn line must not break every later resume (L3)."""
        if step is None:
            self.metrics_file.unlink(missing_ok=True)
            return 0.0
        kept = [r for r in self.metrics() if (r.get("step") or 0) <= step]
        if self.metrics_file.exists():
            paths.atomic_write_text(self.metrics_file, "".join(json.dumps(r) + "\n" for r in kept))
        return float(kept[-1].get("elapsed") or 0.0) if kept else 0.0

    # ------------------------------------------------------------------ log

    def log_tail(self, lines: int = 30, max_bytes: int = _TAIL_BYTES) -> str:
        """The last `lines` lines of stdout.log, reading at most `max_bytes` from the end."""
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - max_bytes))
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        # tqdm redraws with carriage returns: split on newlines only, and keep the last state of each line
        kept = text.rstrip("\n").split("\n")[-lines:]
        return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in kept)

    def last_error(self) -> str | None:
        """The last log line that looks like an error (a Python exception or an OOM kill)."""
        for line in reversed(self.log_tail(200).splitlines()):
            if "Error" in line or "error:" in line or "Killed" in line:
                return line.strip()[:500]
        return None

    # ------------------------------------------------------------------ checkpoints and results

    def last_checkpoint(self, clean: bool = False) -> Path | None:
        """The newest checkpoint that finished saving (trainer_state.json is written last).

        With `clean`, newer half-written checkpoints (a kill -9 during a save) are removed.
        """
        if not self.checkpoints.is_dir():
            return None
        found = sorted((p for p in self.checkpoints.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                       key=lambda p: int(p.name.split("-")[-1]), reverse=True)
        for ckpt in found:
            if (ckpt / "trainer_state.json").is_file():
                return ckpt
            if clean:
                shutil.rmtree(ckpt, ignore_errors=True)
        return None

    def kept_step(self) -> int:
        """The step a resume continues from: the newest finished checkpoint's, or 0 (from the start)."""
        ckpt = self.last_checkpoint()
        return int(ckpt.name.split("-")[-1]) if ckpt else 0

    def card(self) -> str | None:
        try:
            return self.card_file.read_text(encoding="utf-8")
        except OSError:
            return None

    def write_card(self, text: str) -> None:
        """The model card, beside the run and inside its output folder (what a Hub upload takes)."""
        paths.atomic_write_text(self.card_file, text)
        if self.output is not None:
            paths.atomic_write_text(self.output / "README.md", text)

    def eval_report(self) -> dict | None:
        try:
            data = json.loads(self.eval_report_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def eval_markdown(self) -> str | None:
        try:
            return self.eval_markdown_file.read_text(encoding="utf-8")
        except OSError:
            return None


def _parse_jsonl(raw: bytes) -> list[dict]:
    rows = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
