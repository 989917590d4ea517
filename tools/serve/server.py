"""Serve a base model and its LoRA adapters with vLLM's OpenAI-compatible server, in a child process.

    finetune-assistant serve --base default --adapter tuned=runs/r1/adapter
    python -c "from tools.serve.server import ServeConfig, start_server; s = start_server(ServeConfig(base='default'))"

The server is bound to 127.0.0.1 on a free port; the base model answers as `base` (or `ServeConfig.served_name`)
and each adapter under its own name. Adapters of later runs load at runtime (`/v1/load_lora_adapter`), so a
new run never costs another 30-60 s startup. The child runs in its own process group, so `stop()` (also called
at interpreter exit) takes vLLM's engine workers down with it. Its log lives in `<data dir>/logs/`.

A server must not outlive the app that started it (M6): it gets SIGTERM when the app dies, however it dies
(Linux's parent-death signal, set from one long-lived spawner thread because the signal follows the thread
that forked), and a pid file in `<data dir>/logs/` lets the next start reap a group that survived anyway.
Each server requires a per-start API key (L8), passed in its environment (`VLLM_API_KEY`), never on its
command line, and children see only an allow-listed environment (`tools.procs`).
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools import paths
from tools.models.resolve import resolve_model
from tools.procs import child_env, python_module

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
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=0.95, description="vLLM's share of GPU memory; None leaves room for training (gpu_share)")
    runtime_lora: bool = Field(True, description="allow /v1/load_lora_adapter and /v1/unload_lora_adapter (the "
                               "app adds new runs' adapters and unloads idle ones)")
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
        self.api_key = secrets.token_urlsafe(24)
        self.gpu_share: float | None = None  # the --gpu-memory-utilization it was started with (GPU only)
        self.model_dir: str | None = None  # the resolved base model folder
        self._proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        cfg = self.config
        # The `vllm` console script fails with vllm-cpu (its metadata is named vllm-cpu): use the module.
        self.model_dir = str(resolve_model(cfg.base))
        cmd = [
            *python_module("vllm.entrypoints.openai.api_server"),
            "--model", self.model_dir, "--served-model-name", cfg.served_name,
            "--host", "127.0.0.1", "--port", str(self.port), "--dtype", cfg.dtype,
            "--max-model-len", str(cfg.max_model_len), "--enable-lora", "--max-lora-rank", str(cfg.lora_rank()),
            "--max-loras", str(cfg.max_loras), "--uvicorn-log-level", "warning", "--disable-log-stats",
        ]  # fmt: skip
        if cfg.adapters:
            cmd += ["--lora-modules", *(f"{name}={path}" for name, path in cfg.adapters.items())]
        if shutil.which("nvidia-smi") is None:
            # No CUDA graphs on CPU, and vllm-cpu 0.32 runs LoRA models uncompiled anyway: say so up front.
            cmd.append("--enforce-eager")
        else:
            self.gpu_share = cfg.gpu_memory_utilization or gpu_share(*gpu_memory_gb())
            cmd += ["--gpu-memory-utilization", f"{self.gpu_share:.3f}"]
        return cmd + list(cfg.extra_args)

    def env(self) -> dict[str, str]:
        extra = {"VLLM_API_KEY": self.api_key}
        if self.config.runtime_lora:
            extra["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        env = child_env(extra=extra)
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{self.config.kv_cache_gb:g}")
        return env

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def start(self) -> VLLMServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command, env = self.command(), self.env()
        with open(self.log_path, "ab") as log:
            # Own process group: stop() can signal vLLM's engine and worker children with one killpg.
            self._proc = _SPAWNER.popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True, cwd=paths.home(),
            )  # fmt: skip
        _pid_file(self.port).write_text(f"{self._proc.pid}\n")
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
                if httpx.get(f"{self.url}/health", headers=self.headers, timeout=2).status_code == 200:
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
        resp = httpx.post(f"{self.url}/v1/load_lora_adapter", json=body, headers=self.headers, timeout=120)
        if resp.status_code != 200:
            raise ServeError(f"vLLM refused adapter '{name}' ({folder}): {error_text(resp)}")
        self.adapters[name] = str(folder)

    def unload_adapter(self, name: str) -> None:
        """Stop serving the adapter `name` (`/v1/unload_lora_adapter`, enabled with `runtime_lora`).

        vLLM forgets the name at once; the adapter's weights leave its LoRA caches as newer ones replace them."""
        import httpx

        if name not in self.adapters:
            return
        resp = httpx.post(f"{self.url}/v1/unload_lora_adapter", json={"lora_name": name}, headers=self.headers,
                          timeout=120)  # fmt: skip
        if resp.status_code not in (200, 404):  # 404: vLLM has no adapter of that name, which is what we want
            raise ServeError(f"vLLM could not unload adapter '{name}': {error_text(resp)}")
        del self.adapters[name]

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after `timeout` seconds."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is None:
            return
        _pid_file(self.port).unlink(missing_ok=True)
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


