"""What the assistant knows about the user's project, as pydantic models.

The interview fills a `ConversationState` one answer at a time; the recommendation is a pure function of it.
Every field starts unknown (`None`) so "not asked yet" and "asked, the answer is no" stay different.
Fields remember the user's own words (`*_quote`, `notes`) so the reasons can cite them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from tools import vocab

TaskKind = Literal[
    "chat", "classification", "extraction", "summarization", "generation", "style", "qa", "code", "domain", "other"
]
DataKind = vocab.DataKind  # what the user says the data is; the data tools' file layouts are `vocab.SourceLayout`
# "none": the recommendation is not to fine-tune (retrieval, a prompt) or the user asked for no preference.
Objective = Literal[vocab.Objective, "none"]
Method = Literal[vocab.Method, "none"]
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
    replaces_hosted: bool | None = Field(None, description="The user is moving off a hosted fine-tune (OpenAI's, ...).")
    asks_whether_to_train: bool | None = Field(
        None, description='The user asks whether fine-tuning is needed at all ("do I need to retrain it?").')


class DataInfo(_Part):
    location: str | None = Field(None, description="File or folder the data lives in.")
    format: str | None = Field(None, description="File format: jsonl, csv, parquet, txt, ...")
    layout: DataKind | None = None
    rows: int | None = Field(None, ge=0)
    size_mb: float | None = Field(None, ge=0)
    tokens: int | None = Field(None, ge=0, description="Estimated tokens of text (assistant.sizes).")
    has_labels: bool | None = None
    has_pairs: bool | None = None
    has_ratings: bool | None = None
    contains_pii: bool | None = None
    golden_dir: str | None = Field(None, description="Folder of the old model's recorded answers (`migrate record`).")


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


# The flat update names that aren't the nested field's own name; preferences read as "wants_*".
_FLAT_NAMES = {("data", "location"): "data_location", ("data", "format"): "data_format",
               ("data", "layout"): "data_layout", ("success", "criteria"): "success_criteria",
               ("deployment", "target"): "deployment_target"}
_FLAT_PREFIX = {"preferences": "wants_"}
_NOT_FLAT = {("success", "examples")}  # a list: one `example_answer` per message is appended instead


def _flat_targets() -> dict[str, tuple[str, str]]:
    """Flat update name -> (part, field) for every scalar field of the nested parts."""
    targets = {}
    for part, info in ConversationState.model_fields.items():
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, _Part)):
            continue
        for name in model.model_fields:
            if (part, name) not in _NOT_FLAT:
                flat = _FLAT_NAMES.get((part, name)) or _FLAT_PREFIX.get(part, "") + name
                targets[flat] = (part, name)
    return targets


_UPDATE_TARGETS = _flat_targets()


def _flat_field(part: str, name: str) -> tuple[Any, Any]:
    # Type and description only: a bound a model breaks (rows=-1) must drop that value, not the whole update.
    info = ConversationState.model_fields[part].annotation.model_fields[name]
    return (info.annotation, Field(None, description=info.description))


# The flat schema an LLM fills from one user message (structured output); every field optional. Flat on
# purpose: small open models fill flat schemas far more reliably than nested ones. Generated from the
# nested models, so a field added there is one the LLM (and the rules) can fill.
StateUpdate = create_model(
    "StateUpdate",
    __config__=ConfigDict(extra="ignore"),
    __doc__="Facts from one user message, flat; every field optional (None: not said).",
    **{flat: _flat_field(*target) for flat, target in _UPDATE_TARGETS.items()},
    example_answer=(str | None, Field(None, description="An example of a good answer the user gave.")),
    just_recommend=(bool | None, None),
    skip=(bool | None, Field(None, description="The user declined to answer the last question.")),
    unclear=(list[str] | None, Field(None, description="Slots with two close readings: 'slot:a|b'.")),
)


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
    if new.data.layout in ("preference_pairs", "ratings") and "data_layout" in set_now:
        # Pairs and ratings are read from a two-part structure (assistant.cues): one read now replaces the
        # other kind said before ("'comparing' is the wrong word ... each answer scored 1 to 5"). A looser
        # later reading ("20k picks with both texts saved" as plain text) leaves an earlier flag standing.
        other = "has_ratings" if new.data.layout == "preference_pairs" else "has_pairs"
        if other not in set_now:
            setattr(new.data, other, None)
    for layout, flag in (("preference_pairs", "has_pairs"), ("ratings", "has_ratings")):
        if getattr(new.data, flag) is False and new.data.layout == layout and "data_layout" not in set_now:
            new.data.layout = None  # "scratch that, there are no ratings": the earlier reading is withdrawn
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
