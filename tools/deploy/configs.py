"""Configs that run the same base and adapters on GPU servers: docker compose (one box) or Kubernetes.

    finetune-assistant deploy --print-config compose runs/r1 runs/r2 --gpus 2 --replicas 2 > compose.yaml
    finetune-assistant deploy --print-config k8s runs/r1 --gpus 4 --replicas 3 > deploy.yaml

Engines: vLLM's official image (vllm/vllm-openai) with `--tensor-parallel-size` = GPUs per replica,
`--enable-lora`, `--max-loras` (the number of adapters) and `--max-lora-rank` (the largest adapter rank vLLM
accepts), the adapters mounted read-only, and a readiness probe on /health. `engine` replicas sit behind one
Service (k8s) or one DNS name (compose). Our gateway runs `finetune-assistant deploy --engine-url` in front of
them: keys, canary split, request log. It keeps the log in SQLite, so it is one replica with its own volume;
put several behind the load balancer only with one data volume each (the monitor then reads each).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tools.serve.backends import is_adapter

VLLM_IMAGE = "vllm/vllm-openai:v0.11.0"
ENGINE_PORT = 8000
_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


class ClusterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: str = Field(description="A Hugging Face hub id the servers can download, or a path inside /models.")
    adapters: dict[str, str] = Field(default_factory=dict, description="name -> adapter folder on this machine")
    lora_rank: int = 16
    gpus: int = Field(1, ge=1, le=64)
    replicas: int = Field(2, ge=1, le=100)
    gateway_port: int = Field(8080, ge=1, le=65535)
    gateway_image: str = "finetune-assistant:latest"
    max_model_len: int = Field(4096, ge=128)

    @classmethod
    def from_runs(cls, runs: list, base: str | None = None, **fields) -> ClusterSpec:
        adapters = {r.name: r.output for r in runs if is_adapter(r.output)}
        full = [r.name for r in runs if not is_adapter(r.output)]
        if full:
            raise ValueError(f"{', '.join(full)}: fully fine-tuned models need their own engine; --print-config "
                             "handles one base with LoRA adapters (deploy those runs separately)")  # fmt: skip
        bases = {r.base for r in runs if r.base}
        chosen = base or (bases.pop() if len(bases) == 1 else None)
        if not chosen:
            raise ValueError("pass --base: the runs do not name one base model")
        if Path(chosen).exists():
            chosen = f"/models/{Path(chosen).name}"  # a local folder: the servers see it under the models volume
        ranks = [json.loads((Path(p) / "adapter_config.json").read_text(encoding="utf-8")).get("r", 16) for p in adapters.values()]
        rank = next((r for r in _LORA_RANKS if r >= max(ranks, default=16)), _LORA_RANKS[-1])
        port = fields.pop("gateway_port", 8080) or 8080
        return cls(base=chosen, adapters=adapters, lora_rank=rank, gateway_port=port, **fields)


def engine_args(spec: ClusterSpec) -> list[str]:
    args = ["--model", spec.base, "--served-model-name", "base", "--port", str(ENGINE_PORT),
            "--tensor-parallel-size", str(spec.gpus), "--max-model-len", str(spec.max_model_len)]  # fmt: skip
    if spec.adapters:
        modules = [f"{name}=/adapters/{name}" for name in spec.adapters]
        args += ["--enable-lora", "--max-loras", str(len(spec.adapters)), "--max-lora-rank", str(spec.lora_rank),
                 "--lora-modules", *modules]  # fmt: skip
    return args


def gateway_args(spec: ClusterSpec, engine_url: str) -> list[str]:
    return ["deploy", "--engine-url", engine_url, "--host", "0.0.0.0", "--port", str(spec.gateway_port)]


def compose(spec: ClusterSpec) -> dict:
    engine = {
        "image": VLLM_IMAGE,
        "command": engine_args(spec),
        "ipc": "host",  # tensor parallel workers share memory through /dev/shm
        "volumes": ["./adapters:/adapters:ro", "./models:/models:ro", "hf-cache:/root/.cache/huggingface"],
        "environment": {"HF_TOKEN": "${HF_TOKEN:-}"},
        "healthcheck": {"test": ["CMD", "curl", "-fsS", f"http://localhost:{ENGINE_PORT}/health"],
                        "interval": "10s", "timeout": "5s", "retries": 60, "start_period": "120s"},  # fmt: skip
        "deploy": {"replicas": spec.replicas, "resources": {"reservations": {"devices": [
            {"driver": "nvidia", "count": spec.gpus, "capabilities": ["gpu"]}]}}},  # fmt: skip
        "restart": "unless-stopped",
    }
    gateway = {
        "image": spec.gateway_image,
        "command": ["finetune-assistant", *gateway_args(spec, f"http://engine:{ENGINE_PORT}")],
        "ports": [f"{spec.gateway_port}:{spec.gateway_port}"],
        "volumes": ["gateway-data:/data"],
        "environment": {"FINETUNE_ASSISTANT_HOME": "/data"},
        "depends_on": {"engine": {"condition": "service_healthy"}},
        "healthcheck": {"test": ["CMD", "curl", "-fsS", f"http://localhost:{spec.gateway_port}/health"],
                        "interval": "10s", "timeout": "5s", "retries": 3},  # fmt: skip
        "restart": "unless-stopped",
    }
    return {"name": "finetune-assistant", "services": {"engine": engine, "gateway": gateway},
            "volumes": {"hf-cache": {}, "gateway-data": {}}}  # fmt: skip


def _probe(port: int, path: str = "/health", delay: int = 30) -> dict:
    return {"httpGet": {"path": path, "port": port}, "initialDelaySeconds": delay, "periodSeconds": 10,
            "failureThreshold": 6}  # fmt: skip


def kubernetes(spec: ClusterSpec) -> list[dict]:
    labels_engine, labels_gateway = {"app": "fa-engine"}, {"app": "fa-gateway"}
    engine_container = {
        "name": "vllm", "image": VLLM_IMAGE, "args": engine_args(spec),
        "ports": [{"containerPort": ENGINE_PORT, "name": "http"}],
        "resources": {"limits": {"nvidia.com/gpu": spec.gpus}},
        "readinessProbe": _probe(ENGINE_PORT, delay=60), "livenessProbe": _probe(ENGINE_PORT, delay=300),
        "volumeMounts": [{"name": "adapters", "mountPath": "/adapters", "readOnly": True},
                         {"name": "shm", "mountPath": "/dev/shm"}],
    }  # fmt: skip
    engine = _deployment("fa-engine", labels_engine, spec.replicas, [engine_container], [
        {"name": "adapters", "persistentVolumeClaim": {"claimName": "fa-adapters"}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}])  # fmt: skip
    gateway_container = {
        "name": "gateway", "image": spec.gateway_image,
        "command": ["finetune-assistant"], "args": gateway_args(spec, f"http://fa-engine:{ENGINE_PORT}"),
        "ports": [{"containerPort": spec.gateway_port, "name": "http"}],
        "env": [{"name": "FINETUNE_ASSISTANT_HOME", "value": "/data"}],
        "readinessProbe": _probe(spec.gateway_port, delay=5),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }  # fmt: skip
    # One gateway replica: its request log is SQLite on a ReadWriteOnce volume (see the module docstring).
    gateway = _deployment("fa-gateway", labels_gateway, 1, [gateway_container],
                          [{"name": "data", "persistentVolumeClaim": {"claimName": "fa-gateway-data"}}])  # fmt: skip
    return [
        _pvc("fa-adapters", "ReadOnlyMany", "10Gi"), _pvc("fa-gateway-data", "ReadWriteOnce", "20Gi"), engine,
        _service("fa-engine", labels_engine, ENGINE_PORT, ENGINE_PORT, "ClusterIP"), gateway,
        _service("fa-gateway", labels_gateway, 80, spec.gateway_port, "LoadBalancer"),
    ]  # fmt: skip


def _deployment(name: str, labels: dict, replicas: int, containers: list, volumes: list) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": containers, "volumes": volumes}}}}  # fmt: skip


def _service(name: str, labels: dict, port: int, target: int, kind: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": kind, "selector": labels, "ports": [{"name": "http", "port": port, "targetPort": target}]}}  # fmt: skip


def _pvc(name: str, mode: str, size: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": [mode], "resources": {"requests": {"storage": size}}}}  # fmt: skip


def render(kind: str, spec: ClusterSpec) -> str:
    if kind == "compose":
        return yaml.safe_dump(compose(spec), sort_keys=False)
    if kind == "k8s":
        return yaml.safe_dump_all(kubernetes(spec), sort_keys=False)
    raise ValueError(f"--print-config must be compose or k8s, not '{kind}'")
