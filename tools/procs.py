"""How the app starts its child processes (the trainer, vLLM): a minimal environment, our own code, no secrets.

    env = child_env(hub=True)            # the trainer may download a base model: it keeps HF_TOKEN
    cmd = python_module("tools.train", run_dir)

- `child_env` passes an allow-list of variables (paths, locale, CUDA/torch/HF cache settings...), never the
  UI password, the app's access token or the assistant's LLM key; the Hub token only when asked for (L7).
- `python_module` runs `python -m` with `PYTHONSAFEPATH=1` (Python 3.11's `-P`, inherited by grandchildren
  such as accelerate's workers) so the working directory is never searched for modules: a `tools/` planted
  in a shared folder the app was started from is not run (L11). Our package is found by its absolute
  location instead, through PYTHONPATH.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# The folder that holds our top-level packages (tools/, assistant/, ui/, prompts/).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
_ALLOWED = re.compile(
    r"^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|TZ|TERM|TMPDIR|TEMP|TMP|LD_LIBRARY_PATH|VIRTUAL_ENV|PYTHONPATH|"
    r"PYTHONUNBUFFERED|PYTHONHASHSEED|LC_\w+|XDG_\w+|CONDA_\w+|CUDA_\w+|NVIDIA_\w+|NCCL_\w+|CUBLAS_\w+|"
    r"PYTORCH_\w+|TORCH\w*|TORCHINDUCTOR_\w+|TRITON_\w+|OMP_\w+|MKL_\w+|KMP_\w+|OPENBLAS_\w+|ONEDNN_\w+|"
    r"TOKENIZERS_PARALLELISM|HF_HOME|HF_HUB_CACHE|HF_HUB_OFFLINE|HF_DATASETS_\w+|HF_HUB_ENABLE_HF_TRANSFER|"
    r"HF_HUB_DISABLE_\w+|HF_ENDPOINT|HF_XET_\w+|TRANSFORMERS_\w+|ACCELERATE_\w+|VLLM_\w+|"
    r"FINETUNE_ASSISTANT_\w+|GRADIO_TEMP_DIR|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy|SSL_CERT_\w+|"
    r"REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE)$"
)
# Never inherited, even when the allow-list above would match them.
SECRETS = ("FINETUNE_ASSISTANT_AUTH", "FINETUNE_ASSISTANT_TOKEN", "FINETUNE_ASSISTANT_LLM_API_KEY", "VLLM_API_KEY")
HUB_TOKENS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH")


def child_env(hub: bool = False, extra: dict[str, str] | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: allow-listed variables of `base` (default os.environ) plus `extra`."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if _ALLOWED.match(k) and k not in SECRETS}
    if hub:
        env.update({k: source[k] for k in HUB_TOKENS if k in source})
    env["PYTHONSAFEPATH"] = "1"
    # Our packages by their absolute location, first: never a same-named package from the cwd or the path.
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    env.update(extra or {})
    return env


def python_module(module: str, *args: str) -> list[str]:
    """`python -P -m module args...` with this interpreter."""
    return [sys.executable, "-P", "-m", module, *map(str, args)]


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # exited but not yet reaped by its parent
        return None
    return fields[19]


def process_alive(pid: int | None, start: str | None) -> bool:
    if not pid:
        return False
    if Path("/proc").is_dir():
        now = process_start_time(pid)
        return now is not None and (start is None or now == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def processes_running(*words: str) -> list[int]:
    """PIDs of live processes whose command line holds every one of `words` ([] where there is no /proc).

    How a starter that died between spawning a job and recording it is found out: the job's own command
    line names its run folder."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        text = [a.decode(errors="replace") for a in args]
        if all(any(w == a for a in text) for w in words) and process_start_time(int(entry.name)) is not None:
            found.append(int(entry.name))
    return sorted(found)
