"""The deterministic interviewer's ears: pull facts out of one user message with patterns, no model.

    from assistant.extract import extract
    update, quotes = extract("I have 2,000 support chats in chats.jsonl and an RTX 4090")

It recognises task words, numbers with units, file names and formats, GPU names and memory, "pairs",
"thumbs up", "unlabeled", "on-prem" and the like. It returns the same `StateUpdate` an LLM fills, plus
the words that set each field, so the recommendation can quote the user back.
"""

from __future__ import annotations

import re
from typing import Any

from assistant import catalogue
from assistant.machines import read_hardware
from assistant.paths_in_text import DATA_FILE, without_paths
from assistant.sizes import MAX_CHARS, read_sizes
from assistant.state import StateUpdate

_I = re.IGNORECASE

# (update key, value, pattern). The first pattern that matches a key wins, so order specific before generic.
_FLAGS: list[tuple[str, Any, str]] = [
    ("just_recommend", True, r"just recommend|recommend (now|something|away)|what do you (recommend|suggest)|"
                             r"your call|you (decide|choose|pick)|go ahead|best guess|no more questions"),
    ("skip", True, r"^\W*(skip|pass|next|don'?t know|not sure|no idea|unknown|n/?a|no preference)\W*$"),
    # Task kinds.
    ("task_kind", "classification", r"classif|categori[sz]|sentiment|intent (detection|label)|\btag(ging)?\b|"
                                    r"route (tickets|emails)|spam"),
    ("task_kind", "extraction", r"\bextract|pull out (the )?fields|named entit|\bner\b|parse (invoices|receipts)"),
    ("task_kind", "summarization", r"summar|tl;?dr|condense"),
    ("task_kind", "style", r"brand voice|our voice|house style|writing style|write like|in the style of|tone of voice"),
    ("task_kind", "code", r"\b(sql|code|python|javascript|programming)\b"),
    ("task_kind", "chat", r"\bbot\b|support (bot|chats?|conversations|tickets|agents?|team)|chat ?bot|"
                          r"customer (support|service)|help ?desk|assistant for|chat assistant|"
                          r"answer (our )?customers|conversational"),
    ("task_kind", "qa", r"answer (medical |legal |technical )?questions|question[- ]answering|\bq&a\b|"
                        r"medical (answers|questions)|(answers?|respond) to (patients|users|questions)"),
    ("task_kind", "domain", r"domain knowledge|learn (our|the) (domain|jargon|vocabulary)|domain adaptation|"
                            r"speak (our|the) (jargon|language)"),
    ("task_kind", "generation", r"\b(write|generate|draft)\b"),
    # Facts that change: fine-tuning bakes them in and they go stale.
    ("facts_change_often", True, r"(change|update)[sd]? (very |quite |really )?(often|frequently|daily|weekly|"
                                 r"every (day|week|hour|month))|up[- ]to[- ]date|real[- ]time|latest (news|prices)|"
                                 r"live (prices|data|inventory)|stock levels|today'?s (prices|news)"),
    ("facts_change_often", False, r"(facts|answers|content|it) (rarely|never|don'?t|do not) change|stable (facts|content)"),
    # Data layouts.
    ("data_layout", "ratings", r"thumbs?[- ]?(up|down)|👍|👎|upvote|downvote|star ratings?|\bratings?\b|"
                               r"feedback widget|liked?/disliked?|good/bad (label|flag)"),
    ("data_layout", "preference_pairs", r"preference (pairs|data)|chosen (and|/|,) ?rejected|"
                                        r"chosen (and|/|,|or) (an? )?rejected|(better|preferred) (and|vs\.?|/) ?(worse|rejected)|"
                                        r"pairs of (answers|responses|completions)|which (answer|response) is better|"
                                        r"good and (a )?bad (answer|response)s?|a/b (choices|votes)"),
    ("data_layout", "unlabelled_text", r"un-?label+ed|un-?annotated|no labels|raw text|plain text|corpus"),
    ("data_layout", "labelled", r"(?<!un)label+ed|with labels|label column|(?<!un)annotated|(a|one) label per|"
                                r"categories (column|for each)"),
    ("data_layout", "chat", r"chat logs?|conversations|transcripts|dialogues|chat history|support (chats|tickets)|"
                            r"(email|mail|ticket) threads|(emails|tickets|questions) with (our |the )?(replies|answers)"
                            r"|\bchats\b|messages format|(?:typed|messages?|emails?|written) back[- ]and[- ]forth"),
    ("data_layout", "prompt_completion", r"(?<!\w)\w{1,30}/\w{1,30} pairs|question[-/ ]answer|\bq&a\b|input[-/ ]output|prompt[-/ ](completion|response)"
                                         r"|instruction(s)?[-/ ](and[-/ ])?(response|output)|alpaca"),
    # Bodies of writing are raw text only when nothing above said otherwise: "11k portal chats ... chasing
    # missing documents" is chat data that mentions documents.
    ("data_layout", "unlabelled_text", r"blog posts|articles|manuals|papers|books|documentation pages|wiki pages|"
                                       r"\bdocuments\b|\b(?:gb|mb|tb|gigabytes?|megabytes?|gigs) of (?:\w+ )?text\b"),
    # Personal data and where data may go.
    ("contains_pii", False, r"no (personal|private|sensitive) data|no pii|anonymi[sz]ed|de-?identified|synthetic data"),
    ("contains_pii", True, r"personal (data|information|details)|\bpii\b|patient|health records|names and (emails|"
                           r"addresses|phone)|email addresses|phone numbers|social security|medical records|gdpr|hipaa"),
    ("on_prem", True, r"on[- ]prem|on[- ]premises?|(can'?t|cannot|must not|mustn'?t|shouldn'?t|never) leave|"
                      r"must stay|air[- ]?gapped|no cloud|self[- ]hosted|local only|our own (servers|machines)|hipaa"),
    # Hardware without a GPU name.
    ("hardware", "cpu", r"cpu[- ]only|only (a|my|the) cpu|no gpu|without (a )?gpu|don'?t have (a|any) gpu|"
                        r"no (graphics|video) card|\bcpu\b|laptop|macbook|\bm[1-4] (mac|pro|max|air)\b"),
    # What matters most.
    ("priority", "quality", r"best (possible )?quality|quality (matters|is) (most|key|critical)|as good as possible|"
                            r"highest (quality|accuracy)|accuracy is (critical|key|everything)|closest to full"),
    ("priority", "cost", r"cheap|low cost|tight budget|small budget|free tier"),
    ("priority", "speed", r"\basap\b|quickly|fast as possible|by tomorrow|quick win"),
    # Deployment.
    ("many_adapters", True, r"per (customer|client|tenant|user)|many (adapters|customers|tasks|tenants)|"
                            r"multi[- ]tenant|hundreds of (tasks|customers)|one (model|adapter) (per|for each)|"
                            # "every server owner wants their own", "all off the same base model"
                            r"(each|every) (\w{1,20} ){0,2}(owner|customer|client|tenant|user|team|store|school|brand|"
                            r"account|department|shop|franchise|partner|site)s? (wants|gets|needs|has|should have) "
                            r"(their|its|his|her) own (\w{1,20} )?(model|adapter|version|bot|assistant|classifier|"
                            r"moderation|fine-?tune)|(off|sharing|share) (the )?(same|one|a single) base model|"
                            r"without a (separate )?copy (for|per) each"),
    ("deployment_target", "edge device", r"\bphone\b|mobile|on[- ]device|raspberry|\bedge\b|in the browser"),
    ("deployment_target", "server", r"\b(server|api|production|kubernetes|cloud|endpoint)\b"),
]

