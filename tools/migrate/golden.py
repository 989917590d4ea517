"""The recorded old model as one more chat model: blind votes where one side is the old fine-tune's answer.

    backend = with_recorded(open_backend("default", {"tuned": "runs/r1/adapter"}), "golden/", name="old")
    compare(backend, prompt, tuned="tuned", base="old", blind=True)

The old model can't be asked anything new (it may be retired already), so it answers exactly the prompts
in `golden.jsonl` and refuses others with a message that says so. Everything else goes to the real engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tools.evaluate.checks import tool_calls_text
from tools.migrate.record import load_golden, prompt_id
from tools.serve.backends import ChatBackend, Sampling
from tools.serve.server import ServeError

OLD = "old"


class RecordedBackend:
    """A ChatBackend that adds the recorded answers of `golden_dir` under `name` to `inner`."""

    def __init__(self, inner: ChatBackend, golden_dir: str | Path, name: str = OLD) -> None:
        self.inner, self.name, self.golden_dir = inner, name, str(golden_dir)
        self.kind = inner.kind
        self.fallback_reason = inner.fallback_reason
        self._answers: dict[str, str] = {}
        for line in load_golden(golden_dir):
            # Keyed both with and without tools: the comparison UI sends messages only.
            self._answers[line["id"]] = line["answer"]
            self._answers[prompt_id(line["messages"], None)] = line["answer"]
        if not self._answers:
            raise ServeError(f"{golden_dir} holds no recorded answers; run `finetune-assistant migrate record` first.")

    def prompts(self) -> list[list[dict]]:
        """The recorded prompts (messages), for the Compare tab to replay."""
        return [line["messages"] for line in load_golden(self.golden_dir)]

    def models(self) -> dict[str, str]:
        return {**self.inner.models(), self.name: self.golden_dir}

    def chat(self, model: str, messages: list[dict], sampling: Sampling) -> str:
        if model != self.name:
            return self.inner.chat(model, for_open_model(messages), sampling)
        answer = self._answers.get(prompt_id(messages, None))
        if answer is None:
            raise ServeError("the old model was only recorded on the held-out prompts; pick one of those to compare.")
        return answer

    def stream(self, model: str, messages: list[dict], sampling: Sampling) -> Iterator[str]:
        if model != self.name:
            yield from self.inner.stream(model, for_open_model(messages), sampling)
            return
        yield self.chat(model, messages, sampling)

    def add_adapter(self, name: str, path: str | Path) -> None:
        self.inner.add_adapter(name, path)

    def add_model(self, name: str, path: str | Path) -> None:
        self.inner.add_model(name, path)

    def remove_adapter(self, name: str) -> None:
        self.inner.remove_adapter(name)

    def alive(self) -> bool:
        return self.inner.alive()

    def close(self) -> None:
        self.inner.close()


def with_recorded(inner: ChatBackend, golden_dir: str | Path, name: str = OLD) -> RecordedBackend:
    return RecordedBackend(inner, golden_dir, name)


def for_open_model(messages: list[dict]) -> list[dict]:
    """Recorded messages as any chat template takes them: text content everywhere, earlier tool calls
    written out as `<tool_call>` text (a template without tool support would drop or refuse them)."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):  # OpenAI's content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if message.get("tool_calls") and not content:
            content = tool_calls_text(message["tool_calls"])
        out.append({"role": message.get("role", "user"), "content": str(content or "")})
    return out


def recorded_choices(golden_dir: str | Path) -> list[tuple[str, str]]:
    """(label, prompt id) of each recorded prompt, for the Compare tab's picker: its last user turn."""
    choices = []
    for n, line in enumerate(load_golden(golden_dir), 1):
        text = next((str(m.get("content") or "") for m in reversed(line["messages"]) if m.get("role") == "user"), "")
        choices.append((f"{n}. {' '.join(text.split())[:90]}", line["id"]))
    return choices


def recorded_messages(golden_dir: str | Path, wanted: str) -> list[dict]:
    """The exact messages the old model was asked under prompt id `wanted`."""
    for line in load_golden(golden_dir):
        if line["id"] == wanted:
            return line["messages"]
    raise ServeError("that prompt is not among the old model's recorded answers; pick one from the list.")


def migration_verdict(matched: int, total: int, preferred: int = 0, votes: int = 0) -> str:
    """The migration's answer in one sentence: the checks against the old answers, then the blind votes."""
    if total <= 0:
        return "No held-out prompts were scored yet, so there is no verdict on the migration."
    sentence = f"The open model matches the old fine-tune on {round(100 * matched / total)}% of held-out prompts by the checks ({matched} of {total})"
    if votes:
        sentence += f"; you preferred it in {preferred} of {votes} blind votes"
    return sentence + "."
