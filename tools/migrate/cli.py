"""CLI `migrate`: move off a hosted fine-tune.

    finetune-assistant migrate record --data validation.jsonl --endpoint https://api.openai.com/v1 \
        --model ft:gpt-4o-mini:acme::abc123 --out golden/

`migrate run` (train an open model and judge it against those answers) plans through the assistant's loop,
so it lives in assistant/migrate_cli.py; ui/cli.py adds it to this group.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from tools._cli import fail
from tools.migrate.record import RecordError, record

app = typer.Typer(help="Move off a hosted fine-tune: record the old model's answers, then compare an open model.",
                  no_args_is_help=True)  # fmt: skip


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@app.command("record")
def record_cmd(
    data: Path = typer.Option(..., help="OpenAI fine-tuning JSONL whose prompts to ask (normally your validation file)."),
    endpoint: str = typer.Option(..., help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1."),
    model: str = typer.Option(..., help="The old model's id, e.g. ft:gpt-4o-mini:acme::abc123."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="Environment variable holding the API key (never written)."),
    out: Path = typer.Option(Path("golden"), help="Folder for golden.jsonl and meta.json (resumes when it exists)."),
    concurrency: int = typer.Option(4, min=1, max=64, help="Requests in flight at most."),
    max_tokens: int = typer.Option(512, min=1, help="Most tokens per answer."),
    temperature: float = typer.Option(0.0, min=0.0, max=2.0, help="0: the old model's most likely answer."),
    max_retries: int = typer.Option(5, min=0, help="Retries per prompt on 429, 5xx and dropped connections."),
    as_json: bool = typer.Option(False, "--json", help="Print the tally as one JSON object."),
) -> None:
    """Ask the old model every held-out prompt and keep its answers; a second call resumes without re-asking."""
    signal.signal(signal.SIGTERM, _interrupt)  # a `kill` stops like Ctrl-C: answers in flight are kept
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True, disable=as_json) as bar:  # fmt: skip
        task = bar.add_task("recording", total=None)
        try:
            result = record(data, endpoint, model, out, api_key_env=api_key_env, concurrency=concurrency,
                            max_tokens=max_tokens, temperature=temperature, max_retries=max_retries,
                            progress=lambda done, total: bar.update(task, completed=done, total=total))  # fmt: skip
        except RecordError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail(f"interrupted; answers so far are kept in {out}. Run the same command again to resume.", code=130)
    summary = {"out_dir": result.out_dir, "total": result.total, "asked": result.asked, "skipped": result.skipped,
               "failed": result.failed, "complete": result.complete}  # fmt: skip
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        typer.echo(f"{result.asked} answers recorded, {result.skipped} already there, {len(result.failed)} failed "
                   f"-> {Path(result.out_dir) / 'golden.jsonl'}")  # fmt: skip
        for failure in result.failed[:5]:
            typer.echo(f"  row {failure['row']}: {failure['error']}", err=True)
    if result.failed:
        raise typer.Exit(1)
