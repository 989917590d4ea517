"""Benchmark `data inspect` and `data prepare` on a large JSONL: wall time and peak RSS of each CLI run.

    .venv/bin/python benchmarks/bench_data_large.py                 # ~1 GB file, the default model's tokenizer
    .venv/bin/python benchmarks/bench_data_large.py --mb 100 --model path/to/model

Writes demo-style support chats (the rows of `bench_data.py`: ~2% exact and ~2% near duplicates,
some PII) plus a fixed share of broken rows (bad JSON, empty answers, a wrong role) into a temp
folder, runs the CLI on it as a subprocess and reads the child's peak RSS from `wait4` (the kernel's
high-water mark, so no sampling can miss a spike). It then runs the same commands on a small file of
the same rows and checks the reports agree: same layout and dataset type, the same kinds of row
errors, and counts in proportion. Target: peak RSS under 1.5 GB at 1 GB. The temp folder is deleted.
The last line is the figures as JSON; the exit status is 1 when the target is missed or the reports differ.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_data import refiled, support_row  # noqa: E402

TARGET_RSS_MB = 1500


def rows(seed: int = 0):
    """An endless stream of JSONL lines: varied chats, ~2% exact and ~2% near duplicates of recent rows,
    and one broken row in 400 (each broken kind in turn)."""
    rng = random.Random(seed)
    recent: list[dict] = []
    broken = ['{"messages": [{"role": "user", "content": "cut off', json.dumps({"messages": [
        {"role": "user", "content": "Why?"}, {"role": "assistant", "content": "   "}]}),
        json.dumps({"messages": [{"role": "wizard", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})]  # fmt: skip
    for i in range(10**12):
        if i % 400 == 399:
            yield broken[(i // 400) % len(broken)]
            continue
        if len(recent) > 10 and rng.random() < 0.04:
            twin = recent[rng.randrange(len(recent))]
            yield json.dumps(twin if rng.random() < 0.5 else refiled(twin, i))
            continue
        row = support_row(rng, i)
        recent = (recent + [row])[-1000:]
        yield json.dumps(row)


def write(path: Path, megabytes: float | None = None, count: int | None = None) -> int:
    limit = int(megabytes * 1e6) if megabytes else None
    written = n = 0
    with path.open("w", encoding="utf-8") as fh:
        for line in rows():
            if (limit is not None and written >= limit) or (count is not None and n >= count):
                break
            fh.write(line + "\n")
            written += len(line) + 1
            n += 1
    return n


def run_cli(*args: str) -> tuple[dict, float, float]:
    """(report, wall seconds, peak RSS in MB) of `finetune-assistant data ARGS --json`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FINETUNE_ASSISTANT_MAX_UPLOAD_MB": "4096"}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "data", *args, "--json"], stdout=out, stderr=subprocess.DEVNULL,
                                env=env, cwd=ROOT)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"data {' '.join(args)} failed with exit code {proc.returncode}: {text[-500:]}")
    return json.loads(text), seconds, usage.ru_maxrss / 1024  # Linux reports KB


def compare(small: dict, large: dict) -> list[str]:
    """Differences that matter between the small and the large file's reports (empty: they agree)."""
    problems = []
    for key in ("format", "dataset_type"):
        if small[key] != large[key]:
            problems.append(f"{key}: {small[key]} vs {large[key]}")
    kinds = lambda r: {(e["field"], e["message"].split(";")[0].split("(")[0]) for e in r["errors"]}  # noqa: E731
    if kinds(small) != kinds(large):
        problems.append(f"error kinds differ: {sorted(kinds(small) ^ kinds(large))}")
    for key in ("usable_rows", "error_count", "exact_duplicates", "near_duplicates"):
        a, b = small[key] / small["rows"], large[key] / large["rows"]
        if abs(a - b) > max(0.005, 0.15 * max(a, b)):
            problems.append(f"{key} share: {a:.4f} vs {b:.4f}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1000.0, help="Size of the large file in MB (default 1000).")
    parser.add_argument("--small-rows", type=int, default=20_000, help="Rows of the small file the reports are compared with.")
    parser.add_argument("--model", default="default", help="'default', a model folder or a hub id (tokenizer only).")
    args = parser.parse_args()
    common = ["--model", args.model, "--max-length", "512"]
    with tempfile.TemporaryDirectory(prefix="bench-data-large-") as tmp:
        big, small = Path(tmp) / "big.jsonl", Path(tmp) / "small.jsonl"
        n_big, n_small = write(big, megabytes=args.mb), write(small, count=args.small_rows)
        print(f"large: {n_big:,} rows, {big.stat().st_size / 1e6:,.0f} MB; small: {n_small:,} rows")
        results: dict = {}
        figures: dict = {"mb": round(big.stat().st_size / 1e6), "rows": n_big, "small_rows": n_small}
        for name, path in (("small", small), ("large", big)):
            inspected, inspect_s, inspect_rss = run_cli("inspect", str(path), *common)
            prepared, prepare_s, prepare_rss = run_cli("prepare", str(path), "--out", str(Path(tmp) / f"out-{name}"), *common)
            results[name] = (inspected, prepared)
            print(f"{name:>5}: inspect {inspect_s:8.1f} s, peak RSS {inspect_rss:7.0f} MB | "
                  f"prepare {prepare_s:8.1f} s, peak RSS {prepare_rss:7.0f} MB | usable {prepared['usable_rows']:,}, "
                  f"rejected {prepared['error_count']:,}, exact {prepared['exact_duplicates']:,}, near {prepared['near_duplicates']:,}")
            figures.update({f"{name}_inspect_s": round(inspect_s, 1), f"{name}_inspect_rss_mb": round(inspect_rss),
                            f"{name}_prepare_s": round(prepare_s, 1), f"{name}_prepare_rss_mb": round(prepare_rss)})
            if name == "large":
                peak = max(inspect_rss, prepare_rss)
                figures["peak_rss_mb"] = round(peak)
                print(f"peak RSS {peak:.0f} MB = {peak / (big.stat().st_size / 2**20):.2f}x the file "
                      f"(target < {TARGET_RSS_MB} MB: {'met' if peak < TARGET_RSS_MB else 'MISSED'})")
        problems = compare(results["small"][0], results["large"][0]) + compare(results["small"][1], results["large"][1])
        print("reports agree (layout, error kinds, proportional counts)" if not problems else "reports DIFFER: " + "; ".join(problems))
        figures["reports_agree"] = not problems
        print(json.dumps(figures))
    if not figures["reports_agree"] or figures["peak_rss_mb"] >= TARGET_RSS_MB:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
