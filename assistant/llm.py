"""The assistant's two brains: rules (always there) and an optional OpenAI-compatible chat model.

    export FINETUNE_ASSISTANT_LLM_BASE_URL=http://127.0.0.1:8000/v1   # vLLM, Ollama (/v1), OpenAI, ...
    export FINETUNE_ASSISTANT_LLM_MODEL=Qwen/Qwen2.5-7B-Instruct
    export FINETUNE_ASSISTANT_LLM_API_KEY=...                          # optional for local servers

With a model, it reads each message into a `StateUpdate` through structured output and rephrases the
rules' draft replies; the rules still run first, and whatever the model fails at falls back to them, so
the flow never depends on the model behaving. The decisions (recommendation, plan) are always the rules'.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr

import prompts
from assistant import understand
from assistant.crosscheck import cross_check, strip_leaks
from assistant.interview import known_facts
from assistant.sizes import MAX_CHARS
from assistant.state import ConversationState, StateUpdate

ENV_PREFIX = "FINETUNE_ASSISTANT_LLM_"
BAD_READING_SLOTS = 3  # a structured reading with this many unsupported slots is a misreading
REPLY_TAG = "assistant-reply"
MAX_ERRORS_KEPT = 200  # Brain.errors and the notices already told: the latest only


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str
    model: str
    api_key: SecretStr | None = None  # never shown in a repr or a log
    temperature: float = 0.2
    structured_method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema"
    timeout_s: float = 30.0  # per call: a reply slower than this is worse than the offline reader's

    @classmethod
    def from_env(cls) -> LLMConfig | None:
        """The endpoint from `FINETUNE_ASSISTANT_LLM_*`, or None when no base URL or model is set."""
        url, model = os.environ.get(ENV_PREFIX + "BASE_URL"), os.environ.get(ENV_PREFIX + "MODEL")
        if not url or not model:
            return None
        method = os.environ.get(ENV_PREFIX + "STRUCTURED_METHOD", "json_schema")
        timeout = float(os.environ.get(ENV_PREFIX + "TIMEOUT_S") or 30.0)
        return cls(base_url=url, model=model, api_key=os.environ.get(ENV_PREFIX + "API_KEY") or None,
                   structured_method=method, timeout_s=timeout)


def make_chat_model(config: LLMConfig) -> Any:
    """A LangChain chat model for the endpoint (langchain-openai speaks to any OpenAI-compatible server)."""
    from langchain_openai import ChatOpenAI

    # Local servers ignore the key, but the client insists on one.
    return ChatOpenAI(base_url=config.base_url, model=config.model, api_key=config.api_key.get_secret_value() if config.api_key else "not-needed",
                      temperature=config.temperature, timeout=config.timeout_s, max_retries=1)


class Brain:
    """Reads messages and words replies. `model=None` is the deterministic interviewer alone."""

    def __init__(self, model: Any = None, structured_method: str | None = None, timeout_s: float = 30.0):
        self.model = model
        self.structured_method = structured_method
        self.errors: list[str] = []  # what the model got wrong, for the UI's "details" and for tests
        self.notices: list[str] = []  # what the user should be told once (a cut message, a fallback)
        self._told: list[str] = []
        self.timeout_s = timeout_s  # one LLM call; past it the offline reader takes over
        self.failures = 0
        self.fell_back = False
        self.phrased_last = False  # the last reply came from the model (streamed), not the rules' draft

    def take_notices(self) -> list[str]:
        """What the user should be told after this message (a cut message, a fallback), each said once."""
        # A cut message is said each time; a standing fact (rules only, the LLM fell back) only once.
        fresh = [n for n in dict.fromkeys(self.notices) if n.startswith("Your message was long") or n not in self._told]
        self._told = list(dict.fromkeys([*self._told, *fresh]))[-MAX_ERRORS_KEPT:]
        self.notices = []
        return fresh

    @property
    def uses_llm(self) -> bool:
        return self.model is not None

    def read(self, state: ConversationState, text: str) -> tuple[StateUpdate, dict[str, str]]:
        """The facts in `text`: the offline reader's, plus what the model read that the user's words support."""
        settled = understand.settled_layout(state.quote("data.layout")) if state.data.layout else None
        reading = understand.read(text, settled=settled, known=state.data.layout)
        self.notices += reading.notes
        update = reading.update.model_copy(update={"unclear": reading.unclear or None})
        quotes = reading.quotes
        if self.model is None or not text.strip() or self.fell_back:
            return update, quotes
        parsed = self._structured(state, text[:MAX_CHARS])
        if parsed is None:
            return update, quotes
        checked = cross_check(parsed, update, text[:MAX_CHARS])
        self._note_errors(*checked.rejected)
        said = len(parsed.model_dump(exclude_none=True))
        if len(checked.rejected) >= max(BAD_READING_SLOTS, said / 2 + 0.5):
            # Most of what it read is not in the user's words (its own question as the description, a CPU
            # for "one RTX 4090"): a brain this weak costs time and earns nothing.
            self._failed(f"extract: {len(checked.rejected)} of {said} slots unsupported", misread=True)
        return checked.update, quotes

    def _note_errors(self, *errors: str) -> None:
        # One Brain serves every session for the app's lifetime: keep the latest only (L10).
        self.errors += errors
        del self.errors[:-MAX_ERRORS_KEPT]

    def _structured(self, state: ConversationState, text: str) -> StateUpdate | None:
        system = prompts.render("interview", known=known_facts(state), asked=state.asked[-2:])
        try:
            runnable = self._with_schema(StateUpdate)
            result = _bounded(lambda: runnable.invoke([("system", system), ("human", text)]), self.timeout_s)
            if isinstance(result, dict):
                result = StateUpdate(**result)
            if not isinstance(result, StateUpdate):
                raise TypeError(f"not a StateUpdate: {type(result).__name__}")
        except Exception as exc:  # a model that can't do structured output must not stop the interview
            self._failed(f"extract: {type(exc).__name__}: {exc}", slow=isinstance(exc, TimeoutError))
            return None
        return result

    def _failed(self, error: str, slow: bool = False, misread: bool = False) -> None:
        """Log the failure; a slow model, or one failing or misreading twice, hands reading and wording to
        the offline reader for good, and the user is told once."""
        self._note_errors(error)
        self.failures += 1
        if (slow or self.failures >= 2) and not self.fell_back:
            self.fell_back = True
            why = "was too slow" if slow else "kept misreading your messages" if misread else "kept failing"
            self.notices.append(f"The language model {why}, so I'm reading your messages with the built-in "
                                "offline reader from now on.")

    def _with_schema(self, schema: type[BaseModel]) -> Any:
        if self.structured_method:
            try:
                return self.model.with_structured_output(schema, method=self.structured_method)
            except (TypeError, ValueError, NotImplementedError):
                pass  # a chat model without the `method` option
        return self.model.with_structured_output(schema)

    def phrase(self, draft: str, purpose: str, state: ConversationState) -> str:
        """The draft reply reworded by the model (same facts, same numbers); the draft itself without one."""
        self.phrased_last = False
        if self.model is None or self.fell_back:
            return draft
        system = prompts.render("system", known=known_facts(state))
        instruction = prompts.render("phrase", purpose=purpose, draft=draft)
        try:
            # The tag lets `Assistant.stream` pass these tokens (and no structured-output JSON) to the user.
            message = _bounded(lambda: self.model.invoke([("system", system), ("human", instruction)],
                                                         config={"tags": [REPLY_TAG]}), self.timeout_s)
        except Exception as exc:
            self._failed(f"phrase: {type(exc).__name__}: {exc}", slow=isinstance(exc, TimeoutError))
            return draft
        text = strip_leaks(message.content if isinstance(message.content, str) else "")
        self.phrased_last = bool(text)
        return text or draft


def _bounded(call: Any, timeout_s: float) -> Any:
    """`call()` in a worker thread, given up after timeout_s (TimeoutError). The thread carries the caller's
    context, so LangChain's streaming callbacks still see the tokens; a late answer is dropped."""
    import concurrent.futures
    import contextvars

    context = contextvars.copy_context()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-call")
    try:
        return pool.submit(context.run, call).result(timeout=timeout_s)
    except concurrent.futures.TimeoutError as exc:
        raise TimeoutError(f"no answer within {timeout_s:g} s") from exc
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def default_brain(llm: Any = "auto") -> Brain:
    """`"auto"`: the endpoint from the environment if set, else rules; None: rules; a chat model: that one."""
    if llm == "auto":
        config = LLMConfig.from_env()
        if config is None:
            return Brain()
        return Brain(make_chat_model(config), config.structured_method, config.timeout_s)
    return Brain(llm)
