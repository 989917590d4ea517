"""Serving benchmark: vLLM vs sequential transformers `generate`, and concurrent vs one-after-the-other comparison.

    python benchmarks/bench_serve.py                                # default model, a 10-step demo adapter
    python benchmarks/bench_serve.py --model PATH --adapter PATH --prompts 64 --max-tokens 64 --out bench.json

1. Throughput: N validation prompts answered by the base and the tuned model (2N answers), by vLLM (all
   requests in flight at once; it batches them) and by transformers `generate`, one answer after another.
   Reports answers/s of each and the ratio.
2. Latency of one comparison: wall time until both answers of one prompt are complete, asked concurrently
   (`tools.evaluate.compare.compare`) vs one after the other, on the vLLM backend (median over a few prompts).
Greedy decoding, the same chat template and `max_tokens` everywhere. Prompts: the user turns of the shipped
demo data (or `--data validation.jsonl`), cycled with a prefix to reach N.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.evaluate.compare import build_messages, compare  # noqa: E402
from tools.quickstart.demo import DEMO_SYSTEM, demo_dataset_path, quickstart  # noqa: E402
from tools.serve.backends import Sampling, TransformersBackend, open_backend  # noqa: E402


def load_prompts(data: Path, n: int) -> list[list[dict]]:
    users = []
    for line in data.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        users += [m["content"] for m in row.get("messages", []) if m["role"] == "user"]
    if not users:
        raise SystemExit(f"{data} has no user turns")
    prompts = [users[i % len(users)] if i < len(users) else f"A customer asks: {users[i % len(users)]}" for i in range(n)]
    return [build_messages(p, DEMO_SYSTEM) for p in prompts]


def bench_vllm(backend, prompts: list[list[dict]], sampling: Sampling) -> tuple[float, list[str]]:
    jobs = [(name, msgs) for msgs in prompts for name in ("base", "tuned")]
    start = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:  # everything in flight: vLLM's scheduler batches it
        answers = list(pool.map(lambda job: backend.chat(job[0], job[1], sampling), jobs))
    return time.perf_counter() - start, answers


def bench_transformers(backend: TransformersBackend, prompts: list[list[dict]], sampling: Sampling) -> tuple[float, list[str]]:
    start = time.perf_counter()
    answers = [backend.chat(name, msgs, sampling) for msgs in prompts for name in ("base", "tuned")]
    return time.perf_counter() - start, answers


def bench_comparison(backend, prompts: list[list[dict]], sampling: Sampling, repeats: int) -> dict:
    concurrent, sequential = [], []
    for msgs in prompts[:repeats]:
        user, system = msgs[-1]["content"], msgs[0]["content"]
        start = time.perf_counter()
        compare(backend, user, "tuned", sampling=sampling, system=system)
        concurrent.append(time.perf_counter() - start)
        start = time.perf_counter()
        backend.chat("base", msgs, sampling), backend.chat("tuned", msgs, sampling)
        sequential.append(time.perf_counter() - start)
    return {"concurrent_s": statistics.median(concurrent), "sequential_s": statistics.median(sequential)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--adapter", help="PEFT adapter folder (default: train one on the demo data, 10 steps)")
    ap.add_argument("--data", type=Path, default=demo_dataset_path())
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5, help="prompts timed for the one-comparison latency")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from tools import paths
    from tools.models.resolve import resolve_model

    model = str(resolve_model(args.model))
    adapter = args.adapter or quickstart(model=model, out_dir=paths.runs_dir() / "bench-serve", max_steps=10).adapter_dir
    prompts = load_prompts(args.data, args.prompts)
    sampling = Sampling(max_tokens=args.max_tokens, temperature=0.0)
    result = {"model": model, "adapter": adapter, "prompts": len(prompts), "answers": 2 * len(prompts),
              "max_tokens": args.max_tokens}  # fmt: skip

    start = time.perf_counter()
    vllm = open_backend(model, {"tuned": adapter}, backend="vllm")
    result["vllm_startup_s"] = time.perf_counter() - start
    try:
        bench_comparison(vllm, prompts, sampling, 1)  # warm-up: first requests compile and allocate
        seconds, vllm_answers = bench_vllm(vllm, prompts, sampling)
        result["vllm"] = {"seconds": seconds, "answers_per_s": 2 * len(prompts) / seconds}
        result["comparison_vllm"] = bench_comparison(vllm, prompts, sampling, args.repeats)
    finally:
        vllm.close()

    local = open_backend(model, {"tuned": adapter}, backend="transformers")
    seconds, hf_answers = bench_transformers(local, prompts, sampling)
    result["transformers"] = {"seconds": seconds, "answers_per_s": 2 * len(prompts) / seconds}
    result["comparison_transformers"] = bench_comparison(local, prompts, sampling, args.repeats)
    local.close()

    result["speedup_vllm_over_transformers"] = result["vllm"]["answers_per_s"] / result["transformers"]["answers_per_s"]
    tokens = local.tokenizer
    result["completion_tokens"] = {
        "vllm": sum(len(tokens(a)["input_ids"]) for a in vllm_answers),
        "transformers": sum(len(tokens(a)["input_ids"]) for a in hf_answers),
    }
    result["same_answers"] = sum(a.strip() == b.strip() for a, b in zip(vllm_answers, hf_answers, strict=True))
    print(json.dumps(result, indent=2))
    _summary(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


def _summary(r: dict) -> None:
    v, t = r["vllm"], r["transformers"]
    cv, ct = r["comparison_vllm"], r["comparison_transformers"]
    print(f"\n{r['answers']} answers ({r['prompts']} prompts x base+tuned, max_tokens {r['max_tokens']}):")
    print(f"  vLLM          {v['answers_per_s']:.2f} answers/s ({v['seconds']:.1f} s; startup {r['vllm_startup_s']:.0f} s)")
    print(f"  transformers  {t['answers_per_s']:.2f} answers/s ({t['seconds']:.1f} s, sequential generate)")
    print(f"  ratio         {r['speedup_vllm_over_transformers']:.1f}x")
    print("One comparison, both answers complete (median):")
    print(f"  vLLM          concurrent {cv['concurrent_s']:.2f} s vs one after the other {cv['sequential_s']:.2f} s")
    print(f"  transformers  concurrent {ct['concurrent_s']:.2f} s vs one after the other {ct['sequential_s']:.2f} s "
          "(one model in memory: generations queue on its lock)")  # fmt: skip


if __name__ == "__main__":
    main()
