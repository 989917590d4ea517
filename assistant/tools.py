"""The project's typed functions as LangChain tools: the face an LLM brain sees, with no logic of its own.

    tools = default_tools()             # StructuredTools; schemas come from the functions' signatures
    llm.bind_tools(tools)

The graph never calls these: its nodes call `assistant.actions.Actions` (typed methods) directly. Each
tool here is `StructuredTool.from_function` over the function in `tools/`, so its argument schema is the
function's own signature (a `Plan` or `DataSpec` argument is that model's schema), never a copy.
"""

from __future__ import annotations

from typing import Any

from assistant.actions import ToolError
from tools.data import inspect_data, prepare_data
from tools.evaluate.heldout import evaluate
from tools.train.estimate import estimate
from tools.train.jobs import status, submit

__all__ = ["ACTING", "ToolError", "default_tools"]

_FUNCTIONS: dict[str, Any] = {
    "inspect_data": inspect_data,
    "prepare_data": prepare_data,
    "estimate_plan": estimate,
    "launch_training": submit,
    "training_status": status,
    "evaluate_run": evaluate,
}
# Tools that change something (write data, start processes). The graph's approval node is what keeps
# them from running before the user approves; an LLM brain must be given them only after it.
ACTING = frozenset({"prepare_data", "launch_training", "evaluate_run"})


def default_tools() -> list:
    """One StructuredTool per function, named for the agent, described by the function's docstring."""
    from langchain_core.tools import StructuredTool  # only an LLM brain needs LangChain's tool layer

    return [StructuredTool.from_function(func=fn, name=name, description=(fn.__doc__ or name).strip())
            for name, fn in _FUNCTIONS.items()]
