"""Who may talk to the app: a Host/Origin check and a per-start secret, in front of all of Gradio.

Loopback is not a boundary: on a shared GPU server every local user reaches 127.0.0.1:7860, and a web page
the user visits can reach it too by DNS rebinding (its name re-pointed at 127.0.0.1, so the browser treats
the app as that page's origin). So, as Jupyter does, every start draws a random token and prints
`http://127.0.0.1:7860/?token=...`. The first visit with it sets an HttpOnly, SameSite=Strict cookie, and
every later request must carry that cookie, the token header, or the query parameter; anything else gets 401.
A Host header that is not ours gets 403 whatever it carries (rebinding), and so does an Origin that is not
the page's own (a cross-site request; this also stops Gradio's CORS layer from echoing foreign origins).

The guard wraps the whole ASGI app, outside Gradio's own middleware, so no route escapes it.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

TOKEN_ENV = "FINETUNE_ASSISTANT_TOKEN"
TOKEN_HEADER = "x-finetune-assistant-token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Gradio's launch() calls this once, without our token, to run its startup events; a repeat is a no-op.
OPEN_PATHS = ("/gradio_api/startup-events",)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def host_name(value: str) -> str:
    """'localhost:7860' -> 'localhost', '[::1]:7860' -> '::1', 'http://a.example:1/x' -> 'a.example'."""
    if "//" in value:
        value = urlsplit(value).netloc
    value = value.rsplit("@", 1)[-1].strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass
class AccessPolicy:
    """`token` None means no token is asked (`--no-token`, loopback only); `any_host` is for share links,
    whose public name we don't know in advance (a login is required there)."""

    port: int
    token: str | None
    allowed_hosts: set[str] = field(default_factory=lambda: set(LOOPBACK))
    any_host: bool = False

    @property
    def cookie(self) -> str:
        # Cookies are not scoped by port: two apps on one machine must not overwrite each other's.
        return f"finetune-assistant-token-{self.port}"

    def host_ok(self, host: str | None) -> bool:
        return self.any_host or (host is not None and host_name(host) in self.allowed_hosts)

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        """No Origin (a plain navigation, curl) is fine; otherwise it must be the page's own host:port."""
        if origin is None:
            return True
        if origin == "null" or host is None:
            return False
        return urlsplit(origin).netloc.lower() == host.strip().lower()

    def token_ok(self, candidates: Iterable[str | None]) -> bool:
        if self.token is None:
            return True
        return any(c and hmac.compare_digest(c.encode(), self.token.encode()) for c in candidates)


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


class AccessGuard:
    """ASGI middleware applying an AccessPolicy to HTTP and websocket requests."""

    def __init__(self, app, policy: AccessPolicy):
        self.app, self.policy = app, policy

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        p, headers = self.policy, _headers(scope)
        host, origin = headers.get("host"), headers.get("origin")
        query_token = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [None])[0]
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is the client's problem, not a reason to fail open
            cookies = SimpleCookie()
        cookie_token = cookies[p.cookie].value if p.cookie in cookies else None
        if not p.host_ok(host):
            await _refuse(scope, receive, send, 403, "Host not allowed: this app answers only to its own address.")
            return
        if not p.origin_ok(origin, host):
            await _refuse(scope, receive, send, 403, "Cross-origin request refused.")
            return
        if scope["path"] not in OPEN_PATHS and not p.token_ok((cookie_token, headers.get(TOKEN_HEADER), query_token)):
            await _refuse(scope, receive, send, 401,
                          "Open the address printed when the app started (it ends in ?token=...).")
            return
        if query_token and cookie_token != p.token and scope["type"] == "http":
            send = _with_cookie(send, p)
        await self.app(scope, receive, send)


def _with_cookie(send, policy: AccessPolicy):
    value = f"{policy.cookie}={policy.token}; Path=/; HttpOnly; SameSite=Strict"

    async def wrapped(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", value.encode())]}
        await send(message)

    return wrapped


async def _refuse(scope, receive, send, status: int, text: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


LOGIN_HOURS_ENV = "FINETUNE_ASSISTANT_LOGIN_HOURS"


def login_ttl_s() -> float:
    """How long a login lasts: `FINETUNE_ASSISTANT_LOGIN_HOURS` (default 12)."""
    value = os.environ.get(LOGIN_HOURS_ENV, "12").strip()
    try:
        hours = float(value)
    except ValueError:
        raise ValueError(f"{LOGIN_HOURS_ENV}={value!r} is not a number of hours; use e.g. 12") from None
    if hours <= 0:
        raise ValueError(f"{LOGIN_HOURS_ENV} must be more than 0 hours (got {value})")
    return hours * 3600


class ExpiringTokens(dict):
    """Gradio's login sessions (cookie token -> user name), each valid for `ttl_s` after its login (M5).

    Gradio keeps them in a plain dict on its app until the process ends, so a stolen or forgotten session
    cookie worked forever. Gradio only sets, reads, tests and deletes entries, so expiring them here is enough:
    an expired token reads as absent (the browser is asked to log in again) and is dropped on that read."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.ttl_s, self._clock, self._issued = ttl_s, clock, {}

    def __setitem__(self, token, user) -> None:
        self._issued[token] = self._clock()
        super().__setitem__(token, user)

    def __delitem__(self, token) -> None:
        self._issued.pop(token, None)
        super().__delitem__(token)

    def _fresh(self, token) -> bool:
        issued = self._issued.get(token)
        return issued is not None and self._clock() - issued <= self.ttl_s

    def _drop(self, token) -> None:
        self._issued.pop(token, None)
        super().pop(token, None)

    def _live(self, token) -> bool:
        """Fresh, or dropped on this read."""
        if self._fresh(token):
            return True
        self._drop(token)
        return False

    def __contains__(self, token) -> bool:
        return self._live(token)

    def __getitem__(self, token):
        if not self._live(token):
            raise KeyError(token)
        return super().__getitem__(token)

    def get(self, token, default=None):
        return super().get(token, default) if self._live(token) else default

    def _purge(self) -> None:
        for token in [t for t in super().keys() if not self._fresh(t)]:
            self._drop(token)

    # Gradio's "log out everywhere" walks keys() and reads each: expired ones must not be listed.
    def keys(self):
        self._purge()
        return super().keys()

    def __iter__(self):
        self._purge()
        return super().__iter__()

    def items(self):
        self._purge()
        return super().items()

    def values(self):
        self._purge()
        return super().values()

    def __len__(self) -> int:
        self._purge()
        return super().__len__()
