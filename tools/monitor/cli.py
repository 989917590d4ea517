"""CLI command group `monitor` (registered on the `finetune-assistant` app).

    finetune-assistant monitor --since 2h            # figures per model, drift, flags, canaries
    finetune-assistant monitor --json                # the same as one JSON object
    finetune-assistant monitor export --out next.jsonl --kind kto
    finetune-assistant monitor bias --model run-a --url http://127.0.0.1:8000 --key fa-...   # stored, shown above
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from tools._cli import fail
from tools.monitor import bias, bias_reports, export, report, traffic

app = typer.Typer(help="Monitor deployed models: traffic, drift, flagged answers, feedback; export rated traffic.",
                  invoke_without_command=True, pretty_exceptions_enable=False)  # fmt: skip

_SINCE = typer.Option(None, "--since", help="Window start: 30m, 2h, 7d, an ISO time or epoch seconds (default: all).")


def _since(text: str | None) -> float | None:
    try:
        return traffic.parse_since(text)
    except ValueError as exc:
        fail(str(exc))


@app.callback()
def monitor_cmd(
    ctx: typer.Context,
    since: str = _SINCE,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    deployment: str = typer.Option(None, help="Only this deployment's traffic (default: all)."),
    train: list[Path] = typer.Option(None, "--train", help="Training JSONL to measure drift against (default: the deployed runs')."),
) -> None:
    """Traffic, latency, feedback, drift and flagged answers of deployed models, from the gateway's log."""
    if ctx.invoked_subcommand:
        return
    found = report.build_report(_since(since), deployment, [str(p) for p in train] if train else None, timeline=as_json)
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False))
        return
    typer.echo(render(found))


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def render(found: dict) -> str:
    lines = [f"requests {found['requests']}  errors {found['errors']}  p50 {_ms(found['p50_ms'])}  p95 {_ms(found['p95_ms'])}"
             f"  tokens/s {found['tokens_per_s'] or '-'}  feedback +{found['feedback']['up']} -{found['feedback']['down']}"]  # fmt: skip
    for name, f in found["by_model"].items():
        lines.append(f"  {name:<20} {f['requests']:>6} req  {f['errors']:>4} err  p50 {_ms(f['p50_ms']):>8}  "
                     f"p95 {_ms(f['p95_ms']):>8}  +{f['up']} -{f['down']}")  # fmt: skip
    d = found["drift"]
    if d["score"] is None:
        lines.append(f"drift: - ({d.get('note')})")
    else:
        lines.append(f"drift: {d['score']:.3f} (mean distance to the nearest training prompt), length KS {d['length_ks']:.3f}")
        lines += [f"  far: {x['similarity']:.2f}  {x['prompt'][:90]!r}" for x in d["farthest"]]
    counts = found["flags"]["counts"]
    lines.append("flagged: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    for c in found["canaries"]:
        diff = c["up_rate_diff"]
        ci = "-" if diff["diff"] is None else f"{diff['diff']:+.2f} [{diff['low']:+.2f}, {diff['high']:+.2f}]"
        lines.append(f"canary {c['canary']['model']} vs {c['control']['model']}: up-rate difference {ci}")
    h = found["hallucination"]
    lines.append(f"hallucination signals: {len(h['contradictions'])} contradictions of training answers, "
                 f"{len(h['reask']['disagreements'])}/{h['reask']['checked']} re-asks disagree")  # fmt: skip
    for b in found.get("bias", []):
        lines.append(f"bias probes on {b['model']} ({b['trigger']}, {b['requests']} probes): " + "; ".join(
            f"{dim} gaps refusal {d['gaps']['refusal_rate']:.2f}, length {d['gaps']['length_words']:.1f} words, "
            f"sentiment {d['gaps']['sentiment']:+.3f}" for dim, d in b["dimensions"].items()))  # fmt: skip
    return "\n".join(lines)


@app.command("export")
def export_cmd(
    out: Path = typer.Option(..., "--out", help="The JSONL file to write."),
    kind: str = typer.Option("kto", "--kind", help="kto (thumbs as labels), dpo (up vs down pairs) or sft (corrections)."),
    since: str = _SINCE,
) -> None:
    """Turn rated traffic into a dataset for the next round (`data inspect` / `data prepare` read it)."""
    try:
        result = export.export(out, kind, _since(since))
    except (ValueError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"wrote {result['rows']} {kind} rows to {result['path']} (from {result['rated']} rated answers); "
               f"next: finetune-assistant data inspect {result['path']}")  # fmt: skip


@app.command("bias")
def bias_cmd(
    model: str = typer.Option(..., "--model", help="The served name to probe (base or an adapter)."),
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="The gateway (or any OpenAI-compatible URL)."),
    key: str = typer.Option(None, "--key", help="API key (default: $FINETUNE_ASSISTANT_KEY)."),
    max_tokens: int = typer.Option(64, "--max-tokens", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run the counterfactual probe set (names, genders, nationalities swapped) and report the gaps."""
    try:
        found = bias.run_probes(url, model, key or os.environ.get("FINETUNE_ASSISTANT_KEY"), max_tokens=max_tokens)
    except (ValueError, OSError, RuntimeError) as exc:
        fail(str(exc))
    bias_reports.save(found, "on_demand", source=url)  # the monitor shows the latest report of each model
    typer.echo(json.dumps(found, ensure_ascii=False) if as_json else bias.render(found))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="monitor")
