"""The chat's side of the goal loop: the verdict after each run, and the next round, with reasons.

The round step itself is `assistant.rounds` (the same one `finetune-assistant auto` takes); these are the
graph's nodes around it:

    verdict   after `compare`: the run scored on its success checks (the job evaluated it on the locked test
              split), recorded as a round linked to its parent run, said in words. Met: the loop ends. Not
              met: the diagnosis and the next round's plan with reasons, which starts at once when the user
              approved "keep going until met, at most N rounds or M minutes" and there is room left, and is
              otherwise proposed at the approval gate like any plan.
    feedback  "train the next round on the feedback": the deployed models' rated traffic (`monitor export`,
              or exported now) becomes the data of a next-round plan, proposed at the same gate.

`begin_round` is what the `train` node keeps about the loop when it starts a run; `prepared_already`
lets the `prepare` node skip preparing data a previous round of the loop prepared (same file, same
settings, so the same locked test split).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.constants import END  # a string; LangGraph itself loads with the graph

from assistant.actions import Actions, ToolError
from assistant.narrate import next_round_text, rounds_table, verdict_text
from assistant.peek import peek
from assistant.plan import PlanProposal, build_proposal, plan_card, reestimate
from assistant.recommend import Recommendation, recommend
from assistant.rounds import Loop, assess, new_loop, rounds_side_by_side, step
from assistant.state import ConversationState, apply_update
from tools import paths
from tools.train.estimate import Estimate
from tools.train.plan import Plan
from tools.train.run_dir import RunDir

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.types import Command

_I = re.IGNORECASE
_TRAFFIC = re.compile(r"\b(?:traffic|feedback|ratings?|thumbs(?: up| down)?|rated answers|user votes|monitor export)\b", _I)
_NEXT = re.compile(r"\b(?:next round|another round|train(?:ing)?|retrain|fine-?tune|feed|learn from|use)\b", _I)
_ROUND = re.compile(r"\b(?:next round|another round|retrain|train again)\b", _I)
_DEPLOYED = re.compile(r"\b(?:deploy\w{0,4}|gateway|production|live|monitor\w{0,3}|served)\b", _I)


def _say(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _go(goto: str, update: dict) -> Command:
    from langgraph.types import Command

    return Command(goto=goto, update=update)


def wants_feedback_round(text: str, has_run: bool) -> bool:
    """The user asks for a next round on rated traffic: after a run of this thread, or naming the deployment."""
    text = text[:2000]
    return bool(_TRAFFIC.search(text) and _NEXT.search(text) and (has_run or _DEPLOYED.search(text)))


def data_key(plan: Plan) -> str:
    """What a prepared folder was made from: the file (and its size and time) and the preparing settings."""
    source = Path(plan.source).expanduser() if plan.source else None
    stat = source.stat() if source and source.exists() else None
    seen = [plan.source, stat.st_size if stat else None, stat.st_mtime_ns if stat else None,
            plan.data.model_dump(mode="json"), plan.training.data_dir]  # fmt: skip
    return hashlib.sha256(json.dumps(seen, sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepared_already(loop: dict | None, plan: Plan) -> bool:
    """A round of this loop prepared this very data already (so its locked test split stays as it is)."""
    return bool(
        loop
        and loop.get("data_key") == data_key(plan)
        and (Path(plan.training.data_dir) / "report.json").is_file()
    )


def begin_round(loop: dict | None, plan: Plan, est: Estimate | None) -> dict:
    """The loop once `plan`'s run has started: a new loop for a new goal, else its next round."""
    planned = est.duration_s / 60 if est else 0.0
    current = Loop.model_validate(loop) if loop else new_loop(plan)
    current = current.grant(plan.checks.max_rounds, plan.checks.budget_min)
    return current.begin(planned).model_copy(update={"data_key": data_key(plan)}).model_dump(mode="json")


