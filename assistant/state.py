"""What the assistant knows about the user's project, as pydantic models.

The interview fills a `ConversationState` one answer at a time; the recommendation is a pure function of it.
Every field starts unknown (`None`) so "not asked yet" and "asked, the answer is no" stay different.
Fields remember the user's own words (`*_quote`, `notes`) so the reasons can cite them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TaskKind = Literal[
    "chat", "classification", "extraction", "summarization", "generation", "style", "qa", "code", "domain", "other"
]
Layout = Literal["chat", "prompt_completion", "labelled", "preference_pairs", "ratings", "unlabelled_text"]
Objective = Literal["sft", "dpo", "orpo", "kto", "continued_pretraining", "none"]
Method = Literal["full", "lora", "qlora", "dora", "prompt_tuning", "prefix_tuning", "none"]
Priority = Literal["quality", "speed", "cost", "balanced"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class UseCase(_Part):
    task_kind: TaskKind | None = None
    description: str | None = Field(None, description="The user's own words for what the model should do.")
    domain: str | None = None
    audience: str | None = None
    tone: str | None = None
    facts_change_often: bool | None = Field(None, description="Answers depend on facts that change (prices, stock).")


class DataInfo(_Part):
    location: str | None = Field(None, description="File or folder the data lives in.")
    format: str | None = Field(None, description="File format: jsonl, csv, parquet, txt, ...")
    layout: Layout | None = None
    rows: int | None = Field(None, ge=0)
    size_mb: float | None = Field(None, ge=0)
    tokens: int | None = Field(None, ge=0, description="Estimated tokens of text (assistant.sizes).")
    has_labels: bool | None = None
    has_pairs: bool | None = None
    has_ratings: bool | None = None
    contains_pii: bool | None = None


class Constraints(_Part):
    hardware: Literal["cpu", "gpu"] | None = None
    gpu_name: str | None = None
    gpu_memory_gb: float | None = Field(None, gt=0, description="Memory of ONE GPU.")
    num_gpus: int | None = Field(None, ge=1)
    ram_gb: float | None = Field(None, gt=0)
    budget: str | None = None
    time_limit_hours: float | None = Field(None, gt=0)
    on_prem: bool | None = Field(None, description="Data must stay on the user's machines.")


class Success(_Part):
    criteria: str | None = Field(None, description="What 'better' means to the user.")
    examples: list[str] = Field(default_factory=list, description="Example good answers the user gave.")
    priority: Priority | None = None


class Deployment(_Part):
    target: str | None = Field(None, description="Where the model will run: laptop, server, phone, ...")
    many_adapters: bool | None = Field(None, description="One base model serving many small task adapters.")


class Preferences(_Part):
    """Choices the user asked for explicitly; the recommendation honours them when they can work."""

    objective: Objective | None = None
    method: Method | None = None
    base_model: str | None = None


class ConversationState(_Part):
    use_case: UseCase = Field(default_factory=UseCase)
    data: DataInfo = Field(default_factory=DataInfo)
    constraints: Constraints = Field(default_factory=Constraints)
    success: Success = Field(default_factory=Success)
    deployment: Deployment = Field(default_factory=Deployment)
    preferences: Preferences = Field(default_factory=Preferences)
    notes: dict[str, str] = Field(default_factory=dict, description="Field -> the user's words that set it.")
    asked: list[str] = Field(default_factory=list, description="Topics already asked about (never asked twice).")
    skipped: list[str] = Field(default_factory=list, description="Topics the user chose to skip.")
    just_recommend: bool = False
    unclear: list[str] = Field(default_factory=list, description="Two close readings to ask about: 'slot:a|b'.")

    def quote(self, key: str, default: str = "") -> str:
        """The user's words behind a field, for reasons like 'you said "thumbs up/down"'."""
        return self.notes.get(key, default)


class StateUpdate(BaseModel):
    """The flat schema an LLM fills from one user message (structured output); every field optional.

    Flat on purpose: small open models fill flat schemas far more reliably than nested ones.
    """

    model_config = ConfigDict(extra="ignore")

    task_kind: TaskKind | None = None
    description: str | None = None
    domain: str | None = None
    audience: str | None = None
    tone: str | None = None
    facts_change_often: bool | None = None
    data_location: str | None = None
    data_format: str | None = None
    data_layout: Layout | None = None
    rows: int | None = None
    size_mb: float | None = None
    tokens: int | None = None
    has_labels: bool | None = None
    has_pairs: bool | None = None
    has_ratings: bool | None = None
    contains_pii: bool | None = None
    hardware: Literal["cpu", "gpu"] | None = None
    gpu_name: str | None = None
    gpu_memory_gb: float | None = None
    num_gpus: int | None = None
    ram_gb: float | None = None
    time_limit_hours: float | None = None
    on_prem: bool | None = None
    success_criteria: str | None = None
    example_answer: str | None = Field(None, description="An example of a good answer the user gave.")
    budget: str | None = None
    priority: Priority | None = None
    deployment_target: str | None = None
    many_adapters: bool | None = None
    wants_objective: Objective | None = None
    wants_method: Method | None = None
    wants_base_model: str | None = None
    just_recommend: bool | None = None
    skip: bool | None = Field(None, description="The user declined to answer the last question.")
    unclear: list[str] | None = Field(None, description="Slots with two close readings: 'slot:a|b'.")


