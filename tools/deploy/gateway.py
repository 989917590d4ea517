"""Our OpenAI-compatible gateway in front of the engine: keys, rate limits, canary routing, the request log.

    gateway = Gateway(engine, keys=KeyCache(), limiter=RateLimiter(600), log=TrafficLog("d1"))
    app = gateway.app()            # a Starlette ASGI app; `tools.deploy.service` runs it under uvicorn

Routes: GET /health (no key: load balancers probe it), GET /v1/models, POST /v1/chat/completions (plain or
streamed), POST /v1/feedback. Errors use OpenAI's shape, `{"error": {"message", "type", "code"}}`.

What a request costs on the event loop is kept to dictionary lookups and a queue append (see
benchmarks/bench_gateway.py for the figures): keys are checked against an in-memory cache that a thread
refreshes (SQLite is read on the loop never; an id the cache has not seen is looked up in a worker thread),
the upstream is reached through one pooled aiohttp session with kept-alive connections (httpx's async pool
added 10-20 ms a request at 8 concurrent clients in that benchmark, aiohttp 1-3 ms), the body is forwarded
as the client sent it unless a canary split rewrites the model name, the engine's answer is passed back
byte for byte, and streamed chunks are passed on as they arrive (collected in a list for the log). Parsing
the answer, redaction, token counts and SQLite writes happen on the log's thread.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tools import store
from tools.data.pii import redact_text
from tools.deploy.keys import MISS, KeyCache, KeyRecord
from tools.deploy.ratelimit import RateLimiter
from tools.deploy.routing import Split, choose
from tools.deploy.traffic import Exchange, TrafficLog

if TYPE_CHECKING:
    import aiohttp

MAX_BODY_BYTES = 4 * 1024 * 1024  # a chat request is kilobytes; refuse megabytes before parsing them
_JSON = {"content-type": "application/json"}


def error(status: int, message: str, kind: str, code: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status, headers)


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=10_000)
    correction: str | None = Field(None, max_length=100_000)


class Gateway:
    def __init__(self, engine, keys: KeyCache, limiter: RateLimiter, log: TrafficLog, splits: list[Split] | None = None,
                 reask_share: float = 0.0, seed: int | None = None, upstream_timeout_s: float = 600.0):  # fmt: skip
        if not 0.0 <= reask_share <= 1.0:
            raise ValueError(f"reask share must be between 0 and 1, got {reask_share}")
        self.engine, self.keys, self.limiter, self.log = engine, keys, limiter, log
        self.splits, self.reask_share = list(splits or []), reask_share
        self.rng = random.Random(seed)
        self.timeout = upstream_timeout_s
        self.client: aiohttp.ClientSession | None = None
        self._upstream_errors: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError)

    def app(self) -> Starlette:
        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/feedback", self.feedback, methods=["POST"]),
        ]
        return Starlette(routes=routes, lifespan=self._lifespan)

    @asynccontextmanager
    async def _lifespan(self, app):
        import aiohttp  # a second to import: only a running gateway needs it

        # One pooled session for the life of the server: a new TCP connection per request would cost more than
        # everything else the gateway does. No compression asked for: the engine is on the same host or network.
        connector = aiohttp.TCPConnector(limit=512, keepalive_timeout=30)
        timeout = aiohttp.ClientTimeout(total=self.timeout, sock_connect=10.0)
        self.client = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                            skip_auto_headers=("Accept-Encoding", "User-Agent"))  # fmt: skip
        self._upstream_errors = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
        await run_in_threadpool(self.keys.start)
        try:
            yield
        finally:
            self.keys.stop()
            await self.client.close()

    # --- routes ----------------------------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        up = self.engine.state == "up" and self.engine.url is not None
        body = {"status": "ok" if up else "unavailable", "engine": self.engine.state, "kind": self.engine.kind,
                "restarts": self.engine.restarts, "models": sorted(self.engine.models())}  # fmt: skip
        return JSONResponse(body, 200 if up else 503)

    async def models(self, request: Request) -> Response:
        denied = await self._auth(request)
        if isinstance(denied, Response):
            return denied
        now = int(time.time())
        data = [{"id": name, "object": "model", "created": now, "owned_by": "finetune-assistant", "root": source}
                for name, source in self.engine.models().items()]  # fmt: skip
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response:
        started, created = time.perf_counter(), time.time()
        record = await self._auth(request)
        if isinstance(record, Response):
            # Refused requests are logged too (without their body, which was never read): a burst of 401s or
            # 429s is something the monitor should show.
            self.log.put(Exchange(completion_id=f"refused-{uuid.uuid4().hex}", created_at=created, key_name=None,
                                  requested_model=None, model=None, route=None, request={}, status=record.status_code,
                                  latency_ms=(time.perf_counter() - started) * 1000, error="refused at the door"))  # fmt: skip
            return record
        raw = await request.body()
        parsed = self._parse_chat(raw)
        if isinstance(parsed, Response):
            self.log.put(Exchange(completion_id=f"bad-{uuid.uuid4().hex}", created_at=created, key_name=record.name,
                                  requested_model=None, model=None, route=None, request={}, status=parsed.status_code,
                                  latency_ms=(time.perf_counter() - started) * 1000,
                                  error=json.loads(parsed.body)["error"]["message"][:500]))  # fmt: skip
            return parsed
        body, requested = parsed
        model, route = choose(self.splits, requested, self.rng)
        if model != requested:
            body["model"] = model
            raw = json.dumps(body).encode()
        url = self.engine.url
        if self.engine.state != "up" or url is None:
            return error(503, f"the engine is {self.engine.state}; retry in a few seconds", "server_error", "engine_down",
                         {"Retry-After": "5"})  # fmt: skip
        exchange = Exchange(completion_id=f"chatcmpl-{uuid.uuid4().hex}", created_at=created, key_name=record.name,
                            requested_model=requested, model=model, route=route, request=body, status=0,
                            latency_ms=0.0, stream=bool(body.get("stream")))  # fmt: skip
        if exchange.stream:
            return await self._stream(f"{url}/v1/chat/completions", raw, exchange, started)
        return await self._plain(f"{url}/v1/chat/completions", raw, exchange, started)

    async def feedback(self, request: Request) -> Response:
        record = await self._auth(request)
        if isinstance(record, Response):
            return record
        try:
            body = FeedbackBody.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"])) or "body"
            return error(400, f"feedback {where}: {first['msg']} (send {{\"id\": COMPLETION_ID, \"rating\": \"up\"|\"down\"}})",
                         "invalid_request_error", "bad_feedback")  # fmt: skip
        found = await run_in_threadpool(self._record_feedback, body, record.name)
        if found is None:
            return error(404, f"no completion '{body.id}' made with this key", "invalid_request_error", "unknown_id")
        return JSONResponse({"id": found, "rating": body.rating, "recorded": True})

    # --- helpers ---------------------------------------------------------------------------------------------

    async def _auth(self, request: Request) -> KeyRecord | Response:
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("x-api-key")
        record = self.keys.check_cached(key)
        if record is MISS:  # an id the cache has not seen (a key created a moment ago): SQLite, off the loop
            record = await run_in_threadpool(self.keys.check, key)
        if record is None:
            return error(401, "missing or invalid API key; send 'Authorization: Bearer <key>' "
                         "(create one with `finetune-assistant keys create NAME`)", "invalid_request_error",
                         "invalid_api_key")  # fmt: skip
        allowed, wait = self.limiter.allow(record.key_id, record.rate_per_min)
        if not allowed:
            return error(429, f"rate limit reached for key '{record.name}'; retry in {wait:.1f}s", "rate_limit_error",
                         "rate_limit_exceeded", {"Retry-After": str(max(1, round(wait)))})  # fmt: skip
        return record

    def _parse_chat(self, raw: bytes) -> tuple[dict, str] | Response:
        if len(raw) > MAX_BODY_BYTES:
            return error(413, f"request body over {MAX_BODY_BYTES // 1024 // 1024} MiB", "invalid_request_error")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return error(400, f"the body is not JSON: {exc}", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            return error(400, "the body needs 'model' (a string) and 'messages' (a list)", "invalid_request_error")
        if body["model"] not in self.engine.models():
            served = ", ".join(sorted(self.engine.models()))
            return error(404, f"model '{body['model']}' does not exist (served: {served})", "invalid_request_error",
                         "model_not_found")  # fmt: skip
        return body, body["model"]

    async def _plain(self, url: str, raw: bytes, x: Exchange, started: float) -> Response:
        try:
            async with self.client.post(url, data=raw, headers=_JSON) as resp:
                content, status = await resp.read(), resp.status
                kind = resp.headers.get("content-type", "application/json")
        except self._upstream_errors as exc:
            return self._upstream_failed(x, started, exc)
        x.status, x.response = status, content
        x.latency_ms = (time.perf_counter() - started) * 1000
        if status != 200:
            x.error = content[:2000].decode("utf-8", "replace")
        # A queue append: the log's thread does the parsing, redaction and writing, after this answer is sent.
        self.log.put(x)
        task = self._maybe_reask(url, x) if status == 200 else None
        return Response(content, status, headers={"content-type": kind, "x-completion-id": x.completion_id}, background=task)

    async def _stream(self, url: str, raw: bytes, x: Exchange, started: float) -> Response:
        try:
            resp = await self.client.post(url, data=raw, headers=_JSON)
        except self._upstream_errors as exc:
            return self._upstream_failed(x, started, exc)
        if resp.status != 200:
            try:
                content = await resp.read()
            except self._upstream_errors as exc:
                return self._upstream_failed(x, started, exc)
            finally:
                resp.release()
            x.status, x.error, x.latency_ms = resp.status, content[:2000].decode("utf-8", "replace"), (time.perf_counter() - started) * 1000
            self.log.put(x)
            return Response(content, resp.status, headers={"content-type": resp.headers.get("content-type", "")})

        async def relay():
            chunks: list[bytes] = []
            x.status = 200
            try:
                async for chunk in resp.content.iter_any():
                    if x.ttft_ms is None:
                        x.ttft_ms = (time.perf_counter() - started) * 1000
                    chunks.append(chunk)
                    yield chunk
            except self._upstream_errors as exc:
                x.status, x.error = 502, f"the engine broke off the stream: {exc!r}"
            except (asyncio.CancelledError, GeneratorExit):
                x.status, x.error = 499, "the client disconnected before the end of the stream"
                raise
            finally:
                resp.release()
                x.response, x.latency_ms = b"".join(chunks), (time.perf_counter() - started) * 1000
                self.log.put(x)

        headers = {"x-completion-id": x.completion_id, "cache-control": "no-cache"}
        return StreamingResponse(relay(), media_type="text/event-stream", headers=headers,
                                 background=self._maybe_reask(url, x))  # fmt: skip

    def _upstream_failed(self, x: Exchange, started: float, exc: Exception) -> Response:
        x.status, x.error, x.latency_ms = 502, f"engine unreachable: {exc!r}", (time.perf_counter() - started) * 1000
        self.log.put(x)
        return error(502, "the engine did not answer; it is restarted automatically if it died", "server_error",
                     "engine_unreachable")  # fmt: skip

    def _maybe_reask(self, url: str, x: Exchange) -> BackgroundTask | None:
        """On a sampled share of traffic, ask the same question again after answering (the client never waits
        for it): two answers that disagree on the same prompt are a hallucination signal the monitor reads."""
        if self.reask_share <= 0 or self.rng.random() >= self.reask_share:
            return None
        return BackgroundTask(self._reask, url, x)

    async def _reask(self, url: str, x: Exchange) -> None:
        body = {**x.request, "model": x.model, "stream": False, "temperature": max(0.7, x.request.get("temperature") or 0.0)}
        body.pop("seed", None)  # a fixed seed would make the re-ask repeat the answer instead of testing it
        again = Exchange(completion_id=f"reask-{uuid.uuid4().hex}", created_at=time.time(), key_name=x.key_name,
                         requested_model=x.requested_model, model=x.model, route="reask", request=body, status=0,
                         latency_ms=0.0, reask_of=x.completion_id)  # fmt: skip
        started = time.perf_counter()
        try:
            async with self.client.post(url, data=json.dumps(body).encode(), headers=_JSON) as resp:
                again.status, again.response = resp.status, await resp.read()
        except self._upstream_errors as exc:
            again.status, again.error = 502, repr(exc)
        again.latency_ms = (time.perf_counter() - started) * 1000
        self.log.put(again)

    def _record_feedback(self, body: FeedbackBody, key_name: str) -> str | None:
        self.log.flush()  # the rated answer may still be in the log's queue
        redact = self.log.redact
        comment = redact_text(body.comment, self.log.redactions) if redact and body.comment else body.comment
        correction = redact_text(body.correction, self.log.redactions) if redact and body.correction else body.correction
        with store.transaction(immediate=True) as db:
            row = db.execute(
                "SELECT completion_id FROM traffic WHERE (completion_id = ? OR upstream_id = ?) AND key_name = ? "
                "AND reask_of IS NULL", (body.id, body.id, key_name),
            ).fetchone()  # fmt: skip
            if row is None:
                return None
            db.execute(
                "INSERT INTO feedback (completion_id, created_at, key_name, rating, comment, correction) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (completion_id) DO UPDATE SET created_at = excluded.created_at, "
                "rating = excluded.rating, comment = excluded.comment, correction = excluded.correction",
                (row["completion_id"], time.time(), key_name, body.rating, comment, correction),
            )
        return row["completion_id"]
