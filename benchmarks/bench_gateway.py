"""Benchmark the deployment gateway's added latency against calling the engine directly, in the same run.

    .venv/bin/python benchmarks/bench_gateway.py                              # both engines, 1 and 8 clients
    .venv/bin/python benchmarks/bench_gateway.py --engines delay --delay-ms 200 --concurrency 1 8 --repeats 5
    .venv/bin/python benchmarks/bench_gateway.py --engines tiny --model default     # SmolLM2 instead of the tiny Llama

Engines, both behind our OpenAI server (tools/serve/openai_server):

- `tiny`: the transformers backend answering short completions (default: the test suite's tiny Llama,
  `--max-tokens 16`), a realistic engine on a CPU box, run exactly as `deploy --backend transformers` runs
  it: inside the gateway's process (`start_deployment(DeployConfig(base=..., backend="transformers"))`);
- `delay`: a fake engine answering a fixed text after `--delay-ms` (default 200 ms), in its own process as a
  vLLM server is (`start_deployment(DeployConfig(engine_url=...))`), so the gap between the two sides is the
  gateway's own cost and nothing else varies.

The gateway (keys, rate limit, routing, proxying and the request log with PII redaction on) runs in this
process, the clients in another, over kept-alive connections to each side. For each engine and each client count, every client sends its requests alternating direct and
through the gateway (the order flipped from one client and one request to the next), so a busy machine slows
both sides alike; the whole measurement is repeated `--repeats` times. Printed per configuration: p50 and p95
of each side over all repeats, their ratio (gateway / direct), the ratio in each repeat, the median of the
differences within back-to-back pairs (the steadiest figure on a shared machine), and the log check (one
traffic row per gateway request, once the log is drained). Target: ratio at most 1.05.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
PROMPT = "How much does a day rental cost?"


class DelayBackend:
    """A ChatBackend answering a fixed text after a fixed delay: the engine's time is known exactly."""

    kind, fallback_reason = "delay", None

    def __init__(self, delay_s: float):
        self.delay_s = delay_s

    def models(self):
        return {"base": "delay"}

    def chat(self, model, messages, sampling):
        time.sleep(self.delay_s)
        return "A day rental costs 35 euros, helmet included."

    def stream(self, model, messages, sampling):
        time.sleep(self.delay_s)
        yield "A day rental costs 35 euros."

    def alive(self):
        return True

    def close(self):
        pass


def _delay_engine(delay_s: float, ready) -> None:
    from tools.serve.openai_server import serve_backend

    server = serve_backend(DelayBackend(delay_s))
    ready.send(server.server_address[1])
    ready.recv()  # block until the parent says stop
    server.shutdown()


def _pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def _post(conns: dict, side: str, url: str, body: bytes, headers: dict) -> float:
    """One request over this client's own keep-alive connection; ms from sending to the last byte read.

    A connection the server closed while idle (uvicorn after 5 s, as a client of a slow engine sees at 8
    clients) is reopened and the request sent again, timed from the new send, as an HTTP client library does.
    """
    for attempt in (1, 2):
        conn = conns.get(side)
        if conn is None:
            parts = urlsplit(url)
            conn = conns[side] = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        start = time.perf_counter()
        try:
            conn.request("POST", "/v1/chat/completions", body, headers)
            resp = conn.getresponse()
            data = resp.read()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            conn.close()
            conns.pop(side)
            if attempt == 2:
                raise
            continue
        elapsed = (time.perf_counter() - start) * 1000
        if resp.status != 200:
            raise RuntimeError(f"{side}: HTTP {resp.status}: {data[:300]!r}")
        return elapsed
    raise AssertionError("unreachable")


def measure(direct_url: str, gateway_url: str, key: str, n: int, clients: int, max_tokens: int) -> list[tuple]:
    """`clients` threads, each sending `n` requests to each side, alternating; (direct ms, gateway ms) pairs,
    each pair sent back to back by one client."""
    body = json.dumps({"model": "base", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens,
                       "temperature": 0}).encode()  # fmt: skip
    plain = {"content-type": "application/json"}
    sides = {"direct": (direct_url, plain), "gateway": (gateway_url, {**plain, "authorization": f"Bearer {key}"})}
    pairs: list[tuple[float, float]] = []
    errors: list[str] = []

    def client(c: int) -> None:
        conns: dict = {}
        try:
            for side in sides:  # warm-up: connections open, code paths hot
                _post(conns, side, *sides[side][:1], body, sides[side][1])
            for i in range(n):
                order = ("direct", "gateway") if (c + i) % 2 == 0 else ("gateway", "direct")
                took = {side: _post(conns, side, sides[side][0], body, sides[side][1]) for side in order}
                pairs.append((took["direct"], took["gateway"]))  # list.append is atomic under the GIL
        except Exception as exc:  # noqa: BLE001 - reported by the parent
            errors.append(repr(exc))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return pairs


