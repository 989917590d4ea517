"""Serve a base model and its LoRA adapters with vLLM's OpenAI-compatible server, in a child process.

    finetune-assistant serve --base default --adapter tuned=runs/r1/adapter
    python -c "from tools.serve.server import ServeConfig, start_server; s = start_server(ServeConfig(base='default'))"

The server is bound to 127.0.0.1 on a free port; the base model answers as `base` (or `ServeConfig.served_name`)
and each adapter under its own name. Adapters of later runs load at runtime (`/v1/load_lora_adapter`), so a
new run never costs another 30-60 s startup. The child runs in its own process group, so `stop()` (also called
at interpreter exit) takes vLLM's engine workers down with it. Its log lives in `<data dir>/logs/`.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools import paths

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
INSTALL_HINT = "pip install 'finetune-assistant[serve-cpu]' (CPU) or 'finetune-assistant[serve]' (NVIDIA GPU)"


class ServeError(RuntimeError):
    """The server could not start or answer; the message says why and where the log is."""


class ServeConfig(BaseModel):
    """What to serve and how. The adapters' LoRA rank decides `max_lora_rank` unless it is given."""

    model_config = ConfigDict(extra="forbid")

    base: str = "default"
    served_name: str = "base"
    adapters: dict[str, str] = Field(default_factory=dict, description="served name -> PEFT adapter folder")
    port: int | None = Field(None, ge=1024, le=65535, description="None picks a free port")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "bfloat16"
    max_model_len: int = Field(2048, ge=128)
    max_lora_rank: int | None = None
    max_loras: int = Field(4, ge=1)
    kv_cache_gb: float = Field(1.0, gt=0, description="VLLM_CPU_KVCACHE_SPACE on CPU")
    startup_timeout_s: float = Field(300.0, gt=0)
    extra_args: list[str] = Field(default_factory=list)

    @field_validator("served_name")
    @classmethod
    def _check_served_name(cls, name: str) -> str:
        return _check_name(name)

    @field_validator("adapters")
    @classmethod
    def _check_adapters(cls, adapters: dict[str, str]) -> dict[str, str]:
        return {_check_name(name): str(_adapter_dir(path)) for name, path in adapters.items()}

    @field_validator("max_lora_rank")
    @classmethod
    def _check_rank(cls, rank: int | None) -> int | None:
        if rank is not None and rank not in _LORA_RANKS:
            raise ValueError(f"max_lora_rank must be one of {_LORA_RANKS}, got {rank}")
        return rank

    @model_validator(mode="after")
    def _names_distinct(self) -> ServeConfig:
        if self.served_name in self.adapters:
            raise ValueError(f"adapter name '{self.served_name}' is already the base model's name; pick another")
        return self

    def lora_rank(self) -> int:
        """The smallest rank vLLM accepts that fits every adapter (16 when there is none yet)."""
        if self.max_lora_rank:
            return self.max_lora_rank
        needed = max([adapter_rank(p) for p in self.adapters.values()] + [16])
        return next((r for r in _LORA_RANKS if r >= needed), _LORA_RANKS[-1])


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"model name '{name}' must be letters, digits, '.', '_' or '-' (at most 64)")
    return name


def _adapter_dir(path: str | Path) -> Path:
    folder = Path(path).expanduser().resolve()
    if not (folder / "adapter_config.json").is_file():
        raise ValueError(f"{folder} holds no adapter_config.json; point to a PEFT adapter folder (a run's adapter/)")
    return folder


def adapter_rank(path: str | Path) -> int:
    config = json.loads((Path(path) / "adapter_config.json").read_text(encoding="utf-8"))
    ranks = [config.get("r") or 8, *(config.get("rank_pattern") or {}).values()]
    return int(max(ranks))


def vllm_missing_reason() -> str | None:
    """None when vLLM is importable; otherwise a sentence saying what to install (without importing it)."""
    if importlib.util.find_spec("vllm") is None:
        return f"vLLM is not installed; {INSTALL_HINT}"
    return None


class VLLMServer:
    """One vLLM server process. Use `start_server(config)`; `stop()` is idempotent."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.port = config.port or paths.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = paths.logs_dir() / f"vllm-{self.port}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        self.adapters: dict[str, str] = dict(config.adapters)
        self._proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        from tools.models.resolve import resolve_model

        cfg = self.config
        # The `vllm` console script fails with vllm-cpu (its metadata is named vllm-cpu): use the module.
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(resolve_model(cfg.base)), "--served-model-name", cfg.served_name,
            "--host", "127.0.0.1", "--port", str(self.port), "--dtype", cfg.dtype,
            "--max-model-len", str(cfg.max_model_len), "--enable-lora", "--max-lora-rank", str(cfg.lora_rank()),
            "--max-loras", str(cfg.max_loras), "--uvicorn-log-level", "warning", "--disable-log-stats",
        ]  # fmt: skip
        if cfg.adapters:
            cmd += ["--lora-modules", *(f"{name}={path}" for name, path in cfg.adapters.items())]
        if shutil.which("nvidia-smi") is None:
            # No CUDA graphs on CPU, and vllm-cpu 0.32 runs LoRA models uncompiled anyway: say so up front.
            cmd.append("--enforce-eager")
        return cmd + list(cfg.extra_args)

    def start(self) -> VLLMServer:
        env = dict(os.environ, VLLM_ALLOW_RUNTIME_LORA_UPDATING="True")
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{self.config.kv_cache_gb:g}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            # Own process group: stop() can signal vLLM's engine and worker children with one killpg.
            self._proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )  # fmt: skip
        atexit.register(self.stop)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        import httpx

        deadline = time.monotonic() + self.config.startup_timeout_s
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise ServeError(f"vLLM exited with code {code} while starting: {self.log_tail()} (log: {self.log_path})")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise ServeError(
            f"vLLM did not become healthy within {self.config.startup_timeout_s:.0f} s (log: {self.log_path})"
        )

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Serve another adapter under `name` without a restart (the server must know its rank's size)."""
        import httpx

        name, folder = _check_name(name), _adapter_dir(path)
        if self.adapters.get(name) == str(folder):
            return
        if adapter_rank(folder) > self.config.lora_rank():
            raise ServeError(
                f"adapter {folder} has LoRA rank {adapter_rank(folder)} but this server was started with "
                f"max_lora_rank={self.config.lora_rank()}; restart it with a larger max_lora_rank"
            )
        body = {"lora_name": name, "lora_path": str(folder), "load_inplace": name in self.adapters}
        resp = httpx.post(f"{self.url}/v1/load_lora_adapter", json=body, timeout=120)
        if resp.status_code != 200:
            raise ServeError(f"vLLM refused adapter '{name}' ({folder}): {error_text(resp)}")
        self.adapters[name] = str(folder)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after `timeout` seconds."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                # The group may outlive its leader for a moment (engine workers); make sure they are gone.
                _wait_group_gone(proc.pid, wait)
                break
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        errors = [line for line in text if "Error" in line or "error" in line]
        return " | ".join((errors or text)[-lines:])[-1500:]

    def __enter__(self) -> VLLMServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise subprocess.TimeoutExpired(f"process group {pgid}", timeout)


def error_text(resp) -> str:
    """The message of an OpenAI-style error response (vLLM's and ours), else the start of its body."""
    try:
        return resp.json()["error"]["message"]
    except Exception:
        return resp.text[:300]


def start_server(config: ServeConfig) -> VLLMServer:
    """Start vLLM for `config` and return once `/health` answers; raises ServeError with the reason."""
    missing = vllm_missing_reason()
    if missing:
        raise ServeError(missing)
    return VLLMServer(config).start()