_UPDATE_TARGETS: dict[str, tuple[str, str]] = {
    "task_kind": ("use_case", "task_kind"),
    "description": ("use_case", "description"),
    "domain": ("use_case", "domain"),
    "audience": ("use_case", "audience"),
    "tone": ("use_case", "tone"),
    "facts_change_often": ("use_case", "facts_change_often"),
    "data_location": ("data", "location"),
    "data_format": ("data", "format"),
    "data_layout": ("data", "layout"),
    "rows": ("data", "rows"),
    "size_mb": ("data", "size_mb"),
    "tokens": ("data", "tokens"),
    "has_labels": ("data", "has_labels"),
    "has_pairs": ("data", "has_pairs"),
    "has_ratings": ("data", "has_ratings"),
    "contains_pii": ("data", "contains_pii"),
    "hardware": ("constraints", "hardware"),
    "gpu_name": ("constraints", "gpu_name"),
    "gpu_memory_gb": ("constraints", "gpu_memory_gb"),
    "num_gpus": ("constraints", "num_gpus"),
    "ram_gb": ("constraints", "ram_gb"),
    "time_limit_hours": ("constraints", "time_limit_hours"),
    "on_prem": ("constraints", "on_prem"),
    "success_criteria": ("success", "criteria"),
    "budget": ("constraints", "budget"),
    "priority": ("success", "priority"),
    "deployment_target": ("deployment", "target"),
    "many_adapters": ("deployment", "many_adapters"),
    "wants_objective": ("preferences", "objective"),
    "wants_method": ("preferences", "method"),
    "wants_base_model": ("preferences", "base_model"),
}


def apply_update(
    state: ConversationState, update: StateUpdate, quotes: dict[str, str] | None = None, message: str = ""
) -> ConversationState:
    """Return a copy of `state` with the update's known fields set; unknown (None) fields keep their value.

    `quotes` maps update keys to the words that set them; other fields cite the (shortened) message.
    """
    new = state.model_copy(deep=True)
    quotes = quotes or {}
    for key, value in update.model_dump(exclude_none=True).items():
        if key not in _UPDATE_TARGETS:
            continue
        part, field = _UPDATE_TARGETS[key]
        try:
            setattr(getattr(new, part), field, value)
        except ValueError:
            continue  # an out-of-range value from a model (e.g. -1 rows) is ignored, not fatal
        quote = quotes.get(key) or _shorten(message)
        if quote:
            new.notes[f"{part}.{field}"] = quote
    if update.example_answer and update.example_answer not in new.success.examples:
        new.success.examples.append(update.example_answer)
    if update.just_recommend:
        new.just_recommend = True
    # A slot read clearly now settles an earlier doubt about it; a new doubt is asked about once.
    set_now = set(update.model_dump(exclude_none=True))
    doubts = update.unclear or []
    new.unclear = [u for u in new.unclear if u.split(":")[0] not in set_now or u in doubts]
    new.unclear += [u for u in doubts if u not in new.unclear]
    _infer(new)
    return new


def _infer(state: ConversationState) -> None:
    """Facts that follow from others: a GPU's memory means a GPU; pairs mean a preference layout."""
    c, d = state.constraints, state.data
    if c.hardware is None and (c.gpu_name or c.gpu_memory_gb or (c.num_gpus or 0) > 1):
        c.hardware = "gpu"
    if c.hardware == "gpu" and c.num_gpus is None:
        c.num_gpus = 1
    layout_flags = {"preference_pairs": "has_pairs", "ratings": "has_ratings", "labelled": "has_labels"}
    if d.layout in layout_flags and getattr(d, layout_flags[d.layout]) is None:
        setattr(d, layout_flags[d.layout], True)
    if d.layout is None:
        if d.has_pairs:
            d.layout = "preference_pairs"
        elif d.has_ratings:
            d.layout = "ratings"


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