def run_config(pool, engine_url: str, gateway_url: str, key: str, n: int, clients: int, max_tokens: int,
               repeats: int) -> dict:  # fmt: skip
    rounds = []
    for _ in range(repeats):
        pairs = pool.apply(measure, (engine_url, gateway_url, key, n, clients, max_tokens))
        rounds.append({"direct": [d for d, _ in pairs], "gateway": [g for _, g in pairs], "pairs": pairs})
    pooled = {side: [t for r in rounds for t in r[side]] for side in ("direct", "gateway")}
    out = {side: {"p50_ms": round(_pct(v, 50), 2), "p95_ms": round(_pct(v, 95), 2), "n": len(v)} for side, v in pooled.items()}
    for q in (50, 95):
        out[f"ratio_p{q}"] = round(out["gateway"][f"p{q}_ms"] / out["direct"][f"p{q}_ms"], 4)
        out[f"added_p{q}_ms"] = round(out["gateway"][f"p{q}_ms"] - out["direct"][f"p{q}_ms"], 2)
        per_round = [_pct(r["gateway"], q) / _pct(r["direct"], q) for r in rounds]
        out[f"ratio_p{q}_rounds"] = [round(x, 4) for x in per_round]
        out[f"ratio_p{q}_median_of_rounds"] = round(statistics.median(per_round), 4)
    # Each pair was sent back to back by one client: its difference cancels the machine's load of the moment,
    # so the median difference is the steadiest estimate of what the gateway adds.
    diffs = [g - d for r in rounds for d, g in r["pairs"]]
    out["paired_added_ms_median"] = round(statistics.median(diffs), 2)
    out["warmup_each"] = clients * repeats
    return out


def _start(kind: str, args):
    """The deployment under test, the engine's own URL, and what stops the engine (if it is ours to stop)."""
    from tools.deploy.service import DeployConfig, start_deployment

    if kind == "tiny":  # exactly what `deploy --backend transformers` runs: the engine inside the gateway's process
        import torch

        # On a shared 2-core box torch's second intra-op thread spins against other processes: 16 tokens of the
        # tiny Llama took 0.9-1.8 s with 2 threads and 0.18-0.28 s with one, and the noise hid the gateway.
        torch.set_num_threads(args.torch_threads)
        dep = start_deployment(DeployConfig(base=args.model, backend="transformers", port=0, rate_per_min=1e9))
        return dep, dep.engine.url, lambda: None
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    engine = ctx.Process(target=_delay_engine, args=(args.delay_ms / 1000, child), daemon=True)
    engine.start()
    engine_url = f"http://127.0.0.1:{parent.recv()}"

    def stop() -> None:
        parent.send("stop")
        engine.join(timeout=30)

    return start_deployment(DeployConfig(engine_url=engine_url, port=0, rate_per_min=1e9)), engine_url, stop


def bench_engine(kind: str, args, pool) -> list[dict]:
    from tools import store
    from tools.deploy import keys

    dep, engine_url, stop_engine = _start(kind, args)
    results = []
    try:
        key = keys.create_key(f"bench-{kind}")
        for clients in args.concurrency:
            n = max(1, args.requests // clients)
            r = run_config(pool, engine_url, dep.url, key, n, clients, args.max_tokens, args.repeats)
            r.update(engine=kind, clients=clients)
            results.append(r)
            report(r)
        dep.log.flush()
        with store.connect() as db:
            logged = db.execute("SELECT COUNT(*) FROM traffic WHERE deployment_id = ?", (dep.id,)).fetchone()[0]
        sent = sum(r["gateway"]["n"] + r["warmup_each"] for r in results)
        print(f"{kind}: logged {logged} of {sent} gateway requests", flush=True)
        for r in results:
            r["logged_all"] = logged == sent
    finally:
        dep.stop()
        stop_engine()
    return results


def report(r: dict) -> None:
    verdict = "ok" if max(r["ratio_p50"], r["ratio_p95"]) <= 1.05 else "OVER the 5% target"
    print(f"{r['engine']:>5} x{r['clients']}: direct p50 {r['direct']['p50_ms']:8.1f} p95 {r['direct']['p95_ms']:8.1f} | "
          f"gateway p50 {r['gateway']['p50_ms']:8.1f} p95 {r['gateway']['p95_ms']:8.1f} | ratio p50 {r['ratio_p50']:.3f} "
          f"({r['added_p50_ms']:+.1f} ms) p95 {r['ratio_p95']:.3f} ({r['added_p95_ms']:+.1f} ms) | per-repeat p50 "
          f"{r['ratio_p50_rounds']} p95 {r['ratio_p95_rounds']} | paired median {r['paired_added_ms_median']:+.1f} ms "
          f"| {verdict}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["delay", "tiny"], choices=["delay", "tiny"])
    parser.add_argument("--model", default=None, help="Model of the tiny engine (default: the tests' tiny Llama).")
    parser.add_argument("--delay-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--requests", type=int, default=64, help="Requests per side per repeat (split among clients).")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--torch-threads", type=int, default=1, help="Intra-op threads of the tiny engine.")
    parser.add_argument("--json-out", type=Path, default=None, help="Also write every figure here.")
    args = parser.parse_args()
    os.environ.setdefault("FINETUNE_ASSISTANT_HOME", tempfile.mkdtemp(prefix="bench-gateway-"))
    if args.model is None:
        tiny = Path(os.environ.get("FINETUNE_ASSISTANT_TEST_CACHE", REPO / ".cache" / "tests")) / "tiny-llama"
        args.model = str(tiny) if tiny.is_dir() else "default"
    results = []
    # The clients live in their own process: in this one they would share the GIL with the gateway's event
    # loop and log thread and charge their own Python time to the gateway.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        for kind in args.engines:
            results += bench_engine(kind, args, pool)
    print(json.dumps({"model": args.model, "delay_ms": args.delay_ms, "results": results}), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
