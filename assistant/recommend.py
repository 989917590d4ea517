"""From what the user told us to a ranked recommendation: objective, method, base model, settings, why.

    from assistant.recommend import recommend
    rec = recommend(state)            # pure: same state, same recommendation; nothing is run
    rec.objective, rec.method, rec.base_model, rec.reasons

The rules are the ones an experienced ML engineer applies: retrieval beats fine-tuning for facts that
change; a prompt beats fine-tuning on a few dozen examples; the data's shape picks the objective (pairs
-> DPO/ORPO, thumbs -> KTO, a large raw corpus -> continued pretraining, examples -> SFT); the hardware
and the estimator pick the largest model and the lightest method that fit. Every reason quotes the user.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant import catalogue
from assistant.catalogue import CatalogueModel
from assistant.fit import SMALL_ROWS, Alternative, Pick, hardware_of, hyperparameters, pick_fitting
from assistant.sizes import corpus_tokens
from assistant.state import ConversationState, DataInfo, Method, Objective
from tools.train.estimate import Estimate
from tools.train.hardware import Hardware
from tools.vocab import DATA_FOR_OBJECTIVE, DATASET_TYPE_OF_KIND

__all__ = ["Alternative", "Recommendation", "hyperparameters", "recommend"]
MIN_ROWS = 30  # below this, a few-shot prompt is the honest answer (OpenAI suggests 50-100 to see gains)
CPT_ROWS, CPT_MB = 10_000, 12.0  # roughly 3M+ tokens of raw text before continued pretraining pays off
# The same threshold on the token estimate from any unit (assistant.sizes). Story writers wanted SFT on the
# texts up to ~2.7M tokens and continued pretraining from ~4M ("3 million words ... a model that KNOWS my
# universe"); a LoRA on a few million tokens of one world's text already shifts its vocabulary.
CPT_TOKENS = 3_000_000
STYLE_CPT_TOKENS = 20_000_000  # for a style goal: above this, raw text is a corpus to pretrain on
# A document or two ("the rulebook is 24 pages") teaches no voice and holds facts retrieval finds better.
RAG_TOKENS = 50_000


class Recommendation(BaseModel):
    """The first choice plus ranked alternatives; `reasons` quote the user's own answers."""

    model_config = ConfigDict(extra="forbid")

    objective: Objective
    method: Method
    base_model: str = Field(..., description="Catalogue name, e.g. Qwen2.5-1.5B-Instruct.")
    model: str = Field(..., description="What the plan loads: 'default' or a hub id.")
    licence: str
    dataset_type: str | None = None
    hardware: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    estimate: Estimate | None = None
    reasons: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)
    alternatives: list[Alternative] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    instead: str | None = Field(None, description="For none/none: what to do instead of fine-tuning.")

    @property
    def trains(self) -> bool:
        return self.objective != "none"


def recommend(state: ConversationState) -> Recommendation:
    """The recommendation for `state`; pure (reads no files, runs nothing)."""
    hw, hw_assumption = hardware_of(state)
    objective, reasons, alternatives, instead = choose_objective(state)
    assumptions = [hw_assumption] if hw_assumption else []
    dataset_type = _dataset_type(state, objective)
    if state.data.layout is None and objective == "sft":
        assumptions.append("data layout unknown: assumed chat conversations (messages)")
    pick = choose_method_and_model(state, objective, hw)
    reasons += pick.reasons
    if state.success.criteria and objective != "none":
        reasons.append(f'You said "{state.success.criteria}": after training I compare base and tuned on held-out '
                       "examples of yours, so you can judge exactly that.")
    rec = Recommendation(
        objective=objective, method=pick.method, base_model=pick.model.name, model=pick.model.model,
        licence=pick.model.licence, dataset_type=dataset_type, hardware=hw.describe(),
        hyperparameters=pick.hyperparameters, estimate=pick.estimate, reasons=reasons,
        alternatives=alternatives + pick.alternatives, assumptions=assumptions, instead=instead,
    )
    rec.risks = risks(state, rec, pick.model)
    return rec