_WANTS: list[tuple[str, str, str]] = [
    ("wants_objective", "continued_pretraining", r"continued pre-?training|continue pre-?training|\bcpt\b"),
    ("wants_objective", "orpo", r"\borpo\b"),
    ("wants_objective", "kto", r"\bkto\b"),
    ("wants_objective", "dpo", r"\bdpo\b"),
    ("wants_objective", "sft", r"\bsft\b|supervised fine-?tun|(fine-?tune|train) (it )?anyway|"
                               r"still want to (fine-?tune|train)"),
    # Before LoRA: "a per-customer adaptation far smaller than the LoRA files", "soft prompts per client".
    ("wants_method", "prompt_tuning", r"soft[- ]prompts?\b|virtual tokens|(?:learned|trained) vectors? (?:prepended|added)|"
                                      r"(?:smaller|tinier|lighter) than (?:the |a |our |any )?(?:loras?|adapters?)\b(?! budget)|"
                                      r"\bfew (?:kb|kilobytes)\b|(?:can'?t|cannot) (?:keep|store) thousands of loras?\b"),
    ("wants_method", "qlora", r"\bq-?lora\b|4-?bit"),
    ("wants_method", "dora", r"\bdora\b"),
    ("wants_method", "lora", r"\blora\b"),
    ("wants_method", "prompt_tuning", r"prompt[- ]tuning"),
    ("wants_method", "prefix_tuning", r"prefix[- ]tuning"),
    ("wants_method", "full", r"full (fine-?tun\w*|parameters?|weights)|all (the )?weights|full-parameter"),
]

