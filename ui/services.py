"""The app's shared resources, one of each per process, with explicit locks.

Gradio runs callbacks for every browser session in worker threads, so anything here is shared by all
users: the assistant (which keeps each session's conversation under its own thread id), the serving
engines (`tools.serve.shared.SharedBackends`: one per base model, each run's adapter added under its run id,
the least recently used idle ones evicted past their limits) and uploaded files (kept under the data dir). The training queue is `tools.train.jobs`.
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

from assistant import Assistant
from assistant.actions import Actions
from tools import paths
from tools.serve.backends import BackendName
from tools.serve.shared import SharedBackends
from tools.train import jobs
from tools.train.estimate import estimate
from tools.train.run_dir import RunDir
from ui.sessions import BoundedDict

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
        self.serving = SharedBackends()
        self._assistant: Any = None
        self._lock = threading.Lock()
        # Bounded: session ids come from browsers, and a script can open sessions without end.
        self._followed: BoundedDict = BoundedDict(4096)
        self._notes: BoundedDict = BoundedDict(1024)
        self._stop = threading.Event()
        # One model-sized job at a time in the app process (M7): four Merge clicks must not load four models.
        self.heavy = threading.BoundedSemaphore(1)
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
                self.move_queue()
            except Exception as exc:  # a locked database now is no reason to stop moving the queue
                log.warning("job queue: %s", exc)

    def move_queue(self) -> str | None:
        """Start the next queued run, after making GPU room for it; returns its id, or None.

        Runs started elsewhere (a finished job handing over, `finetune-assistant train`) wait for this while
        our engines hold GPU memory (`tools.serve.holds`): only this process can shrink or stop them.
        """
        self.make_room_for_next_run()
        return jobs.start_next(room_made=True)

    def make_room_for_next_run(self) -> list:
        """Before the queue starts a run on a GPU, shrink or stop the comparison server (H5)."""
        if not self.serving.holds_gpu():
            return []
        waiting = jobs.queued()
        if not waiting or jobs.training_now() is not None:
            return []
        return self.serving.before_run_starts(_estimated_gb(waiting[0]["run_id"]))

    def resume(self, run_id: str, owner: str | None = None) -> str:
        """Resume a run from its checkpoint, after making GPU room for it as for a queued one."""
        jobs.status(run_id, owner)  # another user's run is "no run" before anything is freed for it
        if self.serving.holds_gpu() and jobs.training_now() is None:
            self.serving.before_run_starts(_estimated_gb(run_id))
        return jobs.resume(run_id, owner=owner, room_made=True)

    def follow_up(self, session: str, run_id: str) -> None:
        """Once per finished run: let the assistant narrate it (the job's evaluation, one side-by-side answer).

        The job evaluated itself; the side-by-side still has both models answer, which in a callback would
        freeze that user's chat, so it runs here, on the app's shared engine, and before the conversation's lock
        is taken (`Assistant.advance`): the user can chat meanwhile. The assistant's reply waits in
        `take_notes` for the session's next monitor tick.
        """
        with self._lock:
            if (session, run_id) in self._followed:
                return
            self._followed[(session, run_id)] = True
        threading.Thread(target=self._advance, args=(session, run_id), daemon=True).start()

    def _advance(self, session: str, run_id: str) -> None:
        try:
            # The thread's run before advancing: a verdict may start the next round, which changes it.
            followed = self.assistant.snapshot(session).run_id
            turn = self.assistant.advance(session)
            text = turn.reply if followed == run_id else ""
        except Exception as exc:
            text = f"⚠️ Evaluating {run_id} failed: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}"
        if text:
            with self._lock:
                self._notes[session] = [*self._notes.get(session, []), text]

    def take_notes(self, session: str) -> list[str]:
        with self._lock:
            return self._notes.pop(session, [])

    @property
    def assistant(self) -> Any:
        with self._lock:
            if self._assistant is None:
                # The web UI opens no user-typed path outside the data dir.
                # Its follow-up comparisons run on the app's shared engine, not a second copy of the models,
                # and hold it while they generate (no eviction closes it under them).
                actions = Actions(engines=lambda base, tuned: self.serving.use(base, tuned, self.config.backend))
                self._assistant = Assistant(llm=None if self.config.llm == "rules" else "auto", confine_paths=True,
                                            actions=actions)
            return self._assistant

    def close(self) -> None:
        self._stop.set()
        self.serving.close_all()
        if self._assistant is not None:
            self._assistant.close()


def _estimated_gb(run_id: str) -> float:
    """The run's estimated peak GPU memory (its queued plan, or its folder's); infinity (make all the room)
    when it can't be estimated."""
    try:
        plan = jobs.queued_plan(run_id) or RunDir(jobs.status(run_id).run_dir).plan()
        return estimate(plan.training).peak_memory_gb
    except Exception as exc:  # a plan format this code does not know: be safe, free the GPU
        log.info("no memory estimate for %s (%s); freeing the GPU", run_id, exc)
        return float("inf")