# ---------------------------------------------------------------- objective


def choose_objective(state: ConversationState) -> tuple[Objective, list[str], list[Alternative], str | None]:
    """(objective, reasons, alternatives, what to do instead when not fine-tuning)."""
    d, u, q = state.data, state.use_case, state.quote
    wanted = state.preferences.objective
    if wanted and wanted != "none" and _data_allows(state, wanted):
        return wanted, [f'You asked for {wanted.upper()} ("{q("preferences.objective", wanted)}").'], [], None
    if u.facts_change_often:
        why = (f'You said "{q("use_case.facts_change_often", "the facts change often")}": fine-tuning bakes facts '
               "into weights, where they go stale. Retrieval (RAG) looks them up fresh at answer time.")
        return "none", [why], [Alternative(objective="sft", method="lora", why=(
            "fine-tune for tone and format only, and keep the facts in retrieval"))], (
            "Use retrieval: index your documents and pass the relevant ones to the model in the prompt.")
    if too_few_examples(d):
        have = f"about {d.rows} examples" if d.rows else "no examples yet"
        why = (f'You have {have} ("{q("data.rows", str(d.rows))}"): too few to fine-tune without '
               f"memorising them (we want at least {MIN_ROWS}, ideally a few hundred).")
        return "none", [why], [Alternative(objective="sft", method="lora", why=(
            f"once you have {MIN_ROWS}+ examples, a small LoRA SFT run"))], (
            "Put 3-5 of your examples into the system prompt (few-shot prompting) and collect more data.")
    if (_no_data_described(d) and "data" not in state.skipped) or (u.asks_whether_to_train and _no_data_counted(d)):
        # a skipped question is deferred, not answered; "should we fine tune?" with nothing counted is a prompt
        why = ("You haven't told me about any examples (past answers, chats, documents, ratings), and fine-tuning "
               "learns only from examples. What you describe is an instruction a system prompt carries.")
        return "none", [why], [Alternative(objective="sft", method="lora", why=(
            "once you have a few hundred examples of the answers you want, a LoRA SFT run"))], (
            "Write what you want into the system prompt; if it still falls short, collect examples of good answers.")
    if d.has_pairs or d.layout == "preference_pairs":
        return _preference_objective(state)
    if d.has_ratings or d.layout == "ratings":
        why = (f'Your data is single answers rated good or bad ("{_said(state, "ratings", "has_ratings")}"). KTO learns from '
               "exactly that: no pairs needed, each thumbs up/down counts.")
        return "kto", [why], [Alternative(objective="sft", method="lora", why="train only on the thumbs-up answers")], None
    if d.layout == "unlabelled_text":
        return _raw_text_objective(state)
    return "sft", [_sft_reason(state)], [], None


def too_few_examples(d: DataInfo) -> bool:
    """Fewer than MIN_ROWS examples, unless each is long: "4 novels, about 3 million words" is a corpus."""
    return d.rows is not None and d.rows < MIN_ROWS and (d.tokens is None or d.tokens < RAG_TOKENS)


def _no_data_described(d: DataInfo) -> bool:
    """Nothing at all is known about the user's data: no file, no layout, no size, no pairs or ratings. Among
    1,185 interview stories whose reader learnt nothing about the data, 47 of 49 writers wanted a prompt, not
    a fine-tune ("just want it to always reply in British English"). A user who SKIPPED the data question
    gets a plan with its assumption said instead: they deferred the answer, they didn't give it."""
    return d.layout is None and _no_data_counted(d)


def _no_data_counted(d: DataInfo) -> bool:
    """No file and no size, and nothing that is only ever data the user has (pairs, ratings, labels). A chat or
    text layout read without a size ("our AI chat on the website works fine") says nothing about examples."""
    return (d.location is None and d.rows is None and d.tokens is None and d.size_mb is None
            and not d.has_pairs and not d.has_ratings and not d.has_labels)


