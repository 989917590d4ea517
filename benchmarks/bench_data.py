"""Benchmark the data pipeline on synthetic chat rows against the floor of a bare tokenizer pass.

    .venv/bin/python benchmarks/bench_data.py               # 100k rows, the default model's tokenizer
    .venv/bin/python benchmarks/bench_data.py --rows 20000 --model path/to/model

The floor is the least work any pipeline must do with these rows: render each conversation with the
model's chat template (one batched call) and encode the texts with the fast tokenizer (batched).
Timed, each as a ratio to that floor measured in the same process (before and after; the faster
counts, so a busy machine cannot flatter the ratios):

- inspect: `inspect_data` on a source it has not seen (pays the one-time imports, as a CLI run does);
- prepare (cold): `prepare_data` with no analysis to reuse;
- inspect + prepare: the whole pipeline as the agent and the UI run it, `inspect_data` then
  `prepare_data` back to back on the same source and spec (prepare reuses the analysis).

Target: inspect + prepare <= 3. The reused and the cold prepare must write identical folders.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOPICS = ["battery", "brakes", "chain", "tyres", "gears", "lights", "saddle", "motor", "display", "pedals", "frame", "lock"]
VERBS = ["check", "replace", "clean", "adjust", "charge", "tighten", "inspect", "oil", "reset", "test"]
SYSTEM = "You are Pip, the support assistant of Larkspur Bikes. Answer briefly and warmly, and end with a next step."


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    """Varied support chats; about 2% exact and 2% near duplicates, and some PII, like real exports."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if i > 10 and rng.random() < 0.04:
            twin = rows[rng.randrange(i)]
            rows.append(twin if rng.random() < 0.5 else refiled(twin, i))  # exact or near duplicate
            continue
        rows.append(support_row(rng, i))
    return rows


def refiled(twin: dict, i: int) -> dict:
    """A near duplicate: the same ticket re-filed under a new number."""
    user = twin["messages"][1]["content"].split(":", 1)[1]
    return {"messages": [twin["messages"][0], {"role": "user", "content": f"Ticket {i}:{user}"}, twin["messages"][2]]}


def support_row(rng: random.Random, i: int) -> dict:
    """One fresh support chat (ticket `i`), with an email and phone number in about 2% of answers."""
    topic, verb = rng.choice(TOPICS), rng.choice(VERBS)
    words = " ".join(rng.choice(TOPICS + VERBS) for _ in range(rng.randint(5, 40)))
    question = f"Ticket {i}: how do I {verb} the {topic} on my e-bike model {rng.randint(100, 999)}? {words}"
    answer = (f"To {verb} the {topic}, switch the bike off, then follow step {rng.randint(1, 9)} in the manual. "
              f"{words.capitalize()}. If it still fails after {rng.randint(2, 30)} minutes, bring it to the shop.")  # fmt: skip
    if rng.random() < 0.02:
        answer += f" Or email support{i}@larkspur.example or call +44 20 7946 {rng.randint(1000, 9999)}."
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}  # fmt: skip


def floor_seconds(tokenizer, rows: list[dict]) -> float:
    started = time.perf_counter()
    texts = tokenizer.apply_chat_template([r["messages"] for r in rows], tokenize=False)
    backend = tokenizer.backend_tokenizer
    for lo in range(0, len(texts), 2048):
        backend.encode_batch_fast(texts[lo : lo + 2048], add_special_tokens=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--model", default="default", help="'default', a model folder or a hub id (tokenizer only).")
    args = parser.parse_args()

    from tools.data import DataSpec, cache, inspect_data, prepare_data
    from tools.data.tokens import load_tokenizer

    spec = DataSpec(model=args.model, max_length=512)
    tokenizer = load_tokenizer(args.model)  # load (and convert the default model) outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "chats.jsonl", Path(tmp)
        rows = synthetic_rows(args.rows)
        source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        mb = source.stat().st_size / 1e6
        first_floor = floor_seconds(tokenizer, rows)
        inspect_s, inspected = timed(inspect_data, source, spec)
        then_prepare_s, reused = timed(prepare_data, source, out / "reused", spec)
        cache.clear()
        cold_s, prepared = timed(prepare_data, source, out / "cold", spec)
        floor = min(first_floor, floor_seconds(tokenizer, rows))
        same = all((out / "reused" / f).read_bytes() == (out / "cold" / f).read_bytes() for f in ("train.jsonl", "validation.jsonl"))
        assert same and inspected.usable_rows == reused.usable_rows == prepared.usable_rows

    print(f"rows: {args.rows} ({mb:.1f} MB JSONL), usable {prepared.usable_rows}, exact dups {prepared.exact_duplicates}, "
          f"near dups {prepared.near_duplicates}, PII {sum(prepared.pii.values())}, tokens {prepared.tokens.total}")  # fmt: skip
    table = [("floor (chat template + fast tokenizer, batched)", floor), ("inspect", inspect_s),
             ("prepare (cold)", cold_s), ("inspect + prepare, back to back", inspect_s + then_prepare_s)]  # fmt: skip
    print(f"{'step':<50} {'seconds':>8} {'rows/s':>9} {'ratio':>6}")
    for name, seconds in table:
        print(f"{name:<50} {seconds:>8.2f} {args.rows / seconds:>9,.0f} {seconds / floor:>6.2f}")
    print(f"  (of which prepare after inspect: {then_prepare_s:.2f} s; outputs equal to the cold prepare's)")
    print("cold prepare steps (s):", json.dumps(prepared.seconds))
    ratio = (inspect_s + then_prepare_s) / floor
    print(f"whole pipeline (inspect + prepare) / floor = {ratio:.2f} (target <= 3: {'met' if ratio <= 3 else 'MISSED'})")


def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


if __name__ == "__main__":
    main()
