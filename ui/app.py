"""The Gradio app: Chat, Data, Train, Compare and Runs.

    finetune-assistant ui               # http://127.0.0.1:7860
    python -m ui.app

Thin by design: layout here, callbacks in `ui.callbacks` (each calls `assistant/` or `tools/`), formatting
in `ui.views`. Per-user state lives in `gr.State`; shared resources live in one `Services` object.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time

import gradio as gr
from gradio.routes import App, ORJSONResponse

from tools import paths
from tools.serve import server as vllm_server
from ui import tabs
from ui.callbacks import Callbacks
from ui.guard import LOOPBACK, AccessGuard, AccessPolicy, ExpiringTokens, login_ttl_s, new_token
from ui.monitor_tab import build_monitor_tab
from ui.services import (
    AppConfig,
    Services,
    browser_secret,
    max_upload_mb,
    private_files,
    sweep_partial_uploads,
    use_data_dir_for_gradio_uploads,
)

TITLE = "Fine-tune assistant"
_INTRO = (
    f"# {TITLE}\nTell me what you want your model to do. I'll ask a few questions, propose a plan "
    "(nothing runs until you approve it), prepare your data, train, and let you compare the base and the "
    "tuned model side by side."
)
# Queue bounds (M7): beyond QUEUE_MAX_SIZE waiting events a new one is refused at once with Gradio's
# "queue is full" error instead of piling up memory and latency for everyone.
QUEUE_MAX_SIZE = int(os.environ.get("FINETUNE_ASSISTANT_QUEUE_MAX", "64"))
CONCURRENCY = 4
# Gradio's cache (uploads it received, files it served): swept every hour, files older than a day removed.
DELETE_CACHE = (3600, 86400)


def build_app(services: Services | None = None) -> gr.Blocks:
    cb = Callbacks(services or Services())
    with gr.Blocks(title=TITLE, delete_cache=DELETE_CACHE) as demo:
        # The browser keeps a conversation id that the server signed (ui.sessions); the BrowserState
        # encryption is no security boundary (its key ships to every client), the signature is.
        session = gr.BrowserState(None, storage_key="finetune-assistant-session", secret=browser_secret())
        run_id = gr.State()
        gr.Markdown(_INTRO)
        # Only gr.Tab directly inside (tests/ui/test_app_layout.py): any other component here takes a
        # position in the tab bar, and the selected tab then showed twice in place of the last one.
        with gr.Tabs(elem_id="tabs"):
            chat = tabs.chat_tab()
            data = tabs.data_tab()
            train = tabs.train_tab(cb, run_id)
            tabs.compare_tab(cb)
            tabs.runs_tab(cb, demo)
            with gr.Tab("Monitor", id="monitor", elem_id="tab-monitor") as monitor_tab:
                build_monitor_tab(monitor_tab)
        tabs.wire_conversation(cb, demo, session, run_id, chat, data, train)
    return demo


class GuardedApp(App):
    """Gradio's FastAPI app with the access guard outside every middleware Gradio adds (CORS included)."""

    def __init__(self, policy: AccessPolicy):
        super().__init__(default_response_class=ORJSONResponse)
        self.policy = policy

    # Gradio assigns `app.tokens = {}` (its logins) when it configures the app; keep them expiring instead (M5).
    @property
    def tokens(self) -> ExpiringTokens:
        return self._tokens

    @tokens.setter
    def tokens(self, value: dict) -> None:
        self._tokens = ExpiringTokens(login_ttl_s())
        for token, user in dict(value).items():
            self._tokens[token] = user

    def build_middleware_stack(self):
        return AccessGuard(super().build_middleware_stack(), self.policy)


class LoginLimiter:
    """Gradio's auth callable with a brake: after 5 failures in a minute, every login is refused for a minute.

    Gradio's /login has no rate limit (M5); one global brake is crude but can't be dodged by changing IP.
    `credentials`: one (user, password) pair or a dict of them; each user sees only their own work (M2).
    """

    def __init__(self, credentials: tuple[str, str] | dict[str, str], max_failures: int = 5, window_s: float = 60.0):
        self.users = dict([credentials]) if isinstance(credentials, tuple) else dict(credentials)
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, username: str, password: str) -> bool:
        import hmac

        now = time.monotonic()
        with self._lock:
            self._failures = [t for t in self._failures if now - t < self.window_s]
            if len(self._failures) >= self.max_failures:
                return False
            # Compared in constant time even for an unknown user, so timing does not tell which names exist.
            expected = self.users.get(username)
            ok = hmac.compare_digest(password.encode(), (expected if expected is not None else "\x00" + password).encode())
            ok = ok and expected is not None
            if not ok:
                self._failures.append(now)
            return ok


def allowed_hosts(host: str, extra: tuple[str, ...] = ()) -> set[str]:
    """Host names the app answers to: loopback, the bound address, this machine's names when bound to all."""
    names = {*LOOPBACK, *(h.lower() for h in extra)}
    if host in ("0.0.0.0", "::"):
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        try:
            names |= set(socket.gethostbyname_ex(socket.gethostname())[2])
        except OSError:
            pass
    else:
        names.add(host.lower())
    return names


def start_url(host: str, port: int, token: str | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           auth: tuple[str, str] | dict[str, str] | None = None,
           config: AppConfig | None = None, token: str | None = "", extra_hosts: tuple[str, ...] = ()) -> None:
    """Serve the app. `token` "" draws a fresh per-start secret, None asks none (loopback only, see ui.cli)."""

    if share or host not in LOOPBACK:
        if auth is None:
            raise ValueError(f"refusing to serve on {host if not share else 'a share link'} without credentials")
        if token is None:
            raise ValueError("--no-token is for loopback only")
    paths.make_private()
    use_data_dir_for_gradio_uploads()
    sweep_partial_uploads()
    vllm_server.reap_stale_servers()

    token = (os.environ.get("FINETUNE_ASSISTANT_TOKEN") or new_token()) if token == "" else token
    policy = AccessPolicy(port=port, token=token, allowed_hosts=allowed_hosts(host, extra_hosts), any_host=share)
    services = Services(config)
    services.start_worker()
    demo = build_app(services)
    # `finally` must run on SIGTERM and SIGHUP (systemd, docker stop, a closed terminal): it stops the vLLM
    # server we started. SIGKILL can't be caught; the vLLM child then dies by its parent-death signal.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(0))
    print(f"Fine-tune assistant running at {start_url(host, port, token)}", flush=True)
    try:
        demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_MAX_SIZE).launch(
            server_name=host, server_port=port, share=share, auth=LoginLimiter(auth) if auth else None,
            show_error=False, quiet=True, blocked_paths=private_files(), _app=GuardedApp(policy),
            run_history=False,  # H2: Gradio would keep every input, the HF token included, in localStorage
            mcp_server=False,  # L9: GRADIO_MCP_SERVER=true in the environment must not open an unauthenticated door
            max_file_size=f"{max_upload_mb()}mb", footer_links=["api", "settings"],
        )
    finally:
        services.close()


if __name__ == "__main__":
    launch()
