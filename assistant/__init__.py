"""The assistant: interview, recommend a technique with reasons, propose a plan, wait for approval, drive the tools.

    from assistant import Assistant
    bot = Assistant()
    turn = bot.send("thread-1", "I want a support bot from our chat logs; CPU only")

Importing this package is cheap: no torch, transformers, TRL or vLLM (those load inside the steps that train,
serve or evaluate).
"""

from assistant.agent import Assistant, Turn
from assistant.recommend import Recommendation, recommend
from assistant.state import ConversationState

__all__ = ["Assistant", "ConversationState", "Recommendation", "Turn", "recommend"]
