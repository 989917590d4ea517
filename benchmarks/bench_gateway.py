"""Benchmark the deployment gateway's added latency against calling the engine directly.

    .venv/bin/python benchmarks/bench_gateway.py                       # both parts below
    .venv/bin/python benchmarks/bench_gateway.py --model default --requests 100 --max-tokens 32

Two measurements, each with requests sent one at a time and alternating direct / through the gateway (so a
busy machine slows both sides alike), p50 and p95 of each side, and the gateway's ratio to direct:

1. a real engine: the model (default: the test suite's tiny Llama, else SmolLM2) on the transformers
   engine behind tools/serve/openai_server, as `deploy --backend transformers` runs it;
2. an instant engine: the same OpenAI server over a backend that answers a fixed text at once, so the
   difference is the gateway's own cost in milliseconds (keys, routing, proxying, queueing the log).

Target: at most 5% added at p50 and p95 on the real engine. Every request is logged: the script checks the
store holds one row per gateway request once the log is drained.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent


class InstantBackend:
    """A ChatBackend answering a fixed text with no work: isolates the gateway's own cost."""

    kind, fallback_reason = "instant", None

    def models(self):
        return {"base": "instant"}

    def chat(self, model, messages, sampling):
        return "A fixed answer of a few words."

    def stream(self, model, messages, sampling):
        yield "A fixed answer."

    def alive(self):
        return True

    def close(self):
        pass


def _pct(values, q):
    import numpy as np

    return float(np.percentile(values, q))


def measure(direct_url: str, gateway_url: str, key: str, model: str, n: int, max_tokens: int) -> dict:
    import httpx

    body = {"model": model, "messages": [{"role": "user", "content": "How much does a day rental cost?"}],
            "max_tokens": max_tokens, "temperature": 0}  # fmt: skip
    times = {"direct": [], "gateway": []}
    with httpx.Client(timeout=300) as client:
        for url, headers in ((direct_url, {}), (gateway_url, {"Authorization": f"Bearer {key}"})):  # warm-up
            client.post(f"{url}/v1/chat/completions", json=body, headers=headers).raise_for_status()
        for i in range(n):
            order = [("direct", direct_url, {}), ("gateway", gateway_url, {"Authorization": f"Bearer {key}"})]
            for side, url, headers in order if i % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                client.post(f"{url}/v1/chat/completions", json=body, headers=headers).raise_for_status()
                times[side].append((time.perf_counter() - start) * 1000)
    out = {side: {"p50_ms": round(_pct(v, 50), 3), "p95_ms": round(_pct(v, 95), 3)} for side, v in times.items()}
    for q in ("p50_ms", "p95_ms"):
        out[f"ratio_{q[:3]}"] = round(out["gateway"][q] / out["direct"][q], 4)
        out[f"added_{q}"] = round(out["gateway"][q] - out["direct"][q], 3)
    out["requests_each"] = n
    return out


def run_part(name: str, engine_url: str, n: int, max_tokens: int, model: str = "base") -> dict:
    from tools import store
    from tools.deploy import keys
    from tools.deploy.service import DeployConfig, start_deployment

    dep = start_deployment(DeployConfig(engine_url=engine_url, port=0, rate_per_min=1e9))
    try:
        key = keys.create_key(f"bench-{name}")
        # The client runs in its own process, as real clients do: in this one it would share the GIL with the
        # gateway's event loop and the log thread and charge its own Python time to the gateway.
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(1) as pool:
            result = pool.apply(measure, (engine_url, dep.url, key, model, n, max_tokens))
        dep.log.flush()
        with store.connect() as db:
            logged = db.execute("SELECT COUNT(*) FROM traffic WHERE deployment_id = ?", (dep.id,)).fetchone()[0]
        result["logged"], result["expected_logged"] = logged, n + 1
    finally:
        dep.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Model for the real-engine part (default: the tests' tiny Llama).")
    parser.add_argument("--requests", type=int, default=60, help="Requests per side on the real engine.")
    parser.add_argument("--instant-requests", type=int, default=500, help="Requests per side on the instant engine.")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("FINETUNE_ASSISTANT_HOME", tempfile.mkdtemp(prefix="bench-gateway-"))

    from tools.serve.backends import open_backend
    from tools.serve.openai_server import serve_backend

    results = {}
    instant = serve_backend(InstantBackend())
    results["instant_engine"] = run_part("instant", f"http://127.0.0.1:{instant.server_address[1]}",
                                         args.instant_requests, args.max_tokens)  # fmt: skip
    instant.shutdown()
    report("instant_engine", results["instant_engine"])
    if not args.skip_real:
        tiny = Path(os.environ.get("FINETUNE_ASSISTANT_TEST_CACHE", REPO / ".cache" / "tests")) / "tiny-llama"
        model = args.model or (str(tiny) if tiny.is_dir() else "default")
        backend = open_backend(model, {}, "transformers")
        server = serve_backend(backend)
        try:
            results["real_engine"] = {"model": model, **run_part("real", f"http://127.0.0.1:{server.server_address[1]}",
                                                                 args.requests, args.max_tokens)}  # fmt: skip
        finally:
            server.shutdown()
            backend.close()
        report("real_engine", results["real_engine"])


def report(part: str, r: dict) -> None:
    """Each part as soon as it is measured (a long real-engine part must not hide the instant one)."""
    print(json.dumps({part: r}), flush=True)
    verdict = "ok" if max(r["ratio_p50"], r["ratio_p95"]) <= 1.05 else "over the 5% target"
    print(f"{part}: direct p50 {r['direct']['p50_ms']:.1f} ms p95 {r['direct']['p95_ms']:.1f} ms; gateway/direct "
          f"p50 {r['ratio_p50']:.3f} ({r['added_p50_ms']:+.2f} ms), p95 {r['ratio_p95']:.3f} ({r['added_p95_ms']:+.2f} ms); "
          f"logged {r['logged']}/{r['expected_logged']}: {verdict}", flush=True)


if __name__ == "__main__":
    main()