# --- process lifetime (M6) ---------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_VLLM_MODULE = "vllm.entrypoints.openai.api_server"


try:  # looked up here, not in the forked child, where loading a library could deadlock
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the pid file and the reaper remain
    _PRCTL = None


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the thread that forked us exits (with the app, see _Spawner)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class _Spawner:
    """Starts children from one thread that lives as long as the process.

    The parent-death signal fires when the *thread* that forked the child exits, and Gradio's worker threads
    come and go; a server started from one would be killed when that thread retires. This thread never does.
    """

    def __init__(self):
        self._requests: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, command: list[str], **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="child-spawner", daemon=True)
                self._thread.start()
        done: queue.Queue = queue.Queue(maxsize=1)
        self._requests.put((command, kwargs, done))
        ok, value = done.get()
        if not ok:
            raise value
        return value

    def _serve(self) -> None:
        while True:
            command, kwargs, done = self._requests.get()
            try:
                done.put((True, subprocess.Popen(command, preexec_fn=_die_with_parent, **kwargs)))
            except BaseException as exc:
                done.put((False, exc))


_SPAWNER = _Spawner()


def _pid_file(port: int) -> Path:
    return paths.logs_dir() / f"vllm-{port}.pid"


def _is_our_server(pid: int, port: int) -> bool:
    """A live process whose command line is vLLM's server on `port` (a reused pid is left alone)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _VLLM_MODULE.encode() in args and str(port).encode() in args


def reap_stale_servers(timeout: float = 10.0) -> list[int]:
    """Stop vLLM servers that an earlier app left behind (killed with -9, OOM-killed); returns their pids."""
    reaped = []
    for pid_file in paths.logs_dir().glob("vllm-*.pid"):
        try:
            pid, port = int(pid_file.read_text().split()[0]), int(pid_file.stem.split("-", 1)[1])
        except (OSError, ValueError, IndexError):
            pid_file.unlink(missing_ok=True)
            continue
        if _is_our_server(pid, port):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)
                    _wait_group_gone(pid, timeout)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
            reaped.append(pid)
        pid_file.unlink(missing_ok=True)
    return reaped


# --- GPU memory shared with training (H5) ------------------------------------------------------------------

# vLLM's share when nothing trains: half the GPU, so a typical LoRA run still fits beside it.
TRAINING_RESERVE = 0.5
MIN_SHARE, MAX_SHARE = 0.05, 0.9
MARGIN_GB = 1.0


def gpu_memory_gb() -> tuple[float, float]:
    """(total, free) GB of GPU 0 from nvidia-smi, or (0, 0) without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total,memory.free", "--format=csv,noheader,nounits",
                              "-i", "0"], capture_output=True, text=True, timeout=10, check=True).stdout
        total, free = (float(x) / 1024 for x in out.strip().splitlines()[0].split(","))
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return 0.0, 0.0
    return total, free


def gpu_share(total_gb: float, free_gb: float, reserve: float = TRAINING_RESERVE) -> float:
    """vLLM's --gpu-memory-utilization: what is free now, less a reserve kept for training, within bounds.

    vLLM's default (0.92) takes the whole GPU and the next training run dies of OOM. A share is of the
    total, but memory already in use (a run training now) must be subtracted, hence `free_gb`.
    """
    if total_gb <= 0:
        return MAX_SHARE
    usable = free_gb - reserve * total_gb - MARGIN_GB
    return round(min(MAX_SHARE, max(MIN_SHARE, usable / total_gb)), 3)


class RoomDecision(BaseModel):
    """What to do with the comparison server before a training run starts."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["keep", "shrink", "stop"]
    share: float | None = Field(None, description="the server's new gpu_memory_utilization when shrinking")
    reason: str


def make_room(total_gb: float, free_gb: float, run_gb: float, server_gb: float,
              server_min_gb: float = 0.0) -> RoomDecision:  # fmt: skip
    """Decide, from memory figures alone, whether a serving engine may stay while a run of `run_gb` starts.

    keep: the run fits in what is free now. shrink: it fits if the server gives some back, and what is left
    still holds the server's weights (`server_min_gb`): restart it at `share`. stop: nothing else works.
    """
    need = run_gb + MARGIN_GB
    if total_gb <= 0 or server_gb <= 0 or free_gb >= need:
        return RoomDecision(action="keep", reason=f"{free_gb:.1f} GB free covers the run's {run_gb:.1f} GB")
    left_for_server = free_gb + server_gb - need
    if server_min_gb > 0 and left_for_server >= server_min_gb:
        share = round(max(MIN_SHARE, left_for_server / total_gb), 3)
        return RoomDecision(action="shrink", share=share,
                            reason=f"the run needs {run_gb:.1f} GB; the server can keep {left_for_server:.1f} GB")
    fits = left_for_server >= 0
    return RoomDecision(action="stop", reason=(
        f"the run needs {run_gb:.1f} GB and only {free_gb:.1f} GB is free; stopping the comparison server "
        + ("frees enough" if fits else "still leaves too little, the run may run out of memory")))
