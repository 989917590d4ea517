"""CLI commands `deploy` and `keys` (registered on the `finetune-assistant` app).

    finetune-assistant keys create alice                     # prints the key once
    finetune-assistant deploy runs/r1 runs/r2 --split r2=10  # base + two adapters behind the gateway on :8000
    finetune-assistant deploy --print-config k8s runs/r1 --gpus 2 --replicas 3 > deploy.yaml
"""

from __future__ import annotations

import signal
import time
from datetime import datetime

import typer
from pydantic import ValidationError

from tools._cli import BACKEND_HELP, fail
from tools.deploy import configs, keys
from tools.deploy.service import DeployConfig, resolve_run, start_deployment
from tools.serve.server import ServeError

keys_app = typer.Typer(help="API keys for the deployment gateway.", no_args_is_help=True, pretty_exceptions_enable=False)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)  # unwind like Ctrl-C so the request log is drained and the engine stopped


def deploy_cmd(
    runs: list[str] = typer.Argument(None, help="Run folders (or NAME=FOLDER); each is served under its name."),
    base: str = typer.Option(None, help="Base model (default: the runs' plan.yaml base_model)."),
    host: str = typer.Option("127.0.0.1", help="Interface for the gateway (it checks API keys; the engine stays on loopback)."),
    port: int = typer.Option(8000, help="Gateway port."),
    backend: str = typer.Option("auto", help=BACKEND_HELP),
    split: str = typer.Option(None, help="Canary routing: CANARY=PCT (of the first run's traffic) or CONTROL:CANARY=PCT, comma-separated."),
    no_redact: bool = typer.Option(False, "--no-redact", help="Log prompts and answers without PII redaction."),
    rate_limit: float = typer.Option(600.0, help="Requests per minute per key (a key's own limit wins)."),
    reask_share: float = typer.Option(0.0, help="Share of requests asked again in the background (hallucination signal), 0-1."),
    print_config: str = typer.Option(None, "--print-config", help="Print a compose or k8s config for GPU servers instead of serving."),
    gpus: int = typer.Option(1, help="With --print-config: GPUs per engine replica (tensor parallel size)."),
    replicas: int = typer.Option(2, help="With --print-config: engine replicas behind the load balancer."),
    engine_url: str = typer.Option(None, help="Run only the gateway, in front of an OpenAI-compatible engine at this URL."),
    bias_probes: bool = typer.Option(True, "--bias-probes/--no-bias-probes", help="Run the bias probe set on each tuned model without a stored report, in the background (see `monitor`)."),
    bias_probe_file: str = typer.Option(None, help="Your own probe set YAML (same shape as tools/monitor/probes/counterfactual.yaml)."),
) -> None:
    """Serve a base model and tuned adapters behind an OpenAI-compatible gateway with keys and a request log."""
    if not runs and not base and not engine_url:
        fail("give at least one run folder (or --base to serve the base model alone, or --engine-url)")
    if print_config:
        return _print_config(print_config, runs or [], base, gpus, replicas, port)
    if no_redact:
        typer.echo("warning: --no-redact: prompts and answers are logged as sent, personal data included.", err=True)
    try:
        config = DeployConfig(runs=runs or [], base=base, host=host, port=port, backend=backend, split=split,
                              redact=not no_redact, rate_per_min=rate_limit, reask_share=reask_share,
                              engine_url=engine_url, bias_probes=bias_probes, bias_probe_file=bias_probe_file)  # fmt: skip
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}")
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    deployment = None
    try:
        try:
            deployment = start_deployment(config)
        except (ServeError, FileNotFoundError, ValueError, OSError, RuntimeError) as exc:
            fail(str(exc))
        if deployment.engine.fallback_reason:
            typer.echo(f"note: {deployment.engine.fallback_reason}", err=True)
        names = ", ".join(deployment.engine.models())
        typer.echo(f"Deployment {deployment.id}: {names} with {deployment.engine.kind} at {deployment.url}/v1 "
                   "(keys: `finetune-assistant keys create NAME`; Ctrl-C stops)")  # fmt: skip
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if deployment is not None:
            deployment.stop()


def _print_config(kind: str, runs: list[str], base: str | None, gpus: int, replicas: int, port: int) -> None:
    try:
        infos = [resolve_run(r) for r in runs]
        spec = configs.ClusterSpec.from_runs(infos, base=base, gpus=gpus, replicas=replicas, gateway_port=port)
        typer.echo(configs.render(kind, spec), nl=False)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., help="Who the key is for (shown in the request log)."),
    rate: float = typer.Option(None, help="This key's requests per minute (default: the gateway's --rate-limit)."),
) -> None:
    """Create a key and print it once; only its hash is stored."""
    try:
        key = keys.create_key(name, rate)
    except keys.KeyProblem as exc:
        fail(str(exc))
    typer.echo(key)
    typer.echo(f"Key for '{name}' created. Copy it now: it is not stored and cannot be shown again.", err=True)


@keys_app.command("list")
def keys_list() -> None:
    """Keys by name (never the keys themselves)."""
    for row in keys.list_keys():
        created = datetime.fromtimestamp(row["created_at"]).strftime("%Y-%m-%d %H:%M")
        state = "revoked" if row["revoked_at"] else "active"
        rate = f"{row['rate_per_min']:g}/min" if row["rate_per_min"] else "default rate"
        typer.echo(f"{row['name']}\tfa-{row['key_id']}-…\t{state}\t{rate}\t{created}")


@keys_app.command("revoke")
def keys_revoke(name: str = typer.Argument(..., help="The key's name or id.")) -> None:
    """Revoke a key; a running gateway refuses it within two seconds."""
    try:
        count = keys.revoke_key(name)
    except keys.KeyProblem as exc:
        fail(str(exc))
    typer.echo(f"revoked {count} key(s) named '{name}'")


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy_cmd)
    app.add_typer(keys_app, name="keys")
