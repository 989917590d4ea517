"""The interviewer on the paraphrase corpus: how often the recommendation after the interview is acceptable.

    .venv/bin/python benchmarks/bench_interview.py                          # this tree
    .venv/bin/python benchmarks/bench_interview.py --code /tmp/old_tree     # another checkout, same corpus
    .venv/bin/python benchmarks/bench_interview.py --misses                 # list the stories it gets wrong

Each story of tests/assistant/stories/stories.yaml is told message by message to the built-in brain
(`Brain().read` + `apply_update`), then "just recommend"; the score is the real `recommend()` output
(objective/method) against the story's acceptable set. It reports all stories and the held-out third
(never used to build the reader's examples) separately, and the reader's cost per message.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
STORIES = REPO / "tests" / "assistant" / "stories" / "stories.yaml"


def tell(messages: list[str]) -> tuple[object, float]:
    """The recommendation after `messages` and "just recommend", and the seconds spent reading them."""
    from assistant.llm import Brain
    from assistant.recommend import recommend
    from assistant.state import ConversationState, apply_update

    brain, state, spent = Brain(), ConversationState(), 0.0
    for text in [*messages, "just recommend"]:
        start = time.perf_counter()
        update, quotes = brain.read(state, text)
        spent += time.perf_counter() - start
        state = apply_update(state, update, quotes, text)
    return recommend(state), spent


def score(stories: list[dict]) -> dict:
    hits, held, held_hits, misses, spent, messages = 0, 0, 0, [], 0.0, 0
    for story in stories:
        rec, seconds = tell(story["say"])
        spent, messages = spent + seconds, messages + len(story["say"]) + 1
        got = f"{rec.objective}/{rec.method}"
        ok = got in story["accept"]
        hits += ok
        held += story["held_out"]
        held_hits += ok and story["held_out"]
        if not ok:
            misses.append((story["id"], got, story["accept"], story["say"][0][:90]))
    return {"all": hits / len(stories), "n": len(stories), "held_out": held_hits / max(held, 1), "n_held": held,
            "ms_per_message": 1000 * spent / max(messages, 1), "misses": misses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", help="run another checkout's assistant on this corpus (e.g. the base commit)")
    parser.add_argument("--misses", action="store_true", help="list the stories answered wrongly")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.code).resolve() if args.code else REPO))
    os.environ.setdefault("FINETUNE_ASSISTANT_HOME", tempfile.mkdtemp())
    stories = yaml.safe_load(STORIES.read_text())
    if args.code is None:
        from assistant import understand  # warm the reader once, so the per-message cost is a chat turn's

        understand.warm()
    result = score(stories)
    print(f"code: {args.code or REPO}")
    print(f"all stories: {result['all']:.1%} of {result['n']}; held-out third: {result['held_out']:.1%} of "
          f"{result['n_held']}; reader {result['ms_per_message']:.0f} ms per message")
    if args.misses:
        for story_id, got, accept, said in result["misses"]:
            print(f"  {story_id}: got {got}, accept {accept}: {said}")


if __name__ == "__main__":
    main()
