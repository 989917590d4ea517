"""A scripted chat model for the LLM brain: replies and structured outputs come from a queue."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult


class ScriptedChatModel(BaseChatModel):
    """Answers from `script` in order: a dict becomes a tool call (structured output), a str a reply,
    an Exception is raised. Every prompt it receives is kept in `seen`."""

    script: list[Any] = []
    seen: list[list[Any]] = []
    bound: list[str] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        from langchain_core.utils.function_calling import convert_to_openai_tool

        self.bound = [convert_to_openai_tool(t)["function"]["name"] for t in tools]
        return self

    def _generate(self, messages: list, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.seen.append(messages)
        if not self.script:
            raise RuntimeError("the scripted model ran out of answers")
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        if isinstance(item, dict):
            call = {"name": self.bound[0], "args": item, "id": f"call_{len(self.seen)}", "type": "tool_call"}
            message = AIMessage(content="", tool_calls=[call])
        else:
            message = AIMessage(content=str(item))
        return ChatResult(generations=[ChatGeneration(message=message)])


@pytest.fixture
def scripted_model():
    return ScriptedChatModel(script=[], seen=[], bound=[])