_GPU_WORDS = r"gpu|vram|graphics|card|nvidia|cuda|rtx|geforce|a100|h100|h200|l4\b|t4\b|a10|v100|l40|4090|3090"
# Bounded patterns (security review H1): every number or path pattern starts at the beginning of its run
# (a lookbehind), and no two adjacent quantifiers can split the same characters, so a 20,000-digit
# message is read in linear time. Sizes, counts and hardware are token walks (assistant.sizes, .machines).
_NEGATED_BEFORE = re.compile(r"(\b(?:not|no|without|instead of|rather than|nobody(?: has| ever)?|nothing(?: was)?|"
                             r"barely|hardly|rarely|seldom|dont|havent|doesnt|didnt)|n't)"
                             r"\W{1,3}(\w{1,20}\W{1,3})?$|"  # "not lora"
                             r"(?:n't|\bnot|\bdont|\bhavent) (?:have|got) (?:any|a|an)\s{1,3}$", _I)  # "don't have any Q&A"
_DENIABLE = {"task_kind", "data_layout", "priority", "many_adapters", "wants_objective", "wants_method"}


def extract(text: str) -> tuple[StateUpdate, dict[str, str]]:
    """Facts stated in `text` and, for each, the words that stated it."""
    written = text[:MAX_CHARS]  # the interview reads this much of one message (graph tells the user)
    text = without_paths(written)  # statements only: "/srv/a100/dpo-runs/x" says no A100, no DPO
    found: dict[str, Any] = {}
    quotes: dict[str, str] = {}
    for key, value, pattern in _FLAGS + _WANTS:
        if key in found:
            continue
        match = re.search(pattern, text, _I)
        if match and key in _DENIABLE and _NEGATED_BEFORE.search(text[max(0, match.start() - 24) : match.start()]):
            continue  # "not lora", "it's not preference data": the next pattern for this key may still match
        if match:
            found[key] = value
            quotes[key] = _around(text, match)
    _drop_conflicts(found, text)
    _one_stage(text, found, quotes)
    for finder in (_sizes, _hardware, _time, _criteria, _domain, _tone, _whether):
        finder(text, found, quotes)
    for finder in (_files, _model):  # places and names: the words as written
        finder(written, found, quotes)
    # A message about hardware or data ("I have one RTX 4090") must not replace the user's goal.
    if "task_kind" in found or (len(text.split()) >= 6 and not found):
        found.setdefault("description", written.strip()[:300])
    return StateUpdate(**found), quotes


