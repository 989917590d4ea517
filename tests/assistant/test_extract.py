"""The deterministic interviewer's reading of single messages, and the question chooser."""

from __future__ import annotations

import json

import pytest

from assistant.extract import extract
from assistant.interview import next_questions
from assistant.peek import peek
from assistant.state import ConversationState, apply_update

CASES = [
    ("I have 2,000 support chats in chats.jsonl", {"data_layout": "chat", "rows": 2000, "data_location": "chats.jsonl", "data_format": "jsonl"}),
    ("an RTX 4090", {"hardware": "gpu", "gpu_memory_gb": 24.0}),
    ("2x A100 80GB", {"hardware": "gpu", "num_gpus": 2, "gpu_memory_gb": 80.0}),
    ("a GPU with 12 GB of VRAM", {"hardware": "gpu", "gpu_memory_gb": 12.0}),
    ("no GPU, just my laptop with 16 GB RAM", {"hardware": "cpu", "ram_gb": 16.0}),
    ("thumbs up / thumbs down from the feedback widget", {"data_layout": "ratings", "has_ratings": True}),
    ("pairs with a chosen and a rejected answer", {"data_layout": "preference_pairs", "has_pairs": True}),
    ("an unlabeled corpus of 3 GB of text", {"data_layout": "unlabelled_text", "size_mb": 3000.0}),
    ("it has patient names and must stay on-prem", {"contains_pii": True, "on_prem": True}),
    ("prices change daily", {"facts_change_often": True}),
    ("1.5k labelled rows", {"rows": 1500, "data_layout": "labelled"}),
    ("we must finish within 6 hours", {"time_limit_hours": 6.0}),
    ("please use QLoRA on Llama 3.1 8B", {"wants_method": "qlora", "wants_base_model": "Llama-3.1-8B-Instruct"}),
    ("just recommend", {"just_recommend": True}),
    ('a good answer would be "Sure, your bike is ready at 9am."', {"example_answer": "Sure, your bike is ready at 9am."}),
    ("we can spend $500 a month", {"budget": "$500 a month"}),
    ("skip", {"skip": True}),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_extracts_facts_from_plain_words(text, expected):
    update, _ = extract(text)
    got = update.model_dump(exclude_none=True)
    assert {k: got.get(k) for k in expected} == expected


def test_question_answer_pairs_are_not_preference_pairs():
    update, _ = extract("5,000 question-answer pairs")
    assert update.data_layout == "prompt_completion" and not update.has_pairs


def test_a_gpu_laptop_is_not_cpu_only():
    update, _ = extract("a laptop with an RTX 4090")
    assert update.hardware == "gpu"


def test_asks_at_most_two_questions_and_never_the_same_topic_twice():
    from assistant.interview import mark_asked

    st = ConversationState()
    seen: list[str] = []
    for _ in range(10):
        questions = next_questions(st)
        if not questions:
            break
        assert 1 <= len(questions) <= 2
        topics = [q.topic for q in questions]
        assert not set(topics) & set(seen)
        seen += topics
        st = mark_asked(st, questions)
    assert next_questions(st) == []


def test_asks_only_what_is_missing():
    update, quotes = extract("support bot from 3,000 chat logs on an A100 80GB")
    st = apply_update(ConversationState(), update, quotes)
    topics = {q.topic for q in next_questions(st)}
    assert not topics & {"task", "data", "rows", "hardware", "gpu_memory"}


def test_peek_reads_layout_rows_and_pii_without_changing_the_file(tmp_path):
    path = tmp_path / "prefs.jsonl"
    rows = [{"prompt": f"q{i}", "chosen": "good", "rejected": "bad, mail me at bob@example.com"} for i in range(60)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    before = path.read_bytes()
    update, quotes = peek(path)
    assert (update.data_layout, update.rows, update.contains_pii, update.data_format) == ("preference_pairs", 60, True, "jsonl")
    assert path.read_bytes() == before


def test_peek_csv_with_a_label_column(tmp_path):
    path = tmp_path / "clauses.csv"
    path.write_text("text,label\n" + "".join(f"clause {i},termination\n" for i in range(40)))
    update, _ = peek(path)
    assert (update.data_layout, update.rows) == ("labelled", 40)


def test_a_later_message_about_hardware_keeps_the_users_goal():
    state = ConversationState()
    for text in ("I want a support bot from our chat logs in support.jsonl", "I have one RTX 4090 with 24 GB"):
        update, quotes = extract(text)
        state = apply_update(state, update, quotes, text)
    assert "support bot" in state.use_case.description
    assert state.constraints.gpu_memory_gb == 24
