"""A small OpenAI-compatible HTTP front for any ChatBackend: `serve --backend transformers` uses it.

    server = serve_backend(TransformersBackend("default"), port=0)   # http://127.0.0.1:<port>/v1
    server.shutdown()

Only what the app's own clients need: GET /health, GET /v1/models and POST /v1/chat/completions (plain or
streamed as server-sent events). Bound to 127.0.0.1: it has no authentication.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tools.serve.backends import ChatBackend, Sampling


def serve_backend(backend: ChatBackend, port: int = 0) -> ThreadingHTTPServer:
    """Start serving `backend` in a daemon thread; `server.server_address[1]` is the port."""
    handler = type("Handler", (_Handler,), {"backend": backend})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Handler(BaseHTTPRequestHandler):
    backend: ChatBackend
    # Keep-alive: a client in front of us (the deploy gateway) reuses one connection instead of opening a
    # TCP connection per request. Every plain answer carries Content-Length; a stream closes the connection.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the second waits for the client's delayed ACK.
    disable_nagle_algorithm = True
    # A kept-alive connection left idle this long is closed, so its thread ends (generation does no socket
    # I/O, so a long answer is not cut by this).
    timeout = 120

    def log_message(self, *args) -> None:  # keep the terminal for the user's own output
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (an LLM brain's time bound): nothing to answer, and no traceback on the
            # terminal of `finetune-assistant serve`.
            self.close_connection = True

    def do_GET(self) -> None:
        if self.path == "/health":
            return self._json(200, {"status": "ok"})
        if self.path == "/v1/models":
            data = [{"id": name, "object": "model", "root": src} for name, src in self.backend.models().items()]
            return self._json(200, {"object": "list", "data": data})
        self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        # Read the body before any answer: on a kept-alive connection, unread bytes would be taken for the
        # start of the next request.
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": f"no route {self.path}"}})
        try:
            body = json.loads(raw or b"{}")
            model, messages = body["model"], body["messages"]
            sampling = Sampling(temperature=body.get("temperature", 0.0), top_p=body.get("top_p", 1.0),
                                max_tokens=body.get("max_tokens") or 256, seed=body.get("seed", 0))  # fmt: skip
            if model not in self.backend.models():
                return self._json(404, {"error": {"message": f"model '{model}' does not exist"}})
        except (ValueError, KeyError, TypeError) as exc:
            return self._json(400, {"error": {"message": f"bad request: {exc}"}})
        if body.get("stream"):
            return self._stream(model, messages, sampling)
        text = self.backend.chat(model, messages, sampling)
        self._json(200, {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                         "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"role": "assistant", "content": text}}]})  # fmt: skip

    def _stream(self, model: str, messages: list[dict], sampling: Sampling) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # no length known up front: the end of the stream is the close
        self.end_headers()
        self.close_connection = True
        for delta in self.backend.stream(model, messages, sampling):
            chunk = {"object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {"content": delta}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