# "the normal training and the preference training in a single go": ORPO's point (SFT and preference in one
# loss), asked for without its name. Only with preference words in the same message: "train it in one go"
# alone says nothing about the objective.
_ONE_STAGE = re.compile(r"\b(?:single|one) (?:go|step|stage|pass|run|shot)\b|\bat once\b|\bat the same time\b|"
                        r"\binstead of two (?:separate )?(?:steps|stages|runs|trainings|phases)\b|\btogether in one\b", _I)
_PREFERENCE_TALK = re.compile(r"\bchosen\b|\brejected\b|\bthrow out\b|\bthrew out\b|\bover (?:that|the other) one\b|"
                              r"\bbetter (?:one|answer|response)\b|\bpreference\b|\bpairs\b", _I)


def _one_stage(text: str, found: dict, quotes: dict) -> None:
    match = _ONE_STAGE.search(text)
    if match and "wants_objective" not in found and _PREFERENCE_TALK.search(text):
        found["wants_objective"] = "orpo"
        quotes["wants_objective"] = _around(text, match)


def _around(text: str, match: re.Match, width: int = 14) -> str:
    """The matched words plus a few after them: the user's phrase, quotable in a reason."""
    start = max(0, text.rfind(" ", 0, match.start()) + 1)
    end = text.find(" ", match.end() + width)
    end = len(text) if end == -1 else end
    stop = re.search(r"[;,.!?\n]", text[match.end() : end])  # a quote ends with the user's clause
    if stop:
        end = match.end() + stop.start()
    return " ".join(text[start:end].split()).strip(" ,.;")


def _drop_conflicts(found: dict[str, Any], text: str) -> None:
    # "question/answer pairs" are SFT rows, not preference pairs.
    if found.get("data_layout") == "preference_pairs" and re.search(r"\bdpo|orpo|chosen|rejected|prefer", text, _I):
        found["has_pairs"] = True
    if found.get("data_layout") == "ratings":
        found["has_ratings"] = True
    if found.get("data_layout") == "labelled":
        found["has_labels"] = True
    if found.get("data_layout") == "unlabelled_text":
        found["has_labels"] = False
    # "a laptop with an RTX 4090" has a GPU: the GPU finder decides that later.
    if found.get("hardware") == "cpu" and re.search(_GPU_WORDS, text, _I) and not re.search(r"no gpu|without", text, _I):
        del found["hardware"]


def _files(text: str, found: dict, quotes: dict) -> None:
    match = DATA_FILE.search(text)
    if match:
        found["data_location"], found["data_format"] = match.group(1), match.group(2).lower()
        quotes["data_location"] = match.group(1)
        if match.group(2).lower() in {"csv", "tsv", "xlsx"} and "data_layout" not in found:
            # A table usually means inputs plus a label or answer column; peeking at the file refines it.
            found["data_layout"] = "labelled" if found.get("task_kind") == "classification" else "prompt_completion"


# "should we fine tune?", "Need we fine-tuning for this?", "do I need to retrain it?", "fine-tune?": a user
# unsure whether training is the answer at all (with no data named, a prompt usually is).
_WHETHER = re.compile(r"(?<!\bhow )(?<!\bwhat )(?<!\bwhich )(?<!\bwhere )(?<!\bwhen )"
                      r"\b(?:should|do|does|would|must|need) (?:we|i|it|this|that)(?: really| even| still)?"
                      r"(?: need to| have to)? (?:fine[- ]?tune|re-?train|train)\b(?! (?:on|with|using) )|"
                      r"\bneed (?:we|i) (?:fine[- ]?tun|re-?train|train)|"
                      r"\b(?:is|would) (?:fine[- ]?tuning|training|retraining) (?:needed|necessary|required|worth it)|"
                      r"(?:^|[.!?]\s{1,3})fine[- ]?tun(?:e|ing)\s{0,2}\?|\bdo (?:we|i) need (?:fine[- ]?tuning|training|to train)", _I)


def _whether(text: str, found: dict, quotes: dict) -> None:
    match = _WHETHER.search(text)
    if match:
        found["asks_whether_to_train"] = True
        quotes["asks_whether_to_train"] = _around(text, match)