def _data_allows(state: ConversationState, objective: str) -> bool:
    have = DATASET_TYPE_OF_KIND.get(state.data.layout or "")
    return have is None or objective not in DATA_FOR_OBJECTIVE or have in DATA_FOR_OBJECTIVE[objective]


def _said(state: ConversationState, layout: str, flag: str) -> str:
    """The user's words behind `flag` (has_pairs, has_ratings): the layout's own quote while the layout is that
    kind, else the flag's (a later message may have been read as another layout while the pairs or ratings
    said earlier still stand)."""
    q = state.quote
    own = q(f"data.{flag}", flag.removeprefix("has_"))
    return q("data.layout", own) if state.data.layout == layout else own


def _preference_objective(state: ConversationState) -> tuple[Objective, list[str], list[Alternative], None]:
    said = f'You have preference pairs ("{_said(state, "preference_pairs", "has_pairs")}"): a better and a worse answer per prompt.'
    # ORPO folds the SFT step into the preference loss (Hong et al. 2024): one run when the chosen answers
    # also teach a format the model doesn't know yet. For general chat the instruct model already has the
    # format, and DPO only has to shift its preferences.
    if state.use_case.task_kind in {"style", "extraction", "classification", "code", "summarization"}:
        why = (f"{said} The chosen answers also teach a new {state.use_case.task_kind} format, and ORPO learns the "
               "format and the preference in one run, without a reference model.")
        return "orpo", [why], [Alternative(objective="dpo", method="lora", why="SFT on the chosen answers first, then DPO")], None
    why = f"{said} DPO learns directly from such pairs; your instruct base model already knows the task."
    return "dpo", [why], [Alternative(objective="orpo", method="lora", why="one-stage alternative without a reference model")], None


def _raw_text_objective(state: ConversationState) -> tuple[Objective, list[str], list[Alternative], str | None]:
    d, q = state.data, state.quote
    tokens = corpus_tokens(d.rows, d.tokens, d.size_mb)
    big = (d.rows or 0) >= CPT_ROWS or (d.size_mb or 0) >= CPT_MB or tokens >= CPT_TOKENS
    size_words = q("data.tokens") or q("data.size_mb") or q("data.rows") or "a large corpus"
    # A voice is learned from a modest pile of texts by SFT on them; tens of millions of tokens of one world's
    # writing ("30 million words of fan fiction") is continued pretraining, whatever the goal is called.
    if big and (state.use_case.task_kind != "style" or tokens >= STYLE_CPT_TOKENS):
        why = (f'Your data is unlabelled text, and a lot of it ("{size_words}"). Continued pretraining teaches the '
               "model your domain's vocabulary and facts; an SFT step on a few examples can follow for the format.")
        return "continued_pretraining", [why], [Alternative(objective="sft", method="lora", why=(
            "turn part of the corpus into question/answer examples and fine-tune on those"))], None
    if 0 < tokens < RAG_TOKENS or (state.use_case.task_kind == "qa" and 0 < tokens < CPT_TOKENS):
        why = (f'Your data is a small body of text with no examples of answers ("{size_words}"). Questions about it '
               "are answered best by retrieval (RAG): the model reads the relevant passage at answer time, so nothing "
               "is memorised or goes stale.")
        return "none", [why], [Alternative(objective="sft", method="lora", why=(
            "write a few hundred question/answer examples from the text and fine-tune on those"))], (
            "Use retrieval: split the text into passages, index them, and pass the relevant ones to the model.")
    size = f"about {tokens / 1e6:.1f}M tokens" if tokens else "its size not given"
    why = (f'Your data is unlabelled text ("{q("data.layout", "raw text")}"), {size}: below the ~{CPT_TOKENS / 1e6:.0f}M '
           "tokens where continued pretraining pays off, so we fine-tune on the texts themselves: the model picks "
           "up their voice and wording.")
    return "sft", [why], [Alternative(objective="continued_pretraining", method="lora", why=(
        "worth it once you have millions of tokens"))], None