MAX_UPLOAD_ENV = "FINETUNE_ASSISTANT_MAX_UPLOAD_MB"
_PART = ".part-"


class UploadError(ValueError):
    """An upload refused before it is stored, with what to do instead."""


def max_upload_mb() -> int:
    """The upload size limit in MB: `FINETUNE_ASSISTANT_MAX_UPLOAD_MB`, default 2048."""
    raw = os.environ.get(MAX_UPLOAD_ENV, "2048")
    try:
        value = int(raw)
    except ValueError:
        raise UploadError(f"{MAX_UPLOAD_ENV}={raw!r} is not a whole number of megabytes; set e.g. 2048") from None
    if value < 1:
        raise UploadError(f"{MAX_UPLOAD_ENV} must be at least 1 (got {value})")
    return value


def store_upload(temp_path: str, owner: str | None = None) -> str:
    """Keep a file Gradio received as `<data dir>/uploads/<sha256[:16]>/<name>` and return that path.

    With logins, under the user's own uploads folder (`tools.paths.uploads_dir(owner)`): typed paths of a
    user are confined to it, so no user can train on another's upload (M2).

    Content-addressed: the same file attached in chat and inspected in the Data tab is stored once, and the
    folder name tells nothing about the session that sent it (model cards print data paths). The copy is a
    hard link when Gradio's temp folder shares the disk (it lives in the data dir), so it costs no space,
    and Gradio's cache cleanup can drop its own name. Written under a temp name and renamed: a crash leaves
    no half-written upload under the final name (`sweep_partial_uploads` removes the temp at next start).
    """
    source = Path(temp_path)
    size = source.stat().st_size
    limit = max_upload_mb()
    if size > limit * 1024 * 1024:
        raise UploadError(f"{source.name} is {size / 2**20:,.0f} MB; the upload limit is {limit} MB "
                          f"({MAX_UPLOAD_ENV}). Upload a smaller sample, or raise the limit when starting the app.")
    paths.ensure_free(paths.uploads_dir(owner), size, f"the upload {source.name}")
    digest = _sha256(source)[:16]
    folder = paths.uploads_dir(owner) / digest
    folder.mkdir(exist_ok=True)
    name = _SAFE.sub("_", source.name).lstrip(".") or "upload"
    target = folder / name
    if target.is_file() and target.stat().st_size == size:
        return str(target)
    tmp = folder / f".{name}{_PART}{uuid.uuid4().hex[:8]}"
    try:
        os.link(source, tmp)
    except OSError:  # another filesystem (GRADIO_TEMP_DIR set elsewhere), or no hard links there
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return str(target)


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sweep_partial_uploads() -> int:
    """Remove temp files a killed app left in the uploads folder; returns how many."""
    removed = 0
    for part in paths.uploads_dir().rglob(f".*{_PART}*"):
        part.unlink(missing_ok=True)
        removed += 1
    return removed


DOWNLOAD_TTL_S = 3600.0


def servable(path: str | Path) -> str:
    """A name for `path` that Gradio may send to the browser, kept for an hour.

    Gradio serves files only from its upload folder, the working directory and /tmp; our outputs live
    in the data dir. Linking just the file asked for (into Gradio's folder, itself under the data dir)
    avoids allowing the whole data dir, which holds the databases and the session key. A hard link costs
    no disk (a 16 GB merged model is not copied per click), and links older than an hour are removed
    whenever a new one is made, so repeated downloads don't fill the disk.
    """
    from gradio.utils import get_upload_folder

    source = Path(path)
    root = Path(get_upload_folder()) / "downloads"
    sweep_downloads(root)
    folder = root / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / source.name
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return str(target)


def sweep_downloads(root: Path, max_age_s: float = DOWNLOAD_TTL_S) -> int:
    """Delete download folders older than `max_age_s`; returns how many."""
    import time

    removed = 0
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    for folder in root.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except FileNotFoundError:  # another thread swept it first
            continue
    return removed


def private_files() -> list[str]:
    """Files of the data dir that the web server must never send, whatever a callback returns."""
    dbs = [paths.db_path(), paths.home() / "conversations.db"]
    # SQLite's -wal/-shm files hold recent writes too (L9).
    return [str(p) + suffix for p in dbs for suffix in ("", "-wal", "-shm")] + [
        str(paths.home() / "browser_state.key"), str(paths.home() / "session.key")]


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