def _sizes(text: str, found: dict, quotes: dict) -> None:
    sizes = read_sizes(text)
    for key in ("rows", "tokens", "size_mb"):
        if getattr(sizes, key) is not None:
            found[key] = getattr(sizes, key)
            quotes[key] = sizes.quotes.get(key, "")
    none = _NO_DATA.search(text)
    if none and sizes.rows is None and sizes.tokens is None:
        found["rows"] = 0  # "no data really", "we possess no examples": nothing to train on yet
        quotes["rows"] = none.group(0)


# The user has no examples at all (not "no data leaves our servers", not "no labelled data").
_NO_DATA = re.compile(r"^\W*no data\W*$|\bno data (?:really|at all|yet|to speak of)\b|\bthere'?s no data\b|"
                      r"\bthere is no data\b|"
                      r"\b(?:we|i) (?:have|possess|got) (?:no|zero|not any) (?:data|examples|samples|training data)\b|"
                      r"\b(?:we|i) (?:don'?t|do not|haven'?t) (?:have|got) (?:any )?(?:data|examples|samples)\b|"
                      r"\b(?:we|i) (?:don'?t|do not|haven'?t) (?:have|got|keep) any (?:record|records|logs|history) of\b|"
                      r"^\W*no examples\W*$|\bno examples (?:yet|at all)\b|\bzero (?:examples|samples)\b|"
                      # "we have not collected any examples", "I don't have any old texts saved"
                      r"\b(?:we|i) (?:have not|haven'?t|never|did not|didn'?t) (?:collected|saved|kept|gathered|logged|got|"
                      r"written) any (?:\w+ )?(?:examples|data|samples|texts|messages|emails|records)\b|"
                      r"\b(?:we|i) (?:don'?t|do not) have any (?!labell?ed|annotated|tagged|clean|structured|preference|"
                      r"paired)(?:\w+ )?(?:examples|samples|texts|messages|emails)(?: saved| kept| stored)?\b|"
                      # "We don't have any saved conversations", "we dont have any old questions saved": the user's
                      # own history, said to the end of the clause ("... tickets in German" has tickets)
                      r"\b(?:we|i) (?:don'?t|do not|haven'?t) (?:have|got) any (?:(?:saved|old|past|previous|chat|customer|"
                      r"support) )?(?:chats|conversations|transcripts|history|tickets|logs|records|data|"
                      r"(?:(?<=saved )|(?<=old )|(?<=past )|(?<=previous ))questions)(?: saved| kept| stored| logged)?"
                      r"(?: yet| either| at all)?(?=\s*(?:[.;!?]|,(?!\s*(?:just|only|but))|$|\band\b))", re.I)


def _hardware(text: str, found: dict, quotes: dict) -> None:
    hardware, said = read_hardware(text)
    if hardware:
        for key in ("hardware", "gpu_name", "gpu_memory_gb", "num_gpus", "ram_gb"):
            found.pop(key, None)
        found.update(hardware)
        quotes.update(said)
    one = _ONE_GPU.search(text) if found.get("hardware") == "gpu" and "num_gpus" not in found else None
    if one:  # "we have one GPU": a machine of theirs (a budget then doesn't rent one: fit.hardware_of)
        found["num_gpus"], quotes["num_gpus"] = 1, one.group(0)


_ONE_GPU = re.compile(r"\b(?:one|a|an|1|single|our|my)(?: \w{1,12})? gpu\b(?!s)", _I)


def _time(text: str, found: dict, quotes: dict) -> None:
    match = re.search(r"(?<![\d.])(\d{1,6}(?:\.\d{1,3})?) ?(hours?|hrs?|h|days?|minutes|mins)\b", text, _I)
    if match and not re.search(r"per (day|hour)", text[match.end() : match.end() + 10], _I):
        unit = match.group(2).lower()
        factor = 24 if unit.startswith("d") else 1 / 60 if unit.startswith("min") else 1
        found["time_limit_hours"] = float(match.group(1)) * factor
        quotes["time_limit_hours"] = _around(text, match, 0)
    elif re.search(r"overnight", text, _I):
        found["time_limit_hours"] = 10.0
        quotes["time_limit_hours"] = "overnight"