def _sft_reason(state: ConversationState) -> str:
    d, u, q = state.data, state.use_case, state.quote
    what = {"chat": "example conversations", "labelled": "inputs with their correct labels",
            "prompt_completion": "inputs with the answers you want"}.get(d.layout or "", "examples of the task")
    task = f' for your use case ("{q("use_case.task_kind", u.task_kind)}")' if u.task_kind else ""
    source = f' ("{q("data.layout")}")' if q("data.layout") else ""
    return f"You have {what}{source}{task}; supervised fine-tuning (SFT) teaches the model to answer like them."


def _dataset_type(state: ConversationState, objective: str) -> str | None:
    if objective == "none":
        return None
    have = DATASET_TYPE_OF_KIND.get(state.data.layout or "", "conversational")
    allowed = DATA_FOR_OBJECTIVE[objective]
    # The data's own type when the objective can learn from it, else the one type the objective needs.
    return have if have in allowed else allowed[0]


# ---------------------------------------------------------------- method, model, hyperparameters


def choose_method_and_model(state: ConversationState, objective: Objective, hw: Hardware) -> Pick:
    if objective == "none":
        model = catalogue.DEFAULT if hw.kind == "cpu" else _inference_model(hw)
        return Pick(method="none", model=model, reasons=[
            f"To prompt, use {model.name}: it runs on your {hw.describe()} ({model.licence})."])
    return pick_fitting(state, objective, hw)


def _inference_model(hw: Hardware) -> CatalogueModel:
    # Serving in 16-bit needs ~2 bytes per parameter plus room for the KV cache.
    fitting = [m for m in catalogue.gpu_models() if m.params_b * 2.4 <= hw.memory_gb * hw.device_count and m.permissive]
    return fitting[-1] if fitting else catalogue.DEFAULT


# ---------------------------------------------------------------- risks


def risks(state: ConversationState, rec: Recommendation, model: CatalogueModel) -> list[str]:
    d, c, q = state.data, state.constraints, state.quote
    out: list[str] = []
    if rec.trains and d.rows is not None and d.rows < SMALL_ROWS:
        out.append(f"Overfitting: {d.rows} examples is little; we hold out a validation split, train few epochs "
                   "and watch the validation loss.")
    if rec.objective == "continued_pretraining" or rec.method == "full":
        out.append("Forgetting: training all weights or on raw text can erode general and chat skills; a low "
                   "learning rate and an SFT step afterwards limit it.")
    if d.contains_pii:
        out.append(f'Personal data ("{q("data.contains_pii", "personal data")}"): emails, phone numbers, cards and '
                   "IDs are redacted before training; a model can still memorise names, so review samples.")
    if c.on_prem:
        out.append("Data stays on your machines: training and serving run locally; configure no external LLM endpoint.")
    if rec.trains and not model.permissive:
        gated = " It is gated: accept the licence on the Hub and log in first." if model.gated else ""
        out.append(f"Licence: {model.name} is under the {model.licence}; check it allows your use.{gated}")
    if rec.estimate and rec.estimate.verdict != "fits":
        out.append(f"Memory: {rec.estimate.verdict} ({rec.estimate.peak_memory_gb:.1f} of "
                   f"{rec.estimate.available_gb:.0f} GB). {rec.estimate.suggestion or ''}".strip())
    if rec.estimate:
        out += [n for n in rec.estimate.notes if n.startswith("Capped")]
    limit = c.time_limit_hours
    if rec.estimate and limit and rec.estimate.duration_min > limit * 60:
        out.append(f"Time: about {rec.estimate.duration_min / 60:.1f} h, over your {limit:g} h; lower epochs or max_steps.")
    return out
