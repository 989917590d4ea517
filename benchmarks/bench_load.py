"""Load benchmark: 8 browser-like sessions chatting and 2 comparing at once against one running app.

    python benchmarks/bench_load.py --minutes 10            # the full run (the issue's figure)
    python benchmarks/bench_load.py --minutes 1             # short mode
    python benchmarks/bench_load.py --model default         # SmolLM2-135M instead of the tiny random Llama

Starts `finetune-assistant ui` the way a user does (rules brain, transformers backend, a fresh data dir),
seeds one finished run (a random LoRA adapter on the base model) so that comparisons have something to
compare, then drives the app with `gradio_client` from 10 threads, each its own client session, through the
same endpoints the browser calls (/restore, /chat, /tuned_choices, /ask). It reports per-kind p50/p95 turn
latency, errors (a raised exception, or a reply that is a warning) and the app's RSS (with its children)
after warm-up and at the end. Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAT_TURNS = [
    "I want a support bot for my bike shop from our chat logs",
    "I only have a laptop CPU",
    "Better means answers in our tone. just recommend",
    "use rank 16",
    "what would it cost on a GPU?",
    "hello again",
]
PROMPTS = ["Do you sell used bikes?", "What are your opening hours?", "Can I return a helmet?"]


def _rss_mb(pid: int) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def _tiny_model(root: Path) -> Path:
    from tools.models.resolve import make_tiny_model, resolve_model

    target = root / "tiny-llama"
    if not (target / "model.safetensors").is_file():
        make_tiny_model(target, resolve_model("default"))
    return target


def _seed_run(home: Path, model_dir: Path) -> str:
    """A finished run holding an untrained LoRA adapter: enough for the Compare tab to load and answer."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tools.train import runs

    run_dir = home / "runs" / "bench-run"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                           LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(run_dir / "adapter")
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(run_dir / "adapter")
    runs.upsert("bench-run", run_dir=str(run_dir), status="completed", base_model=str(model_dir))
    return "bench-run"


def _start_app(home: Path, model_dir: Path, port: int, log: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "FINETUNE_ASSISTANT_HOME": str(home), "FINETUNE_ASSISTANT_DEFAULT_MODEL": str(model_dir),
           "PYTHONUNBUFFERED": "1"}
    env.pop("FINETUNE_ASSISTANT_LLM_BASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "ui", "--port", str(port), "--backend", "transformers",
                             "--llm", "rules"], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=REPO)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline:
        match = re.search(r"running at (http://\S+)", log.read_text(errors="replace"))
        if match:
            url = match.group(1)
            import httpx

            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                pass
        if proc.poll() is not None:
            raise SystemExit(f"the app exited: {log.read_text()[-2000:]}")
        time.sleep(1)
    raise SystemExit("the app did not start within 300 s")


