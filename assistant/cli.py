"""`finetune-assistant chat`: the assistant in a terminal, or fed one message per line from a pipe.

    finetune-assistant chat
    printf 'support bot from 2000 chat logs\\nCPU only\\n' | finetune-assistant chat --json

With stdin not a terminal, each line is one user message and each reply is printed; at the end of input
the assistant gives its best recommendation from what it has, and `--json` prints as the last line
`{"state", "recommendation", "plan", "tools_called"}`. Nothing is trained unless a line approves the plan.
"""

from __future__ import annotations

import json
import sys
import uuid

import typer

from assistant.agent import Assistant
from tools._cli import fail


def chat_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the final state as one JSON object (last line)."),
    thread: str = typer.Option(None, help="Conversation id to continue (default: a new conversation)."),
    rules_only: bool = typer.Option(False, "--rules", help="Ignore FINETUNE_ASSISTANT_LLM_* and use the built-in interviewer."),
) -> None:
    """Talk to the assistant: describe your goal, get a recommendation and a plan, approve it to train."""
    thread_id = thread or f"cli-{uuid.uuid4().hex[:8]}"
    try:
        bot = Assistant(llm=None if rules_only else "auto")
    except Exception as exc:  # e.g. an unreadable conversations.db
        fail(f"could not start the assistant: {exc}")
    try:
        turn = _interactive(bot, thread_id) if sys.stdin.isatty() else _piped(bot, thread_id)
    except Exception as exc:
        fail(f"{type(exc).__name__}: {exc}")
    finally:
        bot.close()
    if as_json and turn is not None:
        typer.echo(json.dumps({"state": turn.state, "recommendation": turn.recommendation, "plan": turn.plan,
                               "tools_called": turn.tools_called}))


def _piped(bot, thread_id: str):
    turn = None
    for line in sys.stdin:
        text = line.strip()
        if not text:
            continue
        turn = bot.send(thread_id, text)
        typer.echo(turn.reply)
    # End of input: recommend from what we have, unless a plan is already on the table or past it.
    if turn is None or (not turn.awaiting_approval and turn.phase == "interview" and not turn.recommendation):
        turn = bot.recommend_now(thread_id)
        typer.echo(turn.reply)
    return turn


def _interactive(bot, thread_id: str):
    typer.echo("Describe what you want the model to do (Ctrl-D or 'quit' to leave).")
    turn = None
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            break
        if text.lower() in {"quit", "exit"}:
            break
        if not text:
            continue
        turn = bot.advance(thread_id) if text.lower() in {"status", "progress"} else bot.send(thread_id, text)
        typer.echo(f"\n{turn.reply}\n")
    return turn
