"""The accelerate config of a multi-process run, written into the run folder so the run can be repeated.

    accelerate launch --config_file RUN_DIR/accelerate_config.yaml -m tools.train RUN_DIR

DDP for adapters and small models; FSDP for full fine-tuning of large models (weights, gradients and Adam
states sharded across GPUs); DeepSpeed ZeRO-2 when the plan asks for it.
"""

from __future__ import annotations

from pathlib import Path

from tools import paths
from tools.paths import atomic_write_text
from tools.train.plan import TrainingPlan

# Above this size full fine-tuning shards with FSDP: 16 bytes/param of weights, grads and Adam states make a
# 1B model ~16 GB per GPU under DDP, before activations.
FSDP_FROM_PARAMS = 1_000_000_000


def strategy(plan: TrainingPlan, params: int | None) -> str:
    """ddp, fsdp or deepspeed for this plan."""
    if plan.distributed != "auto":
        return plan.distributed
    if plan.method == "full" and params is not None and params >= FSDP_FROM_PARAMS:
        return "fsdp"
    return "ddp"


def accelerate_config(plan: TrainingPlan, num_processes: int, on_gpu: bool, precision: str,
                      params: int | None = None) -> dict:
    kind = strategy(plan, params) if on_gpu else "ddp"
    config = {
        "compute_environment": "LOCAL_MACHINE",
        # On a CPU accelerate's MULTI_CPU launcher needs mpirun; the torchrun-based launcher behind MULTI_GPU
        # starts the processes just as well, and with `use_cpu` in the trainer they join over gloo.
        "distributed_type": {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed": "DEEPSPEED"}[kind],
        "num_processes": num_processes,
        "num_machines": 1,
        "machine_rank": 0,
        "mixed_precision": {"bf16": "bf16", "fp16": "fp16"}.get(precision, "no"),
        "main_process_port": paths.free_port(),
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
    }
    if kind == "fsdp":
        config["fsdp_config"] = {
            "fsdp_version": 2,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_reshard_after_forward": True,
            "fsdp_state_dict_type": "SHARDED_STATE_DICT",
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_activation_checkpointing": plan.gradient_checkpointing,
        }
    elif kind == "deepspeed":
        config["deepspeed_config"] = {"zero_stage": 2, "offload_optimizer_device": "none",
                                      "offload_param_device": "none", "gradient_accumulation_steps": plan.gradient_accumulation,
                                      "gradient_clipping": plan.max_grad_norm, "zero3_init_flag": False}
    return config


def write_accelerate_config(path: Path, config: dict) -> Path:
    import yaml

    atomic_write_text(path, yaml.safe_dump(config, sort_keys=False))
    return path

