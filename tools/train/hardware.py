"""The machine a run will train on: CPU RAM or CUDA GPUs and their memory, detected or described in words.

    Hardware.detect()                      # this machine (no torch import unless torch is loaded already)
    Hardware.parse("1x RTX 4090 24 GB")    # a machine the user describes
    Hardware.parse("CPU 16 GB")
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.vocab import lookup_gpu

# A CPU core sustains roughly this many fp32 GFLOPS in PyTorch's training kernels (AVX2/AVX-512 FMA at
# ~30% of peak); calibrated with benchmarks/bench_estimate.py on the CI machine.
CPU_GFLOPS_PER_CORE = 12.0


class Hardware(BaseModel):
    """One machine: `device_count` identical devices with `memory_gb` each (RAM for a CPU)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["cpu", "cuda"]
    name: str
    device_count: int = Field(1, ge=1)
    memory_gb: float = Field(..., gt=0, description="Per device: VRAM of one GPU, or the RAM usable on a CPU.")
    tflops: float = Field(..., gt=0, description="Dense 16-bit peak per GPU (fp32 sustained for a CPU).")
    bf16: bool = True
    cpu_cores: int = Field(1, ge=1)

    @classmethod
    def detect(cls) -> Hardware:
        """This machine: CUDA GPUs if any (via torch when loaded, else nvidia-smi), otherwise the CPU."""
        gpus = _detect_gpus()
        cores = os.cpu_count() or 1
        if gpus:
            name, mem = gpus[0]
            known = lookup_gpu(name)
            return cls(kind="cuda", name=name, device_count=len(gpus), memory_gb=round(mem, 1),
                       tflops=known[1] if known else 100.0, bf16=known[2] if known else True, cpu_cores=cores)
        return cpu_hardware(usable_ram_gb(), cores)

    @classmethod
    def parse(cls, text: str) -> Hardware:
        """A described machine: '1x RTX 4090 24 GB', '2 x A100 80GB', 'H100', 'CPU 16 GB', 'cpu'."""
        raw = text.strip()
        low = raw.lower()
        # A number standing alone: "A10G" is a GPU's name, not 10 GB.
        mem_match = re.search(r"(?<![a-z\d.])(\d+(?:\.\d+)?)\s*(gb|gib|g)\b", low)
        mem = float(mem_match.group(1)) if mem_match else None
        if low.startswith("cpu") or "ram" in low:
            cores = re.search(r"(\d+)\s*(cores?|threads?)", low)
            return cpu_hardware(mem or usable_ram_gb(), int(cores.group(1)) if cores else (os.cpu_count() or 1))
        count_match = re.match(r"(\d+)\s*x\s*", low)
        count = int(count_match.group(1)) if count_match else 1
        name = raw[count_match.end():] if count_match else raw
        name = re.sub(r"\s*(?<![a-z\d.])\d+(?:\.\d+)?\s*(gb|gib|g)\b", "", name, flags=re.I).strip() or "GPU"
        known = lookup_gpu(name)
        if mem is None and known is None:
            raise ValueError(f"Unknown GPU '{name}'; say its memory too, e.g. '1x {name} 24 GB'.")
        return cls(kind="cuda", name=name, device_count=count, memory_gb=mem or known[0],
                   tflops=known[1] if known else 100.0, bf16=known[2] if known else True)

    def describe(self) -> str:
        if self.kind == "cpu":
            return f"CPU ({self.cpu_cores} cores, {self.memory_gb:.0f} GB RAM)"
        return f"{self.device_count}x {self.name} {self.memory_gb:.0f} GB"


def cpu_hardware(ram_gb: float, cores: int) -> Hardware:
    return Hardware(kind="cpu", name="CPU", memory_gb=round(ram_gb, 1), tflops=cores * CPU_GFLOPS_PER_CORE / 1000,
                    bf16=True, cpu_cores=cores)


def _detect_gpus() -> list[tuple[str, float]]:
    torch = sys.modules.get("torch")
    if torch is not None:
        if not torch.cuda.is_available():
            return []
        return [(torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory / 2**30)
                for i in range(torch.cuda.device_count())]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        name, _, mib = line.rpartition(",")
        if name and mib.strip().isdigit():
            gpus.append((name.strip(), int(mib) / 1024))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = gpus[: len([v for v in visible.split(",") if v.strip()])]
    return gpus


def usable_ram_gb() -> float:
    """RAM a training process can use: the smaller of the cgroup limit and the machine's total."""
    total = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) / 2**20
    except OSError:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit) / 2**30)
    except OSError:
        pass
    return total or 8.0
