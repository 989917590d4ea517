"""The conversation as a LangGraph graph: interview -> recommend (-> measure this machine's speed, once) -> plan
-> approval -> prepare -> train
-> (later, on `advance`) monitor -> evaluate -> compare -> verdict (-> the next round: train, or approval).

The approval node calls `interrupt()`: the graph stops there, the checkpointer saves it, and the user's
next message resumes it as the answer (approve, reject, an edit in words, or new information). Nothing
after that node can run without an approval, and only the nodes after it call tools that act.

Graph state holds plain JSON (dicts), so checkpoints load in any later version of the app; the waiting
proposal is `PlanProposal.model_dump(mode="json")` and each node rebuilds it with `model_validate`. The
nodes act through `Actions`' typed methods (prepare the data, estimate, submit the `Plan`), never by name.
The graph prepares the data itself (so the chat reports the data step), then submits the `Plan` with the
prepared folder as its data and no source left to prepare.
"""

from __future__ import annotations

import operator
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from langgraph.constants import END, START  # two strings; the rest of LangGraph loads with the graph

import prompts
from assistant import interview, speed
from assistant.actions import Actions, ToolError
from assistant.interview import known_facts, next_questions
from assistant.llm import Brain
from assistant.migrate import note_golden, with_golden
from assistant.next_round import NextRound, begin_round, prepared_already, wants_feedback_round
from assistant.paths_in_text import DATA_FILE
from assistant.peek import peek
from assistant.pipeline import Pipeline
from assistant.plan import PlanProposal, apply_edit, attach_source, build_proposal, plan_card, problems_here
from assistant.recommend import Recommendation, recommend
from assistant.rounds import Loop
from assistant.state import ConversationState, apply_update
from tools import paths
from tools.train import throughput
from tools.train.plan import PlanError, TrainingPlan, check_runnable
from tools.train.run_dir import RunDir

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.types import Command

_APPROVE = re.compile(r"^\W*(yes|y|yep|yeah|ok|okay|approved?|go|go ahead|start|start it|run it|do it|"
                      r"looks good|lgtm|sounds good|ship it|let'?s go|proceed|confirm(ed)?)\b", re.I)
_REJECT = re.compile(r"^\W*(no|n|nope|reject(ed)?|cancel|stop|abort|don'?t|do not)\b", re.I)
# Declining an optional round offered after a met one ("keep round 1", "no thanks", "that's fine").
_KEEP = re.compile(r"^\W*(keep(?! going)|no|n|nope|reject(ed)?|cancel|stop|don'?t|do not|that'?s (fine|enough|good)|"
                   r"(it'?s )?good enough|done|skip( it)?)\b", re.I)


class GraphState(TypedDict, total=False):
    input: str
    files: list[str]
    event: str  # "message" or "advance"
    conv: dict
    recommendation: dict | None
    proposal: dict | None
    phase: str  # interview | review | approved | need_data | training | done | failed
    messages: Annotated[list[dict], operator.add]
    tools_called: Annotated[list[dict], operator.add]
    dataset: dict | None
    run_id: str | None
    results: dict | None
    loop: dict | None  # the goal's rounds (assistant.rounds.Loop): set when a run starts
    probe: dict | None  # a draft TrainingPlan to time on this machine before the plan is shown (assistant.speed)
    probed: list[str]  # throughput keys timed (or tried) in this conversation: a failed probe is not retried


