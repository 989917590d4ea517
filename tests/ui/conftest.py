"""A running app (subprocess) on the tiny model, and a Playwright browser on Debian's chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tools.paths import free_port

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("FINETUNE_ASSISTANT_CHROMIUM", "/usr/bin/chromium")


def _start_line_url(log_path: Path, proc: subprocess.Popen, after: int, timeout: float = 120) -> str:
    """The address the app printed when it started (with its per-start token), as a user would copy it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = log_path.read_text(errors="replace")[after:]
        match = re.search(r"running at (http://\S+)", text)
        if match:
            return match.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited early with code {proc.returncode}: {text[-2000:]}")
        time.sleep(0.3)
    raise TimeoutError(f"the app printed no start line within {timeout}s")


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited early with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the app did not answer on {url} within {timeout}s")


@pytest.fixture
def start_app(tmp_path):
    """start_app(default_model, backend) -> (url, data dir): the app as a user starts it (`finetune-assistant ui`),
    with "default" meaning `default_model`. Stopped, with any training it started, after the test."""
    started = []
    # Outside /tmp and the working directory on purpose: Gradio serves files from those by default,
    # which would hide a download that only works in tests.
    home = Path.home() / ".cache" / "finetune-assistant-tests" / uuid.uuid4().hex

    def start(default_model, backend: str = "transformers", port: int | None = None, extra_args=(), env_extra=None):
        """Returns (url with the start line's ?token=..., data dir)."""
        port = port or free_port()
        env = {**os.environ, "FINETUNE_ASSISTANT_HOME": str(home),
               "FINETUNE_ASSISTANT_DEFAULT_MODEL": str(default_model), "PYTHONUNBUFFERED": "1"}
        env.pop("FINETUNE_ASSISTANT_LLM_BASE_URL", None)
        env.pop("FINETUNE_ASSISTANT_TOKEN", None)
        env.update(env_extra or {})
        log_path = tmp_path / "app.log"
        log = open(log_path, "a")
        offset = log_path.stat().st_size
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "ui", "--port", str(port), "--backend", backend, "--llm", "rules",
             *extra_args],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
        )
        started.append((proc, home, log))
        url = _start_line_url(log_path, proc, offset)
        _wait_http(url, proc)
        return url, home

    def stop():
        for proc, home, log in started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            _stop_training(home)
            log.close()

    start.stop = stop
    yield start
    stop()
    if started:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "app.log", ARTIFACTS / f"{Path(tmp_path).name}-app.log")
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def app_url(start_app, tiny_model_dir):
    """The app on the tiny model, comparing through the transformers backend."""
    return start_app(tiny_model_dir)


def _stop_training(home: Path) -> None:
    """Training runs in its own process session; don't let one outlive the test."""
    import sqlite3

    db = home / "app.db"
    if not db.is_file():
        return
    with sqlite3.connect(db) as conn:
        pids = [row[0] for row in conn.execute("SELECT pid FROM runs WHERE pid IS NOT NULL")]
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def shot():
    """Save a screenshot as a test artifact: shot(page, "name")."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