def _client(url: str):
    from gradio_client import Client

    base, _, token = url.partition("/?token=")
    return Client(base + "/", headers={"x-finetune-assistant-token": token}, verbose=False)


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {"chat": [], "compare": []}
        self.errors: dict[str, list[str]] = {"chat": [], "compare": []}

    def record(self, kind: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            if error:
                self.errors[kind].append(error[:200])
            else:
                self.latency[kind].append(seconds)


def _chatter(url: str, stop: float, tally: Tally, max_turns: int | None = None) -> None:
    client = _client(url)
    session, history, turn = client.predict(None, api_name="/restore")[0], [], 0
    while time.time() < stop and (max_turns is None or turn < max_turns):
        text = CHAT_TURNS[turn % len(CHAT_TURNS)]
        started = time.perf_counter()
        try:
            out = client.predict({"text": text, "files": []}, history, session, api_name="/chat")
            history = out[0]
            reply = history[-1]["content"] if history else ""
            tally.record("chat", time.perf_counter() - started, reply if str(reply).startswith("⚠️") else None)
        except Exception as exc:
            tally.record("chat", 0, f"{type(exc).__name__}: {exc}")
        turn += 1
        if turn % (len(CHAT_TURNS) * 2) == 0:  # a new conversation now and then, as a new tab would
            session, history = client.predict(None, api_name="/restore")[0], []


def _comparer(url: str, run_id: str, stop: float, tally: Tally, max_turns: int | None = None) -> None:
    client = _client(url)
    n = 0
    while time.time() < stop and (max_turns is None or n < max_turns):
        started = time.perf_counter()
        try:
            client.predict(None, api_name="/tuned_choices")  # as the browser does: the run list first
            out = client.predict(run_id, PROMPTS[n % len(PROMPTS)], True, api_name="/ask")
            notice = out[2] or ""
            tally.record("compare", time.perf_counter() - started, notice if notice.startswith("⚠️") else None)
        except Exception as exc:
            tally.record("compare", 0, f"{type(exc).__name__}: {exc}")
        n += 1


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--chatters", type=int, default=8)
    parser.add_argument("--comparers", type=int, default=2)
    parser.add_argument("--model", default="tiny", help="'tiny' (random 2-layer Llama) or a model name/folder")
    parser.add_argument("--port", type=int, default=7871)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        root = Path(tmp)
        home = root / "home"
        os.environ["FINETUNE_ASSISTANT_HOME"] = str(home)
        from tools.models.resolve import resolve_model

        cache = Path(os.environ.get("FINETUNE_ASSISTANT_TEST_CACHE", REPO / ".cache" / "tests"))
        model_dir = _tiny_model(cache) if args.model == "tiny" else resolve_model(args.model)
        run_id = _seed_run(home, model_dir)
        proc, url = _start_app(home, model_dir, args.port, root / "app.log")
        try:
            tally = Tally()
            # Warm-up: one chat turn and one comparison load the assistant and the model once, before measuring
            # (a turn count, not a time: connecting a client alone can take seconds on a busy machine).
            warm = Tally()
            _chatter(url, time.time() + 600, warm, max_turns=1)
            _comparer(url, run_id, time.time() + 600, warm, max_turns=1)
            if warm.errors["chat"] or warm.errors["compare"] or not warm.latency["compare"]:
                raise SystemExit(f"warm-up failed: {warm.errors}")
            rss_start = _rss_mb(proc.pid)
            stop = time.time() + args.minutes * 60
            threads = [threading.Thread(target=_chatter, args=(url, stop, tally)) for _ in range(args.chatters)]
            threads += [threading.Thread(target=_comparer, args=(url, run_id, stop, tally)) for _ in range(args.comparers)]
            for t in threads:
                t.start()
            peak = rss_start
            while any(t.is_alive() for t in threads):
                peak = max(peak, _rss_mb(proc.pid))
                time.sleep(2)
            rss_end = _rss_mb(proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
    result = {
        "minutes": args.minutes, "chatters": args.chatters, "comparers": args.comparers, "model": args.model,
        **{f"{kind}_turns": len(tally.latency[kind]) for kind in ("chat", "compare")},
        **{f"{kind}_p50_s": _pct(tally.latency[kind], 0.5) for kind in ("chat", "compare")},
        **{f"{kind}_p95_s": _pct(tally.latency[kind], 0.95) for kind in ("chat", "compare")},
        "errors": sum(len(v) for v in tally.errors.values()),
        "error_samples": sorted({e for v in tally.errors.values() for e in v})[:5],
        "rss_start_mb": round(rss_start), "rss_end_mb": round(rss_end), "rss_peak_mb": round(peak),
        "rss_growth_mb": round(rss_end - rss_start),
    }
    for kind in ("chat", "compare"):
        lat = tally.latency[kind]
        if lat:
            print(f"{kind}: {len(lat)} turns, p50 {_pct(lat, 0.5)} s, p95 {_pct(lat, 0.95)} s, "
                  f"mean {statistics.mean(lat):.3f} s, errors {len(tally.errors[kind])}")
    print(f"RSS (app + children): {rss_start:.0f} MB after warm-up -> {rss_end:.0f} MB (peak {peak:.0f} MB)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
