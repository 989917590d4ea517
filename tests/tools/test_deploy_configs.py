"""`deploy --print-config compose|k8s`: the structure of each format checked field by field.

No schema package for docker compose or Kubernetes is installed (nor reachable offline), so these are the
required-field and cross-reference checks of the two specs that a typo would break: compose's top-level keys,
service image/command/ports/healthcheck/GPU reservation and declared volumes; Kubernetes' apiVersion/kind/
metadata.name, Deployment selector vs template labels, container name/image, probe ports vs container ports,
volume mounts vs volumes vs PersistentVolumeClaims, and Service selectors vs Deployment labels.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from typer.testing import CliRunner

from ui.cli import app as root_app

_COMPOSE_TOP = {"version", "name", "services", "networks", "volumes", "configs", "secrets"}
_PORT = re.compile(r"^\d{1,5}:\d{1,5}$")


@pytest.fixture
def runs(tmp_path):
    """Two run folders holding adapter configs (the printer reads names, ranks and the base, not weights)."""
    out = []
    for name, rank in (("support-v1", 8), ("support-v2", 32)):
        adapter = tmp_path / name / "adapter"
        adapter.mkdir(parents=True)
        (adapter / "adapter_config.json").write_text(json.dumps(
            {"peft_type": "LORA", "r": rank, "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"}))
        out.append(tmp_path / name)
    return out


def _print(kind, runs, *extra):
    result = CliRunner().invoke(root_app, ["deploy", "--print-config", kind, *map(str, runs), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_compose_config_has_the_required_structure(runs):
    doc = yaml.safe_load(_print("compose", runs, "--gpus", "4", "--replicas", "3"))
    assert set(doc) <= _COMPOSE_TOP and doc["services"]
    declared = set(doc.get("volumes", {}))
    for name, service in doc["services"].items():
        assert isinstance(service["image"], str) and service["image"], name
        assert all(isinstance(a, str) for a in service["command"]), name
        assert all(_PORT.match(p) for p in service.get("ports", [])), name
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL", "NONE"), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith((".", "/")) or source in declared, f"{name}: volume {source} is not declared"
        for dep, cond in service.get("depends_on", {}).items():
            assert dep in doc["services"] and cond["condition"] in ("service_started", "service_healthy",
                                                                    "service_completed_successfully")  # fmt: skip
    engine = doc["services"]["engine"]
    assert engine["image"].startswith("vllm/vllm-openai:")
    args = engine["command"]
    assert _arg(args, "--tensor-parallel-size") == "4" and "--enable-lora" in args
    assert _arg(args, "--max-loras") == "2" and _arg(args, "--max-lora-rank") == "32"
    assert _arg(args, "--model") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "support-v1=/adapters/support-v1" in args and "support-v2=/adapters/support-v2" in args
    (gpu,) = engine["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["count"] == 4 and "gpu" in gpu["capabilities"] and engine["deploy"]["replicas"] == 3
    assert "/health" in " ".join(engine["healthcheck"]["test"])
    gateway = doc["services"]["gateway"]
    assert _arg(gateway["command"], "--engine-url") == "http://engine:8000"


def test_k8s_config_has_the_required_structure(runs):
    docs = list(yaml.safe_load_all(_print("k8s", runs, "--gpus", "2", "--replicas", "3", "--port", "8080")))
    for doc in docs:
        assert doc["apiVersion"] and doc["kind"] and re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", doc["metadata"]["name"])
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    claims = set(by_kind["PersistentVolumeClaim"])
    for name, dep in by_kind["Deployment"].items():
        assert dep["apiVersion"] == "apps/v1"
        spec = dep["spec"]
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items(), name
        volumes = {v["name"]: v for v in spec["template"]["spec"].get("volumes", [])}
        for v in volumes.values():
            if "persistentVolumeClaim" in v:
                assert v["persistentVolumeClaim"]["claimName"] in claims
        for c in spec["template"]["spec"]["containers"]:
            assert c["name"] and c["image"]
            ports = {p["containerPort"] for p in c["ports"]}
            assert c["readinessProbe"]["httpGet"]["path"] == "/health" and c["readinessProbe"]["httpGet"]["port"] in ports
            assert {m["name"] for m in c.get("volumeMounts", [])} <= set(volumes)
    for name, svc in by_kind["Service"].items():
        targets = [d for d in by_kind["Deployment"].values() if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert targets, f"service {name} selects no deployment"
        ports = {p["containerPort"] for c in targets[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert all(p["targetPort"] in ports for p in svc["spec"]["ports"])
    engine = by_kind["Deployment"]["fa-engine"]
    (vllm,) = engine["spec"]["template"]["spec"]["containers"]
    assert engine["spec"]["replicas"] == 3 and vllm["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert _arg(vllm["args"], "--tensor-parallel-size") == "2" and _arg(vllm["args"], "--max-loras") == "2"
    assert by_kind["Service"]["fa-gateway"]["spec"]["type"] == "LoadBalancer"


def test_print_config_refuses_what_it_cannot_describe(runs, tmp_path):
    out = CliRunner().invoke(root_app, ["deploy", "--print-config", "helm", str(runs[0])])
    assert out.exit_code == 2 and "compose or k8s" in out.output
    full = tmp_path / "full" / "model"
    full.mkdir(parents=True)
    (full / "config.json").write_text("{}")
    out = CliRunner().invoke(root_app, ["deploy", "--print-config", "k8s", str(tmp_path / "full"), "--base", "x/y"])
    assert out.exit_code == 2 and "own engine" in out.output
