"""The engine behind the gateway: one base model and its adapters, watched and restarted when it dies.

    engine = Engine(base, {"run-a": "runs/a/adapter"}, backend="vllm", on_event=print)
    engine.start()           # vLLM's own OpenAI server, or transformers behind tools/serve/openai_server
    engine.url               # http://127.0.0.1:PORT (loopback only: the gateway is the one door in)
    engine.close()

A watcher thread asks the engine's /health every `check_every_s`; after `failures` misses in a row it closes
what is left (the process group, the port) and starts the engine again, reporting "died" and "restarted"
through `on_event` (the gateway records them in deploy_events and shows them on /health).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tools.serve.backends import ChatBackend, open_backend
from tools.serve.openai_server import serve_backend
from tools.serve.server import ServeConfig


class Engine:
    def __init__(self, base: str, adapters: dict[str, str], backend: str = "auto", serve: ServeConfig | None = None,
                 on_event: Callable[[str, str], None] | None = None, check_every_s: float = 2.0,
                 failures: int = 2):  # fmt: skip
        self.base, self.adapters, self.backend_name, self.serve = base, dict(adapters), backend, serve
        self.on_event = on_event or (lambda kind, message: None)
        self.check_every_s, self.failures = check_every_s, failures
        self.restarts = 0
        self.state = "stopped"  # starting | up | restarting | stopped
        self.last_error: str | None = None
        self.url: str | None = None
        self.kind: str | None = None
        self.fallback_reason: str | None = None
        self._backend: ChatBackend | None = None
        self._http = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self.state = "starting"
        self._open()
        self._watcher = threading.Thread(target=self._watch, name="engine-watch", daemon=True)
        self._watcher.start()

    def models(self) -> dict[str, str]:
        backend = self._backend
        return backend.models() if backend is not None else {}

    def _open(self) -> None:
        backend = open_backend(self.base, self.adapters, self.backend_name, self.serve)
        http = None
        if backend.kind == "vllm":
            url = backend.url.rstrip("/").removesuffix("/v1")
        else:
            http = serve_backend(backend, 0)
            url = f"http://127.0.0.1:{http.server_address[1]}"
        with self._lock:
            self._backend, self._http, self.url, self.kind = backend, http, url, backend.kind
            self.fallback_reason = backend.fallback_reason
            self.state = "up"

    def _close_parts(self) -> None:
        with self._lock:
            backend, http = self._backend, self._http
            self._backend = self._http = None
        if http is not None:
            http.shutdown()
            http.server_close()
        if backend is not None:
            backend.close()

    def healthy(self, timeout: float = 5.0) -> bool:
        import httpx

        backend, url = self._backend, self.url
        if backend is None or url is None or not backend.alive():
            return False
        try:
            return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def _watch(self) -> None:
        misses = 0
        while not self._stop.wait(self.check_every_s):
            if self.state != "up":
                continue
            misses = 0 if self.healthy() else misses + 1
            if misses >= self.failures:
                misses = 0
                self.restart(f"no answer from {self.url}/health {self.failures} times in a row")

    def restart(self, reason: str) -> None:
        """Close what is left of the engine and start it again; a failed start is retried by the watcher."""
        self.state = "restarting"
        self.last_error = reason
        self.on_event("died", reason)
        self._close_parts()
        try:
            self._open()
        except Exception as exc:  # noqa: BLE001 - keep watching; /health shows the error
            self.last_error = f"restart failed: {exc}"
            self.on_event("restart_failed", str(exc))
            self.state = "up"  # let the watcher probe (and retry) again
            return
        self.restarts += 1
        self.on_event("restarted", f"engine up again at {self.url} (restart {self.restarts})")

    def simulate_crash(self) -> None:
        """Stop the engine's HTTP side without telling the watcher: what a crash looks like from outside."""
        http, backend = self._http, self._backend
        if http is not None:
            http.shutdown()
            http.server_close()
        elif backend is not None:
            backend.close()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
        self._close_parts()
        self.state = "stopped"


class ExternalEngine:
    """An engine someone else runs (vLLM replicas behind a Service): the gateway only watches it.

    Its models are read from its /v1/models; the watcher marks it "down" while /health fails and "up" again
    when it answers (restarting it is the orchestrator's job: the k8s liveness probe, compose's restart policy).
    """

    kind = "external"
    fallback_reason = None

    def __init__(self, url: str, on_event: Callable[[str, str], None] | None = None, check_every_s: float = 5.0):
        self.url = url.rstrip("/").removesuffix("/v1")
        self.on_event = on_event or (lambda kind, message: None)
        self.check_every_s, self.restarts, self.state = check_every_s, 0, "stopped"
        self._models: dict[str, str] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self, wait_s: float = 600.0) -> None:
        import httpx

        deadline = time.monotonic() + wait_s
        while True:
            try:
                data = httpx.get(f"{self.url}/v1/models", timeout=10).json()["data"]
                break
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no engine answers at {self.url}/v1/models: {exc}") from None
                time.sleep(2)
        self._models = {m["id"]: m.get("root") or m["id"] for m in data}
        self.state = "up"
        self._watcher = threading.Thread(target=self._watch, name="engine-watch", daemon=True)
        self._watcher.start()

    def models(self) -> dict[str, str]:
        return dict(self._models)

    def _watch(self) -> None:
        import httpx

        while not self._stop.wait(self.check_every_s):
            try:
                ok = httpx.get(f"{self.url}/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok != (self.state == "up"):
                self.state = "up" if ok else "down"
                self.on_event("up" if ok else "died", f"{self.url}/health {'answers' if ok else 'does not answer'}")
                self.restarts += int(ok)

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
        self.state = "stopped"
