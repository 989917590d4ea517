"""The app's shared resources, one of each per process, with explicit locks.

Gradio runs callbacks for every browser session in worker threads, so anything here is shared by all
users: the assistant (which keeps each session's conversation under its own thread id), the serving
engines (`tools.serve.backends.SharedBackends`: one per base model, each run's adapter added under its run id)
and uploaded files (kept under the data dir). The training queue is `tools.train.jobs`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tools import paths
from tools.serve.backends import BackendName
from tools.train import jobs

log = logging.getLogger(__name__)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class AppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: BackendName = "auto"
    llm: Literal["auto", "rules"] = "auto"
    max_new_tokens: int = 256


class Services:
    def __init__(self, config: AppConfig | None = None):
        self.config = config or AppConfig()
        from tools.serve.backends import SharedBackends

        self.serving = SharedBackends()
        self._assistant: Any = None
        self._lock = threading.Lock()
        self._followed: set[tuple[str, str]] = set()
        self._notes: dict[str, list[str]] = {}
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    def start_worker(self, interval_s: float = 2.0) -> None:
        """Recover the training queue from crashes, with or without a browser tab open.

        Each job starts the next one itself when it exits; this catches a job killed before it could."""
        if self._worker is None:
            try:  # leftovers of writes that a crash or a kill interrupted (L4)
                paths.sweep_stale()
            except OSError as exc:
                log.warning("sweeping stale temp files: %s", exc)
            self._worker = threading.Thread(target=self._work, args=(interval_s,), name="job-queue", daemon=True)
            self._worker.start()

    def _work(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                jobs.start_next()
            except Exception as exc:  # a locked database now is no reason to stop moving the queue
                log.warning("job queue: %s", exc)

    def follow_up(self, session: str, run_id: str) -> None:
        """Once per finished run: let the assistant narrate it (the job's evaluation, one side-by-side answer).

        The job evaluated itself; the side-by-side still loads both models, which in a callback would freeze
        that user's chat. The assistant's reply waits in `take_notes` for the session's next monitor tick.
        """
        with self._lock:
            if (session, run_id) in self._followed:
                return
            self._followed.add((session, run_id))
        threading.Thread(target=self._advance, args=(session, run_id), daemon=True).start()

    def _advance(self, session: str, run_id: str) -> None:
        try:
            turn = self.assistant.advance(session)
            text = turn.reply if turn.run_id == run_id else ""
        except Exception as exc:
            text = f"⚠️ Evaluating {run_id} failed: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}"
        if text:
            with self._lock:
                self._notes.setdefault(session, []).append(text)

    def take_notes(self, session: str) -> list[str]:
        with self._lock:
            return self._notes.pop(session, [])

    @property
    def assistant(self) -> Any:
        with self._lock:
            if self._assistant is None:
                from assistant import Assistant

                # The web UI opens no user-typed path outside the data dir.
                self._assistant = Assistant(llm=None if self.config.llm == "rules" else "auto", confine_paths=True)
            return self._assistant

    def close(self) -> None:
        self._stop.set()
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


def servable(path: str | Path) -> str:
    """A copy of `path` that Gradio may send to the browser.

    Gradio serves files only from its upload folder, the working directory and /tmp; our outputs live
    in the data dir. Copying just the file asked for (into Gradio's folder, itself under the data dir)
    avoids allowing the whole data dir, which holds the databases and the session key.
    """
    from gradio.utils import get_upload_folder

    source = Path(path)
    folder = Path(get_upload_folder()) / "downloads" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / source.name
    shutil.copyfile(source, target)
    return str(target)


def private_files() -> list[str]:
    """Files of the data dir that the web server must never send, whatever a callback returns."""
    return [str(paths.db_path()), str(paths.home() / "conversations.db"), str(paths.home() / "browser_state.key")]


def browser_secret() -> str:
    """The key that encrypts the session id kept in the browser; stable across restarts, private to this data dir."""
    import secrets

    path = paths.home() / "browser_state.key"
    if not path.is_file():
        # Created private (0600) before anything is written, under a unique name, then renamed into place.
        fd, tmp = tempfile.mkstemp(prefix=".browser_state.", dir=path.parent)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
        os.replace(tmp, path)
    return path.read_text().strip()


def use_data_dir_for_gradio_uploads() -> None:
    """Gradio keeps uploads in GRADIO_TEMP_DIR (default /tmp/gradio); keep them under the data dir instead."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(paths.subdir("gradio-tmp")))