class NextRound:
    """The verdict and feedback nodes, acting through the graph's typed `Actions`."""

    def __init__(self, actions: Actions):
        self.actions = actions

    def verdict(self, state: dict) -> Command:
        status = (state.get("results") or {}).get("status") or {}
        proposal = PlanProposal.model_validate(state["proposal"])
        plan = proposal.plan
        report = RunDir(status["run_dir"]).eval_report() if status.get("run_dir") else None
        if not plan.checks.checks or not state.get("loop") or not (report or {}).get("checks"):
            return _go(END, {})  # no checks to judge by: the comparison above is the result
        loop = Loop.model_validate(state["loop"])
        outcome = assess(plan, status, report, loop)
        loop, decided = step(loop, plan, outcome)
        text = verdict_text(outcome.model_dump(mode="json"), loop.number, plan.checks.target)
        if loop.number > 1:
            text += "\n\n" + rounds_table(rounds_side_by_side(outcome.run_id))
        update: dict[str, Any] = {"loop": loop.model_dump(mode="json"),
                                  "results": {**state["results"], "round": outcome.model_dump(mode="json")}}  # fmt: skip
        if decided.offer is not None:
            return self._offer(state, proposal, loop, decided, text, update, outcome.met)
        if decided.plan is None:
            said = f"{text}\n\n{_ending(outcome.met, decided.stopped or '')}{_traffic_offer()}"
            phase = "done" if outcome.status == "completed" else "failed"
            return _go(END, {**update, "phase": phase, "messages": [_say(said)]})
        return self._next(state, proposal, loop, decided, text, update)

    def _offer(self, state: dict, proposal: PlanProposal, loop: Loop, decided: Any, text: str, update: dict,
               met: bool) -> Command:  # fmt: skip
        """Met, but general skills were lost: the goal is reached, and a gentler round is offered for approval."""
        new = _revised(proposal, decided.offer, state)
        offer = next_round_text(loop.number + 1, _settings(proposal.plan), _settings(decided.offer), decided.reasons,
                                optional=True)  # fmt: skip
        ask = (f"Approve to train round {loop.number + 1}, or keep round {loop.number} as it is: it meets the "
               "checks. You can also change the plan in words.")  # fmt: skip
        card = plan_card(new, Recommendation.model_validate(state["recommendation"]))
        said = f"{text}\n\n{_ending(met, decided.stopped or '')}\n\n{offer}\n\n{ask}{_traffic_offer()}\n\n{card}"
        update["proposal"] = new.model_dump(mode="json")
        return _go("approval", {**update, "phase": "review", "messages": [_say(said)]})

    def _next(self, state: dict, proposal: PlanProposal, loop: Loop, decided: Any, text: str, update: dict) -> Command:
        """Not met: the next round's plan, started now when "keep going" has room, else proposed for approval."""
        nxt = decided.plan
        new = _revised(proposal, nxt, state)
        said = f"{text}\n\n" + next_round_text(loop.number + 1, _settings(proposal.plan), _settings(nxt), decided.reasons)
        refused = loop.no_room(loop.planned_minutes(nxt.training))
        update["proposal"] = new.model_dump(mode="json")
        if refused is None:
            budget = f" or {loop.budget_min:g} minutes" if loop.budget_min else ""
            note = f"Starting it now: you approved keeping going until met (at most {loop.max_rounds} rounds{budget})."
            return _go("train", {**update, "phase": "approved", "messages": [_say(f"{said}\n\n{note}")]})
        rec = Recommendation.model_validate(state["recommendation"])
        why = f" ({refused[0].upper()}{refused[1:]}.)" if loop.max_rounds > 1 else ""
        ask = (f"Approve to train round {loop.number + 1}, change it in words, or say \"keep going until met, at most "
               f"3 rounds or 30 minutes\" to let me continue on my own.{why}")  # fmt: skip
        card = plan_card(new, rec)
        return _go("approval", {**update, "phase": "review", "messages": [_say(f"{said}\n\n{ask}\n\n{card}")]})

    def feedback(self, state: dict, config: RunnableConfig) -> Command:
        """A next round on the deployed models' rated traffic, through the same plan card and approval."""
        heard = [{"role": "user", "content": state.get("input", "")}]
        since = ((state.get("results") or {}).get("status") or {}).get("created_at")
        found, calls = latest_traffic_export(since), []
        if found is None:
            try:
                found, calls = self.actions.traced(self.actions.export_traffic)
            except ToolError as exc:
                if not state.get("run_id") and not _ROUND.search(heard[0]["content"]):
                    # No traffic and no round to follow: "ratings from our live app" describes new data.
                    return _go("understand", {"input": heard[0]["content"], "files": []})
                return _go(END, {"messages": heard + [_say(_NO_TRAFFIC.format(why=exc))]})
        before = (state.get("proposal") or {}).get("plan")
        conv = _with_traffic(ConversationState(**(state.get("conv") or {})), found["path"], before)
        rec = recommend(conv)
        if not rec.trains:
            why = rec.instead or " ".join(rec.reasons)
            return _go(END, {"conv": conv.model_dump(mode="json"), "messages": heard + [_say(
                f"The rated traffic (`{Path(found['path']).name}`) is not enough for a next round: {why}")]})  # fmt: skip
        proposal = build_proposal(rec, conv, config.get("configurable", {}).get("thread_id", ""))
        kept = ""
        if before and before.get("checks", {}).get("checks"):
            proposal.plan = proposal.plan.model_copy(update={"checks": Plan.model_validate(before).checks})
            kept = " The success checks stay the last round's: the goal has not changed."
        intro = (f"Rated traffic → `{Path(found['path']).name}`: {found.get('rows')} {found.get('kind', '').upper()} "
                 f"rows.{kept} A next round on it, for your approval:")  # fmt: skip
        return _go("approval", {"conv": conv.model_dump(mode="json"), "recommendation": rec.model_dump(mode="json"),
                                "proposal": proposal.model_dump(mode="json"), "phase": "review", "tools_called": calls,
                                "messages": heard + [_say(f"{intro}\n\n{plan_card(proposal, rec)}")]})  # fmt: skip


