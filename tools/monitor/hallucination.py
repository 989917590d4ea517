"""Hallucination signals from the log, each cheap and each only a signal (a reason to read the answer):

- contradiction: the prompt is near-identical to a training prompt (similarity >= `near`) but the answer
  shares little with that example's answer (similarity < `differs`): the model was taught one thing and said
  another;
- re-ask disagreement: the gateway asked a sampled share of requests again (`deploy --reask-share`); two
  answers to the same prompt that share little (similarity < `differs`) suggest the model is guessing;
- groundedness judge: only when a judge endpoint is configured (`monitor --judge-url`), an LLM rates whether
  each answer is supported by the conversation; see `judge()`.

Similarities are TF-IDF character n-gram cosines (drift.py): surface overlap, not meaning, so a correct
paraphrase can be flagged; thresholds are arguments so a team can tune them on their own traffic.
"""

from __future__ import annotations

from tools.monitor import drift
from tools.serve.backends import Sampling, openai_chat

NEAR, DIFFERS = 0.9, 0.2


def contradictions(rows: list[dict], train: list[tuple[str, str]], near: float = NEAR, differs: float = DIFFERS) -> list[dict]:
    if not rows or not train:
        return []
    index = drift.NearestTraining([p for p, _ in train])
    best, sims = index.nearest([r["prompt"] or "" for r in rows])
    close = [(r, train[b]) for r, b, s in zip(rows, best, sims, strict=True) if s >= near and train[b][1].strip()]
    if not close:
        return []
    agree = drift.similarity([r["answer"] or "" for r, _ in close], [t[1] for _, t in close])
    return [{"id": r["completion_id"], "model": r["model"], "prompt": r["prompt"], "answer": r["answer"],
             "training_answer": t[1], "answer_similarity": round(float(a), 4)}
            for (r, t), a in zip(close, agree, strict=True) if a < differs]  # fmt: skip


def reask_disagreements(rows: list[dict], reasks: list[dict], differs: float = DIFFERS) -> dict:
    originals = {r["completion_id"]: r for r in rows}
    pairs = [(originals[x["reask_of"]], x) for x in reasks if x["reask_of"] in originals and x["status"] == 200]
    if not pairs:
        return {"checked": 0, "disagreements": []}
    agree = drift.similarity([o["answer"] or "" for o, _ in pairs], [x["answer"] or "" for _, x in pairs])
    found = [{"id": o["completion_id"], "model": o["model"], "prompt": o["prompt"], "answer": o["answer"],
              "reask_answer": x["answer"], "answer_similarity": round(float(a), 4)}
             for (o, x), a in zip(pairs, agree, strict=True) if a < differs]  # fmt: skip
    return {"checked": len(pairs), "disagreements": found}


def signals(rows: list[dict], reasks: list[dict], train: list[tuple[str, str]]) -> dict:
    return {"contradictions": contradictions(rows, train), "reask": reask_disagreements(rows, reasks)}


JUDGE_PROMPT = (
    "You check answers for unsupported claims. Conversation:\n{conversation}\n\nAnswer to check:\n{answer}\n\n"
    "Is every factual claim in the answer supported by the conversation or common knowledge? Reply with one word, "
    "GROUNDED or UNGROUNDED."
)


def judge(rows: list[dict], url: str, model: str, api_key: str | None = None, limit: int = 50) -> list[dict]:
    """Ask an OpenAI-compatible judge about the newest `limit` answers; returns the ones it calls ungrounded."""
    found = []
    for r in rows[-limit:]:
        prompt = JUDGE_PROMPT.format(conversation=r["messages"], answer=r["answer"])
        verdict = openai_chat(url, model, [{"role": "user", "content": prompt}], Sampling(max_tokens=8), api_key)
        if "UNGROUNDED" in verdict.upper():
            found.append({"id": r["completion_id"], "model": r["model"], "prompt": r["prompt"], "answer": r["answer"]})
    return found