def _say(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _said(brain: Brain, text: str) -> dict:
    # "phrased": the LLM wrote it, token by token, so a streaming UI has shown it already. The rules' draft
    # (no model, a model that failed or was set aside) was never streamed and must be shown.
    return {**_say(text), "phrased": True} if brain.uses_llm and brain.phrased_last else _say(text)


def _said_and_notices(brain: Brain, text: str) -> list[dict]:
    """The reply, then what the user must hear about it now (the model failed while wording it)."""
    return [_said(brain, text)] + [_say(n) for n in brain.take_notices()]


def _user(text: str, files: list[str] | None = None) -> dict:
    # Attached files show by their own name, as the chat box showed them, never as the stored path.
    return {"role": "user", "content": text + "".join(f"\n\n📎 `{Path(f).name}`" for f in files or [])}


def _answer(resume: Any) -> tuple[str, list[str]]:
    """(text, files) of the user's answer to a waiting plan (a bare string from older checkpoints)."""
    if isinstance(resume, dict):
        return str(resume.get("text") or "").strip(), [str(f) for f in resume.get("files") or []]
    return str(resume or "").strip(), []


def _go(goto: str, update: dict) -> Command:
    """A node's update plus the next node. LangGraph is imported here, not at module top, so `import
    assistant` (and every CLI `--help`) stays fast; by the time a node runs, the graph has loaded it."""
    from langgraph.types import Command

    return Command(goto=goto, update=update)


def _proposal(state: GraphState) -> PlanProposal:
    return PlanProposal.model_validate(state["proposal"])


def _conv(state: GraphState) -> ConversationState:
    return ConversationState(**(state.get("conv") or {}))


class Nodes:
    """The graph's nodes before and at the approval gate, bound to a brain (reads, words) and actions (acts).

    Each method is one node; a node returns a state update, or a `Command` when it also picks the next node.
    """

    def __init__(self, brain: Brain, actions: Actions, confine_paths: bool = False):
        self.brain = brain
        self.actions = actions
        self.confine_paths = confine_paths

    # -------------------------------------------------------------- interview

    def understand(self, state: GraphState) -> dict:
        conv = _conv(state)
        text = state.get("input", "")
        update, quotes = self.brain.read(conv, text)
        conv = apply_update(conv, update, quotes, text)
        said_layout = update.data_layout
        notes = self.brain.take_notices()
        for path in state.get("files") or []:
            # The attached file is read after the words: what it holds wins over how it was described.
            found, file_quotes = peek(path)
            conv = apply_update(conv, found, file_quotes, path)
            if said_layout and found.data_layout and found.data_layout != said_layout:
                conv.unclear = [u for u in conv.unclear if not u.startswith("data_layout:")]
                notes.append(f"Your words sounded like {said_layout.replace('_', ' ')} data, but {Path(path).name} "
                             f"holds {found.data_layout.replace('_', ' ')} rows: I go by the file.")
        if update.skip:
            conv = interview.mark_skipped(conv)
        files = state.get("files") or []
        conv = note_golden(conv, text, files, self.confine_paths)  # [migrate] the old model's recorded answers
        return {"conv": conv.model_dump(mode="json"),
                "messages": ([_user(text, files)] if text or files else []) + [_say(n) for n in notes]}

    def after_understand(self, state: GraphState) -> str:
        return "ask" if next_questions(_conv(state)) else "recommend"

    def ask(self, state: GraphState) -> dict:
        conv = _conv(state)
        questions = next_questions(conv)
        draft = prompts.render("questions", understood=known_facts(conv) if len(conv.asked) < 2 else [],
                               questions=[q.text for q in questions])
        conv = interview.mark_asked(conv, questions)
        reply = self.brain.phrase(draft, "ask the next interview questions", conv)
        return {"conv": conv.model_dump(mode="json"), "messages": _said_and_notices(self.brain, reply),
                "phase": "interview"}

    def recommend(self, state: GraphState) -> dict:
        conv = _conv(state)
        rec = recommend(conv)
        wanted = speed.probe_wanted(rec, conv)
        if wanted is not None and throughput.key(wanted) not in (state.get("probed") or []):
            return {"probe": wanted.model_dump(mode="json"), "messages": [_say(
                f"One moment: I'm timing a few training steps of {rec.base_model} ({rec.method}) on the first rows of "
                "your file, so the plan's time is measured on this machine rather than guessed. It takes about a "
                "minute, once per model and method.")]}  # fmt: skip
        draft = prompts.render("recommendation", rec=rec.model_dump(mode="json"))
        purpose = "introduce the recommendation" if rec.trains else "explain why not to fine-tune"
        update: dict[str, Any] = {"recommendation": rec.model_dump(mode="json"), "probe": None,
                                  "messages": _said_and_notices(self.brain, self.brain.phrase(draft, purpose, conv))}
        if not rec.trains:
            update.update(proposal=None, phase="interview")
        return update

    def after_recommend(self, state: GraphState) -> str:
        if state.get("probe"):
            return "measure"
        return "propose" if (state.get("recommendation") or {}).get("objective") not in (None, "none") else END

    def measure(self, state: GraphState) -> Command:
        """Time the draft plan on this machine (`assistant.speed`), then recommend again with that speed."""
        training = TrainingPlan.model_validate(state["probe"])
        key = throughput.key(training)
        called = _called("measure_speed", model=training.base_model, method=training.method)
        try:
            found, error = speed.measure(training, _conv(state).data.location or ""), ""
        except speed.ProbeError as exc:
            found, error = None, str(exc)
        except Exception as exc:  # a probe is advice: the plan still comes, timed by the FLOPs guess
            found, error = None, f"an unexpected {type(exc).__name__}"
        if found:
            note = (f"Timed: this machine trains about {1 / found['sec_per_token']:,.0f} tokens a second with this "
                    "setup; the plan's time below is sized from that.")
        else:
            note = f"I couldn't time it here ({error}); the plan's time below is a rough guess from the model's size."
        return _go("recommend", update={"probe": None, "probed": [*(state.get("probed") or []), key],
                                        "tools_called": called, "messages": [_say(note)]})

    def propose(self, state: GraphState, config: RunnableConfig) -> dict:
        rec = Recommendation.model_validate(state["recommendation"])
        thread = config.get("configurable", {}).get("thread_id", "")
        try:
            proposal = build_proposal(rec, _conv(state), thread)
        except ValueError as exc:
            return {"phase": "interview", "proposal": None,
                    "messages": [_say(f"I couldn't turn that into a valid plan: {exc}")]}
        golden, note = _conv(state).data.golden_dir, ""
        if golden:  # [migrate] judged against the old fine-tune's answers, with checks derived from them
            proposal, note = with_golden(proposal, golden)
        return {"proposal": proposal.model_dump(mode="json"), "phase": "review", "loop": None,  # a new goal's rounds
                "messages": [_say(plan_card(proposal, rec) + (f"\n\n{note}" if note else ""))]}

    def after_propose(self, state: GraphState) -> str:
        return "approval" if state.get("proposal") else END

    # -------------------------------------------------------------- the gate

    def approval(self, state: GraphState) -> Command:
        """Stop until the user answers the plan: approve, reject, an edit in words, or new information."""
        proposal = _proposal(state)
        rec = Recommendation.model_validate(state["recommendation"])
        from langgraph.types import interrupt

        answer = interrupt({"card": plan_card(proposal, rec), "plan": proposal.plan.model_dump(mode="json")})
        text, files = _answer(answer)
        heard = [_user(text, files)]
        new, changed, problems = apply_edit(proposal, text, _conv(state))
        if files and not problems:  # a file attached to the answer is the plan's data
            try:
                new = attach_source(new, files[0])
                changed.append(f"data file → {new.plan.data_name}")
            except PlanError as exc:
                problems = [str(exc)]
        if problems:
            return _go("approval", update={"messages": heard + [_say(
                f"I can't make that change: {problems[0]} The plan is unchanged; approve it, or change something else.")]})
        if changed:
            return _go("approval", update={"proposal": new.model_dump(mode="json"), "messages": heard + [
                _say(f"Updated: {', '.join(changed)}.\n\n{plan_card(new, rec)}")]})
        loop = Loop.model_validate(state["loop"]) if state.get("loop") else None
        if loop and loop.offer_open() and _KEEP.search(text):
            return self._keep(proposal, loop, heard)
        if _APPROVE.search(text) and not _REJECT.search(text):
            return self._approve(proposal, heard)
        if not files and wants_feedback_round(text, bool(state.get("run_id"))):
            return _go("feedback", update={"input": text, "files": []})
        if _REJECT.search(text):
            return _go(END, update={"messages": heard + [_say(
                "Understood: nothing was run. Tell me what to change (the goal, the data, the hardware), "
                "or ask for a new recommendation.")], "phase": "interview", "proposal": None})
        return _go("understand", update={"input": text, "files": files, "phase": "interview"})

    def _keep(self, proposal: PlanProposal, loop: Loop, heard: list[dict]) -> Command:
        """The offered gentler round declined: the met round stays, with its own plan, and the goal is done."""
        kept = loop.met_round or {}
        try:
            proposal = proposal.model_copy(update={"plan": RunDir(kept["run_dir"]).plan()})
        except (KeyError, OSError, ValueError):
            pass  # its folder is gone: the offered plan stays on record, and nothing runs either way
        return _go(END, update={"proposal": proposal.model_dump(mode="json"), "phase": "done", "messages": heard + [_say(
            f"Kept round {kept.get('round')} (`{kept.get('run_id')}`): it meets the checks. Nothing else runs; try it "
            "in the Compare tab, or deploy it.")]})  # fmt: skip

    def _approve(self, proposal: PlanProposal, heard: list[dict]) -> Command:
        """Approval checks the plan against this machine first; a plan that can't run here is refused."""
        problems = problems_here(proposal.plan)
        if problems:
            checked = proposal.model_copy(update={"problems": problems})
            return _go("approval", update={"proposal": checked.model_dump(mode="json"), "messages": heard + [
                _say("I can't start this plan on this machine: " + " ".join(problems)
                     + "\n\nChange the plan (e.g. \"use lora\"), then approve again.")]})
        return _go("prepare", update={"messages": heard, "phase": "approved"})

    # -------------------------------------------------------------- after approval

    def prepare(self, state: GraphState, config: RunnableConfig) -> Command:
        proposal = _proposal(state)
        plan = proposal.plan
        if prepared_already(state.get("loop"), plan):  # a next round: same data, same locked test split
            return _go("train", update={"messages": [_say("Same prepared data and locked test split as the last round.")]})
        if not plan.source:
            return _go(END, update={"phase": "need_data", "messages": [_say(
                "Approved. To start, attach your data file (or type its path): I'll check and prepare it first.")]})
        user = _user_of(config)
        if self.confine_paths or user is not None:
            # Web users upload; a typed path may only point inside the data dir (a model folder), and the data
            # inside the user's own uploads when the app has logins (M2).
            base = plan.training.base_model
            typed = [(plan.source, paths.uploads_dir(user) if user is not None else None)]
            typed += [(base, None)] if Path(base).expanduser().exists() else []
            try:
                for path, root in typed:
                    paths.inside_home(path, root)
            except PermissionError as exc:
                return _go("approval", update={"messages": [_say(str(exc))]})
        called = _called("prepare_data", source=plan.source, out_dir=plan.training.data_dir)
        try:
            report = self.actions.prepare_data(plan)
        except ToolError as exc:
            return _go("approval", update={"tools_called": called, "messages": [_say(
                f"Preparing the data failed: {exc}\n\nFix the file and say **approve** again, or change the plan.")]})
        # The data went to a folder named by its content and settings (M9): the run trains on that folder.
        prepared = proposal.model_copy(update={"plan": plan.revised(training={"data_dir": report["out_dir"]})})
        return _go("train", update={"tools_called": called, "dataset": report, "proposal": prepared.model_dump(mode="json"),
                                    "messages": [_say(_data_summary(report))]})

    def train(self, state: GraphState, config: RunnableConfig) -> Command:
        # The data is prepared now: the job gets the plan with that folder as its data and nothing to prepare.
        plan = _proposal(state).plan.revised(source=None)
        problems = check_runnable(plan)
        if problems:  # e.g. the prepared data doesn't suit the objective
            return _go("approval", update={"messages": [_say(
                f"The plan doesn't fit the prepared data: {' '.join(problems)}\n\nChange the plan, then approve again.")]})
        # Training runs on this machine: check it fits here, now with the real data's lengths.
        calls = _called("estimate_plan", data_dir=plan.training.data_dir)
        try:
            est = self.actions.estimate_plan(plan.training)
        except ToolError:  # an estimate is advice; its failure must not stop an approved run
            est = None
        if est is not None and est.verdict == "won't fit":
            return _go("approval", update={"tools_called": calls, "messages": [_say(
                f"This plan won't fit this machine's memory ({est.peak_memory_gb} GB needed, "
                f"{est.available_gb} GB available). {est.suggestion or ''} "
                "Change the plan (e.g. \"batch size 1\"), then approve again.")]})
        calls += _called("launch_training", data_dir=plan.training.data_dir)
        try:
            run_id = self.actions.launch_training(plan, owner=_user_of(config))
        except ToolError as exc:
            return _go("approval", update={"tools_called": calls, "messages": [_say(
                f"Training could not start: {exc}\n\nChange the plan, or say **approve** to try again.")]})
        return _go(END, update={"tools_called": calls, "run_id": run_id, "phase": "training",
                                "loop": begin_round(state.get("loop"), _proposal(state).plan, est),
                                         "messages": [_say(f"Training started (run `{run_id}`). Ask me \"how is it "
                                                           "going?\" any time; I'll read the loss curve for you.")]})

    def attach(self, state: GraphState) -> Command:
        """After an approval without data: take the file the user now attaches or names."""
        text = state.get("input", "")
        files = state.get("files") or []
        found = files + [m.group(1) for m in DATA_FILE.finditer(text)]
        heard = [_user(text, files)] if text or files else []
        if not found:
            return _go(END, update={"messages": heard + [_say(
                "I still need the data file: attach it or type its path.")]})
        proposal = attach_source(_proposal(state), found[0])
        return _go("prepare", update={"proposal": proposal.model_dump(mode="json"),
                                               "messages": heard, "phase": "approved"})


def _user_of(config: RunnableConfig) -> str | None:
    """The logged-in user this turn acts for (the web app with logins); None for a single user."""
    return (config or {}).get("configurable", {}).get("user")


def _called(tool: str, **args: Any) -> list[dict]:
    """The thread's record of one action (its `tools_called`)."""
    return [{"tool": tool, "args": args}]


def build_graph(brain: Brain, actions: Actions, checkpointer: Any, confine_paths: bool = False) -> Any:
    """Compile the graph with its nodes bound to `brain` and `actions`.

    `confine_paths`: data files must lie inside the app's data dir (the web UI: users upload, and a
    path typed into the chat is never opened outside it).
    """
    from langgraph.graph import StateGraph

    nodes = Nodes(brain, actions, confine_paths)
    pipeline = Pipeline(actions)
    rounds = NextRound(actions)
    graph = StateGraph(GraphState)
    for name in ("understand", "ask", "recommend", "measure", "propose", "approval", "prepare", "train", "attach"):
        graph.add_node(name, getattr(nodes, name))
    for name in ("monitor", "evaluate", "compare"):
        graph.add_node(name, getattr(pipeline, name))
    for name in ("verdict", "feedback"):
        graph.add_node(name, getattr(rounds, name))
    graph.add_conditional_edges(START, _entry, ["understand", "attach", "monitor", "feedback"])
    graph.add_conditional_edges("understand", nodes.after_understand, ["ask", "recommend"])
    graph.add_edge("ask", END)
    graph.add_conditional_edges("recommend", nodes.after_recommend, ["measure", "propose", END])
    graph.add_conditional_edges("propose", nodes.after_propose, ["approval", END])
    return graph.compile(checkpointer=checkpointer)


def _entry(state: GraphState) -> str:
    phase = state.get("phase") or "interview"
    if state.get("event") == "advance" or phase == "training":
        return "monitor"
    if phase == "need_data":
        return "attach"
    if not state.get("files") and wants_feedback_round(state.get("input") or "", bool(state.get("run_id"))):
        return "feedback"
    return "understand"


def _data_summary(report: dict) -> str:
    rows, usable = report.get("rows"), report.get("usable_rows") or report.get("valid_rows")
    parts = [f"Data ready: {usable} of {rows} rows usable as `{report.get('dataset_type')}` "
             f"({report.get('train_rows')} train / {report.get('validation_rows')} validation)."]
    dupes = (report.get("exact_duplicates") or 0) + (report.get("near_duplicates") or 0)
    if dupes:
        parts.append(f"{dupes} duplicate rows removed.")
    pii = {k: v for k, v in (report.get("pii") or {}).items() if v}
    if pii:
        parts.append("Redacted: " + ", ".join(f"{v} {k}" for k, v in pii.items()) + ".")
    errors = report.get("error_count") or len(report.get("errors") or [])
    if errors:
        parts.append(f"{errors} rows had problems and were left out (see the data report).")
    return " ".join(parts)
