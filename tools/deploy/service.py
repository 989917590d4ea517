"""One deployment: resolve the run folders, start the engine, record the deployment, run the gateway.

    handle = start_deployment(DeployConfig(runs=["runs/r1"], backend="transformers", port=0))
    handle.url            # http://127.0.0.1:PORT (the gateway; /v1 is the OpenAI base URL)
    handle.stop()         # gateway, bias probes, request log (drained) and engine, in that order

Once the gateway answers, a background thread runs the bias probe set on every tuned model that has no
stored report yet (tools/monitor/bias_reports.py), so startup never waits for it.

`finetune-assistant deploy` calls this and waits for Ctrl-C; tests call it with port 0.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tools import store
from tools.deploy.engine import Engine, ExternalEngine
from tools.deploy.gateway import Gateway
from tools.deploy.keys import KeyCache
from tools.deploy.ratelimit import RateLimiter
from tools.deploy.routing import check_names, parse_split
from tools.deploy.traffic import TrafficLog
from tools.monitor import bias, bias_reports
from tools.serve.backends import BASE, check_tuned, is_adapter
from tools.serve.server import ServeConfig


class DeployConfig(BaseModel):
    """What `finetune-assistant deploy` was asked to run; saved (as JSON) with the deployment's row."""

    model_config = ConfigDict(extra="forbid")

    runs: list[str] = Field(default_factory=list, description="Run folders (or NAME=FOLDER); each becomes a model name.")
    base: str | None = Field(None, description="Base model; default: the runs' plan.yaml base_model.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    backend: Literal["auto", "vllm", "transformers"] = "auto"
    split: str | None = None
    redact: bool = True
    rate_per_min: float = Field(600.0, gt=0)
    burst: int | None = Field(None, ge=1)
    reask_share: float = Field(0.0, ge=0.0, le=1.0)
    max_loras: int = Field(4, ge=1)
    engine_url: str | None = Field(None, description="Put the gateway in front of an engine already running there.")
    bias_probes: bool = Field(True, description="Probe every tuned model without a stored bias report, in the background.")
    bias_probe_file: str | None = Field(None, description="A probe set YAML of your own (default: the shipped one).")
    bias_max_tokens: int = Field(64, ge=1, le=4096)


@dataclass
class RunInfo:
    name: str
    run_dir: str
    output: str  # the adapter or full-model folder the engine loads
    base: str | None
    train_data: str | None  # the prepared train.jsonl, for drift


def _name_for(folder: Path) -> str:
    name = folder.parent.name if folder.name in ("adapter", "model") else folder.name
    return re.sub(r"[^A-Za-z0-9_.\-]", "-", name).strip("-") or "tuned"


def resolve_run(item: str) -> RunInfo:
    """A run folder (holding adapter/ or model/, and plan.yaml) or a tuned folder itself; `NAME=PATH` names it."""
    name, sep, path = item.partition("=")
    folder = Path(path if sep else item).expanduser().resolve()
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such run folder; pass a folder from `finetune-assistant runs`")
    output = next((folder / d for d in ("adapter", "model") if (folder / d).is_dir()), folder)
    check_tuned(output)
    run_dir = folder if output != folder else (folder.parent if folder.name in ("adapter", "model") else folder)
    base, data = _plan_facts(run_dir)
    if base is None and is_adapter(output):
        base = json.loads((output / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    return RunInfo(name=name if sep else _name_for(output), run_dir=str(run_dir), output=str(output), base=base,
                   train_data=data)  # fmt: skip


def _plan_facts(run_dir: Path) -> tuple[str | None, str | None]:
    plan = run_dir / "plan.yaml"
    if not plan.is_file():
        return None, None
    data = yaml.safe_load(plan.read_text(encoding="utf-8")) or {}
    training = data.get("training", data)  # a Plan, or a bare TrainingPlan (older run folders)
    train = Path(str(training.get("data_dir", ""))).expanduser() / "train.jsonl" if training.get("data_dir") else None
    return training.get("base_model"), str(train) if train and train.is_file() else None


def choose_base(runs: list[RunInfo], base: str | None) -> str:
    if base:
        return base
    bases = {r.base for r in runs if r.base}
    if len(bases) > 1:
        raise ValueError(f"the runs were trained on different base models ({', '.join(sorted(bases))}); one deployment "
                         "serves one base: deploy them separately or pass --base")  # fmt: skip
    return bases.pop() if bases else "default"


class Deployment:
    def __init__(self, config: DeployConfig, runs: list[RunInfo], engine: Engine, log: TrafficLog, deployment_id: str):
        self.config, self.runs, self.engine, self.log, self.id = config, runs, engine, log, deployment_id
        self.url: str | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._probes_stop = threading.Event()
        self.probes_thread: threading.Thread | None = None

    def serve_in_thread(self, gateway: Gateway) -> None:
        import uvicorn

        sock = socket.socket(socket.AF_INET6 if ":" in self.config.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        config = uvicorn.Config(gateway.app(), log_level="warning", access_log=False, timeout_graceful_shutdown=10)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start on {self.config.host}:{self.config.port}")
            time.sleep(0.02)
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        _update(self.id, status="up", url=self.url, engine=self.engine.kind)

    def start_bias_probes(self, probes: dict) -> None:
        """Probe the tuned models that have no stored report, on a thread (a few minutes on a CPU)."""
        models = {r.name: r.output for r in self.runs}

        def run() -> None:
            try:
                bias_reports.probe_new_models(self.engine.url, models, self.id, probes, self.config.bias_max_tokens,
                                              self._probes_stop, lambda kind, msg: record_event(self.id, kind, msg))  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - the deployment serves on; the failure is an event
                if not self._probes_stop.is_set():
                    record_event(self.id, "bias_probes_failed", f"{type(exc).__name__}: {exc}")

        self.probes_thread = threading.Thread(target=run, name="bias-probes", daemon=True)
        self.probes_thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._probes_stop.set()
        if self.probes_thread is not None:
            self.probes_thread.join(timeout=120)  # the probe in flight finishes; none after it starts
        self.log.close()  # after the server: requests still finishing get logged
        self.engine.close()
        _update(self.id, status="stopped")


def start_deployment(config: DeployConfig) -> Deployment:
    runs = [resolve_run(item) for item in config.runs]
    names = [r.name for r in runs]
    if config.engine_url and runs:
        raise ValueError("--engine-url serves what that engine serves; give no run folders with it")
    if len(set(names)) != len(names) or BASE in names:
        raise ValueError(f"model names must be distinct and not '{BASE}' (got {', '.join(names)}); name them NAME=FOLDER")
    base = choose_base(runs, config.base)
    # Read before any model loads: a broken probe file should cost a second, not a minute.
    probes = bias.load_probes(config.bias_probe_file) if config.bias_probes and runs else None
    splits = parse_split(config.split, default_control=names[0] if names else BASE)
    deployment_id = f"dep-{uuid.uuid4().hex[:10]}"
    _insert(deployment_id, base, runs, config)
    def on_event(kind: str, message: str) -> None:
        record_event(deployment_id, kind, message)

    if config.engine_url:
        engine = ExternalEngine(config.engine_url, on_event=on_event)
    else:
        engine = Engine(base, {r.name: r.output for r in runs}, config.backend, ServeConfig(max_loras=config.max_loras),
                        on_event=on_event)  # fmt: skip
    try:
        engine.start()
    except BaseException as exc:
        record_event(deployment_id, "failed", str(exc))
        _update(deployment_id, status="failed")
        raise
    try:
        check_names(splits, set(engine.models()))
    except ValueError:
        engine.close()
        _update(deployment_id, status="failed")
        raise
    base_folder = engine.models().get(BASE) if isinstance(engine, Engine) else None
    log = TrafficLog(deployment_id, redact=config.redact, tokenizer=base_folder)
    deployment = Deployment(config, runs, engine, log, deployment_id)
    gateway = Gateway(engine, KeyCache(), RateLimiter(config.rate_per_min, config.burst), log, splits,
                      reask_share=config.reask_share)  # fmt: skip
    try:
        deployment.serve_in_thread(gateway)
        if probes is not None:
            deployment.start_bias_probes(probes)
    except BaseException:
        deployment.stop()
        _update(deployment_id, status="failed")
        raise
    return deployment


def record_event(deployment_id: str, kind: str, message: str) -> None:
    print(f"deploy {deployment_id}: {kind}: {message}", file=sys.stderr, flush=True)
    with store.transaction() as db:
        db.execute("INSERT INTO deploy_events (deployment_id, at, kind, message) VALUES (?, ?, ?, ?)",
                   (deployment_id, time.time(), kind, message))  # fmt: skip


def _insert(deployment_id: str, base: str, runs: list[RunInfo], config: DeployConfig) -> None:
    now = time.time()
    info = {r.name: {"run_dir": r.run_dir, "output": r.output, "train_data": r.train_data} for r in runs}
    with store.transaction() as db:
        db.execute(
            "INSERT INTO deployments (deployment_id, created_at, base, runs, status, split, updated_at) "
            "VALUES (?, ?, ?, ?, 'starting', ?, ?)", (deployment_id, now, base, json.dumps(info), config.split, now),
        )  # fmt: skip


def _update(deployment_id: str, **fields) -> None:
    sets = ", ".join(f"{k} = ?" for k in fields)
    with store.transaction() as db:
        db.execute(f"UPDATE deployments SET {sets}, updated_at = ? WHERE deployment_id = ?",
                   (*fields.values(), time.time(), deployment_id))  # fmt: skip


def latest_deployment() -> dict | None:
    with store.connect() as db:
        row = db.execute("SELECT * FROM deployments ORDER BY created_at DESC LIMIT 1").fetchone()
    return dict(row) if row else None
