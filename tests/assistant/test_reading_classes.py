"""Classes of wording the reader misread on a blind story set (round 3), each checked in new words here:
numbers said with halves, vague multipliers and space-grouped thousands; a verdict clicked or tapped on one
output; the user's own wish that is not a choice between candidates; inputs paired with what people typed;
facts that change only when a word of change or time is said; ORPO asked for by what it does."""

from __future__ import annotations

import pytest

from assistant import cues
from assistant.extract import extract
from assistant.io_pairs import io_pairs
from assistant.sizes import number_words, read_sizes


@pytest.mark.parametrize(("text", "rows"), [
    ("roughly four and a half thousand product questions", 4500),
    ("2 and a half thousand tickets", 2500),
    ("half a million support emails", 500_000),
    ("a million and a half rows", 1_500_000),
    ("a couple of thousand labelled lines", 2000),
    ("a few thousand chats", 3000),
    ("several hundred reports", 500),
    ("tens of thousands of messages", 30_000),
    ("12 500 invoices", 12_500),
    ("1 250 000 records", 1_250_000),
    ("about 40,000 invoices, each one labelled with its cost centre", 40_000),
    ("I think that a thousand tickets is enough", 1000),
    ("I have 800 200-word product descriptions", 200),
    ("five million and a half rows", 5_500_000),
])  # fmt: skip
def test_row_counts_in_the_forms_people_write_them(text, rows):
    assert read_sizes(text).rows == rows


def test_card_data_is_data_and_a_card_with_memory_is_a_gpu():
    assert read_sizes("We have 3 GB of card transactions").size_mb == 3000
    assert read_sizes("I have a 24 GB card").size_mb is None


@pytest.mark.parametrize("text", ["a few", "many GPUs", "several of them", "a couple"])
def test_vague_words_alone_are_no_count(text):
    assert read_sizes(text).rows is None and number_words(text) in (None, 2.0)


def test_each_one_is_an_item_not_the_size_of_the_data():
    assert read_sizes("each one labelled by hand").rows is None


@pytest.mark.parametrize("sentence", [
    "after each reply the dispatcher clicks ok or not ok",
    "our editors score each generated headline from 1 to 10",
    "every suggested reply gets rated by the agent who used it",
    "the tool drafts a caption for every photo and editors tap 'keep' or 'drop' under it",
    "our app generates a workout plan and members mark it helpful or unhelpful",
])  # fmt: skip
def test_a_verdict_clicked_or_tapped_on_one_output_is_a_rating(sentence):
    assert cues.verdict(sentence) and not cues.preference(sentence)


@pytest.mark.parametrize("sentence", [
    "we want to cut the error rate of the answers our bot writes by half",
    "our agents answer every ticket and we track the response rate",
])  # fmt: skip
def test_a_rate_or_score_as_a_noun_is_no_rating_given(sentence):
    assert not cues.verdict(sentence)


def test_a_labellers_choice_is_still_a_choice_and_only_a_modal_makes_a_wish():
    assert cues.preference("For each prompt the bot gives two replies and we pick one.")
    assert not cues.preference("I'd rather pick a bigger model")


def test_the_approved_answer_is_a_reference_not_a_rating():
    assert "ratings" not in cues.hints("each row is a question and the approved answer")
    assert "ratings" in cues.hints("each answer was approved or rejected by a lawyer")


@pytest.mark.parametrize("sentence", [
    "I'd rather it took longer if it means better answers",
    "we would prefer a smaller model that costs less",
])  # fmt: skip
def test_the_users_own_wish_is_no_choice_between_candidates(sentence):
    assert not cues.preference(sentence) and "pairs" not in cues.hints(sentence)


@pytest.mark.parametrize(("sentence", "paired"), [
    ("we kept the scanned forms plus what the clerks entered", True),
    ("the chat transcripts together with what the agent replied", True),
    ("for every listing the agent wrote a two-line teaser", True),
    ("2 million pages, and for each page the team wrote a summary", True),
    ("with each release we add new features to the docs", False),
    ("we have the manuals and what we want is to answer questions", False),
    ("we have scanned forms and what a nightmare they are to read", False),
    ("for each store we have the opening hours", False),
])  # fmt: skip
def test_inputs_with_what_people_made_of_them_are_labelled_data(sentence, paired):
    assert io_pairs(sentence) is paired


@pytest.mark.parametrize(("sentence", "changes"), [
    ("the refund policy gets amended constantly", True),
    ("the fee table changed twice this quarter", True),
    ("carriers switch at every renewal and the rates changed 3 times this year", True),
    ("the board rewrites the bylaws every term", True),
    ("we pull the order number and the address out of each email", False),
])  # fmt: skip
def test_facts_that_change_need_a_change_and_a_frequency(sentence, changes):
    assert cues.volatile(sentence) is changes
    assert ("changes" in cues.hints(sentence)) is changes


def test_orpo_is_read_from_what_it_does_only_next_to_preference_words():
    asked = ("reviewers kept the better answer and threw out the other; can we do the normal training and the "
             "preference training in one go instead of two separate steps?")
    update, quotes = extract(asked)
    assert update.wants_objective == "orpo" and "one go" in quotes["wants_objective"]
    assert extract("can we train it all in one go on a single GPU?")[0].wants_objective is None
    assert extract("I would prefer to train everything in one go overnight.")[0].wants_objective is None
