"""The interviewer on the paraphrase corpus: how often the recommendation after the interview is acceptable.

    .venv/bin/python benchmarks/bench_interview.py                          # this tree
    .venv/bin/python benchmarks/bench_interview.py --code /tmp/old_tree     # another checkout, same corpus
    .venv/bin/python benchmarks/bench_interview.py --misses                 # the BUILD-set stories it gets wrong
    .venv/bin/python benchmarks/bench_interview.py --confusion              # held-out errors as counts per class

Every story of every tests/assistant/stories/*.yaml is told message by message to the built-in brain
(`Brain().read` + `apply_update`), then "just recommend"; the score is the real `recommend()` output
(objective/method) against the story's acceptable set. It reports all stories, the build set (stories that
may inform the reader's examples) and the held-out stories (never used to build it), overall and per file.
Held-out stories are never listed one by one: `--confusion` shows only which CLASS of understanding failed
(wanted objective -> got objective, and the layout the reader settled on), as counts, so the held-out
score stays an honest estimate of how the reader does on words it has not seen.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
STORIES = REPO / "tests" / "assistant" / "stories"


def load_stories(folder: Path = STORIES) -> list[dict]:
    """Every story of every *.yaml in `folder`, each tagged with its file's name."""
    stories = []
    for path in sorted(folder.glob("*.yaml")):
        for n, story in enumerate(yaml.safe_load(path.read_text()) or [], 1):
            said, accept = story.get("say"), story.get("accept")
            if not (isinstance(said, list) and said and all(isinstance(m, str) for m in said)
                    and isinstance(accept, list) and accept and isinstance(story.get("held_out"), bool)):
                raise ValueError(f"{path.name}, story {n} ({story.get('id')}): needs `say` (a list of strings; quote a "
                                 "message holding ': '), `accept` (a list) and `held_out` (true or false)")
            stories.append({**story, "file": path.name})
    return stories


def tell(messages: list[str]) -> tuple[object, object, float]:
    """The state and recommendation after `messages` and "just recommend", and the seconds spent reading them."""
    from assistant.llm import Brain
    from assistant.recommend import recommend
    from assistant.state import ConversationState, apply_update

    brain, state, spent = Brain(), ConversationState(), 0.0
    for text in [*messages, "just recommend"]:
        start = time.perf_counter()
        update, quotes = brain.read(state, text)
        spent += time.perf_counter() - start
        state = apply_update(state, update, quotes, text)
    return state, recommend(state), spent


def _objectives(accept: list[str]) -> str:
    return "|".join(sorted({a.split("/")[0] for a in accept}))


def score(stories: list[dict]) -> dict:
    rows, spent, messages = [], 0.0, 0
    for story in stories:
        state, rec, seconds = tell(story["say"])
        spent, messages = spent + seconds, messages + len(story["say"]) + 1
        got = f"{rec.objective}/{rec.method}"
        rows.append({"id": story["id"], "file": story["file"], "held_out": story["held_out"],
                     "ok": got in story["accept"], "got": got, "accept": story["accept"], "said": story["say"][0],
                     "layout": state.data.layout, "facts_change": state.use_case.facts_change_often})
    return {"rows": rows, "ms_per_message": 1000 * spent / max(messages, 1)}


def _rate(rows: list[dict]) -> str:
    return f"{sum(r['ok'] for r in rows) / len(rows):.1%} of {len(rows)}" if rows else "-"


def report(result: dict) -> list[str]:
    rows = result["rows"]
    lines = [f"{'':24} {'all':>14} {'build set':>14} {'held-out':>14}"]
    for name, part in [("all files", rows)] + [(f, [r for r in rows if r["file"] == f])
                                                for f in sorted({r["file"] for r in rows})]:
        build = [r for r in part if not r["held_out"]]
        held = [r for r in part if r["held_out"]]
        lines.append(f"{name:24} {_rate(part):>14} {_rate(build):>14} {_rate(held):>14}")
    lines.append(f"reader: {result['ms_per_message']:.0f} ms per message")
    return lines


def confusion(rows: list[dict]) -> list[str]:
    """Held-out errors as counts per class: wanted objectives -> got, the layout read, facts-change read."""
    counts = Counter((_objectives(r["accept"]), r["got"].split("/")[0], r["layout"], r["facts_change"])
                     for r in rows if r["held_out"] and not r["ok"])
    return [f"  {n} x wanted {want} got {got} (layout read: {layout}, facts change: {facts})"
            for (want, got, layout, facts), n in counts.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", help="run another checkout's assistant on this corpus (e.g. the base commit)")
    parser.add_argument("--misses", action="store_true", help="list the build-set stories answered wrongly")
    parser.add_argument("--confusion", action="store_true", help="held-out errors as counts per class (no texts)")
    parser.add_argument("--file", help="only the stories of this file (e.g. stories.yaml)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.code).resolve() if args.code else REPO))
    os.environ.setdefault("FINETUNE_ASSISTANT_HOME", tempfile.mkdtemp())
    stories = [s for s in load_stories() if args.file is None or s["file"] == args.file]
    if args.code is None:
        from assistant import understand  # warm the reader once, so the per-message cost is a chat turn's

        understand.warm()
    result = score(stories)
    print(f"code: {args.code or REPO}")
    print("\n".join(report(result)))
    if args.misses:
        for r in (r for r in result["rows"] if not r["ok"] and not r["held_out"]):
            print(f"  {r['file']}:{r['id']}: got {r['got']}, accept {r['accept']}: {r['said'][:90]}")
    if args.confusion:
        print("held-out errors by class:")
        print("\n".join(confusion(result["rows"])) or "  none")


if __name__ == "__main__":
    main()