def _criteria(text: str, found: dict, quotes: dict) -> None:
    match = re.search(r"(better means|success (means|is|looks like)|good (answers?|output) (is|are|means)|"
                      r"we('ll| will)? measure|judged by|the goal is|should (always|never)|"
                      r"when (someone|anyone|a user|users|people|customers?) asks?|it (must|should) (also )?(say|mention|answer)"
                      r") ?:? ?([^.!?\n]{1,300})", text, _I)
    if match:
        found["success_criteria"] = match.group(0).strip()
    else:
        metric = re.search(r"\b(accuracy|f1|precision|recall|exact match)\b", text, _I)
        if metric:  # the sentence around the metric, found by scanning outwards (no backtracking pattern)
            start = max(text.rfind(c, 0, metric.start()) for c in ".!?\n") + 1
            ends = [i for i in (text.find(c, metric.end()) for c in ".!?\n") if i >= 0]
            found["success_criteria"] = text[start : min(ends, default=len(text))].strip()[:300]
    if "success_criteria" in found:
        quotes["success_criteria"] = found["success_criteria"][:80]
    example = re.search(r"(good (answer|reply|response|output)|for example|e\.g\.|like this)[^\"“]{0,40}[\"“]([^\"”]{3,300})[\"”]",
                        text, _I)
    if example:
        found["example_answer"] = example.group(3).strip()
    budget = re.search(r"(?:[$€£] ?\d[\d,.]{0,12} ?[km]?|(?<![\d,.])\d[\d,.]{0,12} ?(?:dollars|usd|eur|euros?|gbp))"
                       r"(?: ?(?:per|a|/) ?\w{1,12})?", text, _I)
    # "budget maybe 10k": an amount in thousands right after the word budget; not "a latency budget of
    # 500 ms" or "a token budget of 4000"
    after_word = re.search(r"(?<!latency )(?<!token )(?<!time )(?<!context )(?<!compute )(?<!error )budget"
                           r"(?: (?:is|of|maybe|about|around|roughly|approx\.?|~|say|up to|under|below)){0,2} ?~?"
                           r"(\d{1,4}(?:\.\d{1,2})? ?k)\b", text, _I)
    said = budget.group(0) if budget else after_word.group(1) if after_word else None
    if said:
        found["budget"] = quotes["budget"] = said.strip()


_DOMAINS = {
    "legal": r"legal|contract|clause|law firm|lawyer", "medical": r"medical|clinical|patient|health|doctor",
    "finance": r"financ|bank|invest|accounting|insurance", "customer support": r"support|help ?desk|customer service",
    "e-commerce": r"e-?commerce|shop|product descriptions|retail", "software": r"software|devops|code|api docs",
    "marketing": r"marketing|brand|blog|newsletter", "education": r"education|students|teach|course",
}
# "plain text" is a file format and "a short post" a length, not a tone the answers should take.
_TONES = (r"friendly|formal|casual|concise|empathetic|playful|professional|warm|witty"
          r"|plain(?!\s{1,3}(?:text|txt|files?|ascii|utf))|short(?!\s{1,3}(?:post|text|insight|summar))")


def _domain(text: str, found: dict, quotes: dict) -> None:
    for name, pattern in _DOMAINS.items():
        if re.search(pattern, text, _I):
            found["domain"] = name
            return


def _tone(text: str, found: dict, quotes: dict) -> None:
    tones = sorted({t.lower() for t in re.findall(rf"\b({_TONES})\b", text, _I)})
    if tones:
        found["tone"] = ", ".join(tones)


def _model(text: str, found: dict, quotes: dict) -> None:
    model = catalogue.mentioned(text)
    if model:
        found["wants_base_model"] = model.name
        quotes["wants_base_model"] = model.name
