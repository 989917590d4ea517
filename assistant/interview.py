"""What to ask next: only what is missing and changes the decision, one or two questions at a time.

    questions = next_questions(state)     # [] when it's time to recommend
    state = mark_asked(state, questions)

A topic is asked once. If the answer doesn't fill it, or the user says "skip", the recommendation goes
ahead with an assumption it states. "just recommend" ends the interview at once.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from assistant.recommend import too_few_examples
from assistant.state import ConversationState
from assistant.understand import clarifying_question

MAX_PER_TURN = 2


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str
    text: str


def _missing_task(s: ConversationState) -> bool:
    return s.use_case.task_kind is None and not s.use_case.description


def _missing_data(s: ConversationState) -> bool:
    d = s.data
    return d.layout is None and d.location is None and not (d.has_pairs or d.has_ratings)


def _missing_golden(s: ConversationState) -> bool:
    # Moving off a hosted fine-tune: the old model's recorded answers are what the new one is judged against.
    return bool(s.use_case.replaces_hosted) and s.data.golden_dir is None


def _missing_rows(s: ConversationState) -> bool:
    # A named file gets counted when it is read; only a described dataset needs its size asked.
    return s.data.rows is None and s.data.size_mb is None and s.data.tokens is None and s.data.location is None


def _missing_hardware(s: ConversationState) -> bool:
    return s.constraints.hardware is None


def _missing_gpu_memory(s: ConversationState) -> bool:
    c = s.constraints
    return c.hardware == "gpu" and c.gpu_memory_gb is None


def _missing_freshness(s: ConversationState) -> bool:
    # Only answers that state facts can go stale; a classifier or a voice can't.
    return s.use_case.facts_change_often is None and s.use_case.task_kind in {"chat", "qa", None}


def _missing_success(s: ConversationState) -> bool:
    return s.success.criteria is None and not s.success.examples and s.success.priority is None


def _missing_privacy(s: ConversationState) -> bool:
    return s.data.contains_pii is None and s.constraints.on_prem is None and s.data.layout in {"chat", "ratings", None}


# In order of how much they change the recommendation. The first three decide objective, method and model.
TOPICS: list[tuple[str, object, str]] = [
    ("task", _missing_task,
     "What should the fine-tuned model do? For example: answer support chats, classify contract clauses, "
     "write in your brand voice."),
    ("golden", _missing_golden,
     "To judge an open model against your old fine-tune I need its answers to your held-out prompts: give me "
     "the folder `finetune-assistant migrate record` wrote (golden.jsonl inside), and your OpenAI training file "
     "(JSONL). No recording yet? Run `finetune-assistant migrate record --data validation.jsonl --endpoint "
     "https://api.openai.com/v1 --model ft:... --out golden/` first (it resumes if interrupted; the key stays "
     "in your environment), or say \"skip\" to plan without it."),
    ("data", _missing_data,
     "What data do you have? Chat logs, a labelled CSV, preference pairs (a better and a worse answer), "
     "thumbs up/down ratings, or raw documents? You can attach the file or give its name."),
    ("rows", _missing_rows, "Roughly how many examples (rows, conversations, documents) is that?"),
    ("hardware", _missing_hardware,
     "What will you train on: a CPU-only machine, or a GPU (which one, how much memory, how many)?"),
    ("gpu_memory", _missing_gpu_memory, "How much memory does each GPU have (e.g. 24 GB)?"),
    ("freshness", _missing_freshness,
     "Do the answers depend on facts that change often, like prices, stock or policies?"),
    ("privacy", _missing_privacy,
     "Does the data hold personal information (names, emails, health details), and must it stay on your machines?"),
    ("success", _missing_success,
     "What would 'better' look like to you: an example of a good answer, or how you would measure it?"),
]
ESSENTIAL = ("task", "golden", "data", "rows", "hardware", "gpu_memory")


def next_questions(state: ConversationState) -> list[Question]:
    """Up to two questions on topics still missing and not asked yet; [] means recommend now."""
    if state.just_recommend or decided_without_training(state):
        return []
    done = set(state.asked) | set(state.skipped)
    # Two close readings of the user's words: one question settles it before anything else is asked.
    doubt = next((u for u in state.unclear if f"clarify:{u}" not in done), None)
    if doubt:
        return [Question(topic=f"clarify:{doubt}", text=clarifying_question(doubt))]
    open_topics = [(topic, text) for topic, missing, text in TOPICS if topic not in done and missing(state)]
    essentials = [t for t in open_topics if t[0] in ESSENTIAL]
    # Essentials first; the nice-to-know topics only once the decision's inputs are in.
    chosen = essentials[:MAX_PER_TURN] if essentials else open_topics[:MAX_PER_TURN]
    return [Question(topic=topic, text=text) for topic, text in chosen]


def decided_without_training(state: ConversationState) -> bool:
    """Facts that make the answer "don't fine-tune" whatever else is true: no need to ask more."""
    if state.preferences.objective not in (None, "none"):
        return False
    return bool(state.use_case.facts_change_often) or too_few_examples(state.data)


def mark_asked(state: ConversationState, questions: list[Question]) -> ConversationState:
    new = state.model_copy(deep=True)
    new.asked += [q.topic for q in questions if q.topic not in new.asked]
    return new


def mark_skipped(state: ConversationState) -> ConversationState:
    """The user said "skip": the last topics asked count as answered with "unknown"."""
    new = state.model_copy(deep=True)
    new.skipped += [t for t in new.asked if t not in new.skipped]
    return new


def known_facts(state: ConversationState) -> list[str]:
    """What we know so far, in short words, for replies and the LLM's context."""
    u, d, c = state.use_case, state.data, state.constraints
    facts = []
    if u.task_kind:
        facts.append(f"task: {u.task_kind}" + (f" ({u.domain})" if u.domain else ""))
    if d.layout or d.location:
        # The file by its own name: an attached file's stored path under the data dir means nothing to the user.
        facts.append(f"data: {d.layout or 'unknown layout'}" + (f" in {Path(d.location).name}" if d.location else "")
                     + (f", ~{d.rows} rows" if d.rows is not None else ""))
    if c.hardware == "gpu":
        facts.append(f"hardware: {c.num_gpus or 1}x {c.gpu_name or 'GPU'}"
                     + (f" {c.gpu_memory_gb:g} GB" if c.gpu_memory_gb else ""))
    elif c.hardware == "cpu":
        facts.append("hardware: CPU only")
    if d.contains_pii:
        facts.append("data has personal information")
    if c.on_prem:
        facts.append("must stay on-prem")
    if u.facts_change_often:
        facts.append("facts change often")
    if u.replaces_hosted:
        facts.append("moving off a hosted fine-tune" + (f" (old answers in {Path(d.golden_dir).name}/)" if d.golden_dir else ""))
    return facts
