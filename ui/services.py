"""The app's shared resources, one of each per process, with explicit locks.

Gradio runs callbacks for every browser session in worker threads, so anything here is shared by all
users: the assistant (which keeps each session's conversation under its own thread id), the serving
engines (`tools.backends.SharedBackends`: one per base model, each run's adapter added under its run id)
and uploaded files (kept under the data dir). The training queue is `tools.jobs`.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tools import paths

BackendName = Literal["auto", "vllm", "transformers"]
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class AppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: BackendName = "auto"
    llm: Literal["auto", "rules"] = "auto"
    max_new_tokens: int = 256


class Services:
    def __init__(self, config: AppConfig | None = None):
        self.config = config or AppConfig()
        from tools.backends import SharedBackends

        self.serving = SharedBackends()
        self._assistant: Any = None
        self._lock = threading.Lock()

    @property
    def assistant(self) -> Any:
        with self._lock:
            if self._assistant is None:
                from assistant import Assistant

                # The web UI opens no user-typed path outside the data dir.
                self._assistant = Assistant(llm=None if self.config.llm == "rules" else "auto", confine_paths=True)
            return self._assistant

    def close(self) -> None:
        self.serving.close_all()
        if self._assistant is not None:
            self._assistant.close()


def store_upload(session: str, temp_path: str) -> str:
    """Copy a file Gradio received into `<data dir>/uploads/<session>/` and return the stored path."""
    source = Path(temp_path)
    folder = paths.uploads_dir() / _SAFE.sub("_", session)[:64]
    folder.mkdir(parents=True, exist_ok=True)
    name = _SAFE.sub("_", source.name).lstrip(".") or "upload"
    target = folder / name
    tmp = folder / f".{name}.part"
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return str(target)


def browser_secret() -> str:
    """The key that encrypts the session id kept in the browser; stable across restarts, private to this data dir."""
    import secrets

    path = paths.home() / "browser_state.key"
    if not path.is_file():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(32))
        tmp.chmod(0o600)
        os.replace(tmp, path)
    return path.read_text().strip()


def use_data_dir_for_gradio_uploads() -> None:
    """Gradio keeps uploads in GRADIO_TEMP_DIR (default /tmp/gradio); keep them under the data dir instead."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(paths.subdir("gradio-tmp")))
