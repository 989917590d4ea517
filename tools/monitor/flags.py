"""Answers worth a look: down-voted, empty, cut off (stopped at max_tokens), stuck in a repetition loop, or
refusing. Plain heuristics, each named in the flag so a reader can judge it.

Repetition: fewer than half of the answer's word 4-grams are distinct (over at least 8 of them): a sentence
looping 3 times or "the the the..." trips it, a list repeating a label twice does not (normal prose is near 1).
Refusals: a short English phrase list at the start of the answer (the first 200 characters).
"""

from __future__ import annotations

from collections import Counter

REFUSALS = (
    "i can't", "i cannot", "i can not", "i won't", "i will not", "i'm not able to", "i am not able to",
    "i'm unable to", "i am unable to", "sorry, but i", "i'm sorry, but", "i am sorry, but", "as an ai",
    "i must decline", "i'm not allowed", "i am not allowed", "i do not feel comfortable", "i don't feel comfortable",
)  # fmt: skip


def is_refusal(answer: str) -> bool:
    head = (answer or "")[:200].lower().replace("’", "'")
    return any(phrase in head for phrase in REFUSALS)


def is_loop(answer: str, n: int = 4) -> bool:
    words = (answer or "").lower().split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams) >= 8 and len(set(grams)) / len(grams) < 0.5


def reasons(row: dict) -> list[str]:
    if row["status"] != 200:
        return []
    answer = row.get("answer") or ""
    found = []
    if row.get("rating") == "down":
        found.append("down-voted")
    if not answer.strip():
        found.append("empty")
    if row.get("finish_reason") == "length":
        found.append("cut off")
    if is_loop(answer):
        found.append("repetition loop")
    if is_refusal(answer):
        found.append("refusal")
    return found


def flagged(rows: list[dict], limit: int = 50) -> dict:
    """Counts per reason and the newest `limit` flagged answers."""
    items, counts = [], Counter()
    for row in rows:
        why = reasons(row)
        counts.update(why)
        if why:
            items.append({"id": row["completion_id"], "model": row["model"], "reasons": why, "prompt": row["prompt"],
                          "answer": (row.get("answer") or "")[:500], "comment": row.get("comment")})  # fmt: skip
    return {"counts": dict(counts), "items": items[::-1][:limit]}