_NO_TRAFFIC = ("There is no rated traffic to learn from yet ({why}). Deploy the tuned model (`finetune-assistant deploy "
               "RUN_DIR`), let users rate its answers (POST /v1/feedback), then ask again.")  # fmt: skip


def _with_traffic(conv: ConversationState, path: str, before: dict | None) -> ConversationState:
    """The conversation with the traffic export as its data; the last round's base model when there was one."""
    seen, quotes = peek(path)
    conv = apply_update(conv, seen, quotes, path)
    if before:  # the same base model and the same goal: this round follows the last one
        conv.preferences.base_model = before["training"]["base_model"]
        conv.notes["preferences.base_model"] = "the last round's base model"
    return conv


def latest_traffic_export(since: float | None = None) -> dict | None:
    """The newest dataset made from rated traffic (`monitor export` into the data dir, or the assistant's own
    export), when there is one newer than `since`: {"path", "kind", "rows"}."""
    found = [(p.stat().st_mtime, p) for p in paths.datasets_dir().glob("traffic-*.jsonl")]
    found = sorted(f for f in found if since is None or f[0] > since)
    if not found:
        return None
    path = found[-1][1]
    with path.open(encoding="utf-8") as fh:
        rows = sum(1 for line in fh if line.strip())
    kind = path.name.split("-")[1] if path.name.count("-") >= 2 else ""
    return {"path": str(path), "kind": kind, "rows": rows}


def _traffic_offer() -> str:
    found = latest_traffic_export()
    if not found:
        return ""
    return (
        f"\n\nRated traffic from your deployment is ready (`{Path(found['path']).name}`, {found['rows']} rows): "
        'say "train the next round on the feedback" to plan a round on it.'
    )


def _ending(met: bool, stopped: str) -> str:
    if met:
        return 'The goal is met. Try the tuned model in the Compare tab ("Replay test prompts" runs the test split).'
    if stopped == "met on validation":
        return (
            "The checks pass on validation, where the rounds decide, so I stop here; the verdict above is on the "
            "locked test prompts."
        )
    return (
        f"I stopped here: {stopped}. Change the data or the goal and I'll plan again, or compare the rounds "
        "in the Runs tab."
    )


def _revised(proposal: PlanProposal, plan: Plan, state: dict) -> PlanProposal:
    """The proposal for a next or offered round: its plan, the next version, the estimate for it."""
    conv = ConversationState(**(state.get("conv") or {}))
    return proposal.model_copy(update={"plan": plan, "version": proposal.version + 1,
                                       "estimate": reestimate(plan.training, conv)})  # fmt: skip


def _settings(plan: Plan) -> dict[str, Any]:
    t = plan.training
    return {**t.model_dump(), "learning_rate": t.resolved_learning_rate}
