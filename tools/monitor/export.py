"""Close the loop: rated traffic becomes the next round's training data, in layouts `data inspect` detects.

    monitor export --out next.jsonl --kind kto   # {"messages": [..., answer], "label": true|false}: unpaired preference
    monitor export --out pairs.jsonl --kind dpo  # {"prompt", "chosen", "rejected"}: the same prompt answered
                                                 #   twice (canary and control, or two tries) and rated up vs down
    monitor export --out fixes.jsonl --kind sft  # {"messages": [..., the user's correction]}: chat rows

Prompts and answers are the log's (PII-redacted unless the gateway ran with --no-redact). Only answered
requests (status 200) with a non-empty answer count; a prompt is the whole conversation the client sent.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Literal

from tools import paths
from tools.monitor import traffic

Kind = Literal["kto", "dpo", "sft"]


def _conversation(row: dict) -> list[dict]:
    messages = json.loads(row["messages"] or "[]")
    return [{"role": m["role"], "content": m.get("content") or ""} for m in messages if isinstance(m, dict) and "role" in m]


def kto_rows(rows: list[dict]) -> list[dict]:
    return [{"messages": [*_conversation(r), {"role": "assistant", "content": r["answer"]}], "label": r["rating"] == "up"}
            for r in rows if r["rating"] in ("up", "down") and (r["answer"] or "").strip()]  # fmt: skip


def dpo_rows(rows: list[dict]) -> list[dict]:
    """One pair per prompt that has an up-voted and a down-voted answer that differ (newest of each)."""
    by_prompt: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        if r["rating"] in ("up", "down") and (r["answer"] or "").strip():
            by_prompt[json.dumps(_conversation(r), sort_keys=True)][r["rating"]] = r
    pairs = []
    for sides in by_prompt.values():
        up, down = sides.get("up"), sides.get("down")
        if up and down and up["answer"].strip() != down["answer"].strip():
            pairs.append({"prompt": _conversation(up), "chosen": [{"role": "assistant", "content": up["answer"]}],
                          "rejected": [{"role": "assistant", "content": down["answer"]}],
                          "chosen_model": up["model"], "rejected_model": down["model"]})  # fmt: skip
    return pairs


def sft_rows(rows: list[dict]) -> list[dict]:
    return [{"messages": [*_conversation(r), {"role": "assistant", "content": r["correction"]}]}
            for r in rows if (r.get("correction") or "").strip()]  # fmt: skip


BUILDERS = {"kto": kto_rows, "dpo": dpo_rows, "sft": sft_rows}


def export(out: str | Path, kind: Kind = "kto", since: float | None = None, deployment_id: str | None = None) -> dict:
    """Write the dataset to `out` (JSONL, through a temp file); returns {"path", "kind", "rows", "rated"}."""
    if kind not in BUILDERS:
        raise ValueError(f"--kind must be one of {', '.join(BUILDERS)}, not '{kind}'")
    logged = [r for r in traffic.rows(since, deployment_id) if r["status"] == 200]
    built = BUILDERS[kind](logged)
    if not built:
        rated = sum(r["rating"] is not None for r in logged)
        need = {"kto": "rated answers", "dpo": "prompts with both an up- and a down-voted answer",
                "sft": "feedback with a correction"}[kind]  # fmt: skip
        raise ValueError(f"nothing to export as {kind}: the log has {len(logged)} answered requests and {rated} "
                         f"ratings, but no {need} in this window")  # fmt: skip
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in built)
    path = paths.atomic_write_text(Path(out).expanduser(), text)
    return {"path": str(path), "kind": kind, "rows": len(built), "rated": sum(r["rating"] is not None for r in logged)}


def next_round_data(kind: Kind = "kto", since: float | None = None) -> dict:
    """For the assistant: export rated traffic into the data dir and say what it holds, so a new plan can use it
    (`Plan(source=result["path"], ...)` and the usual approval). Raises ValueError when there is nothing to use."""
    stamp = datetime.fromtimestamp(time.time()).strftime("%Y%m%d-%H%M%S")
    return export(paths.datasets_dir() / f"traffic-{kind}-{stamp}.jsonl", kind, since)
