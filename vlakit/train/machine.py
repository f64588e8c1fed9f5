"""The recipe's trainer block against this machine: accelerator present, devices no more than
it has, a strategy and precision that fit the accelerator (the preflight's last check).

Only torch is imported (to count GPUs), never Lightning, so ``vlakit validate`` stays quick.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from vlakit.environ import usable_cores
from vlakit.recipes.schema import TrainerSection


@dataclass(frozen=True)
class Machine:
    """What this machine offers for training: CPU cores this process may use, CUDA GPUs, MPS."""

    cores: int
    gpus: int
    mps: bool
    bf16_gpu: bool = True

    @classmethod
    def this(cls) -> Machine:
        """This machine, as torch sees it."""
        import torch

        cores = usable_cores()
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        bf16 = bool(gpus and torch.cuda.is_bf16_supported())
        return cls(cores=cores, gpus=gpus, mps=mps, bf16_gpu=bf16)

    def resolve(self, accelerator: str) -> str:
        """The accelerator ``auto`` means here (as Lightning picks it: a GPU, else MPS, else CPU);
        ``cuda`` is called ``gpu``."""
        if accelerator == "auto":
            return "gpu" if self.gpus else "mps" if self.mps else "cpu"
        return "gpu" if accelerator == "cuda" else accelerator


#: Most data-loading worker processes per CPU core (``data.num_workers``).
WORKERS_PER_CORE = 4


def data_problems(num_workers: int, prefix: str = "data", machine: Machine | None = None) -> list[str]:
    """``data.num_workers`` worker processes (per training process) against this machine's cores."""
    m = machine or Machine.this()
    most = WORKERS_PER_CORE * m.cores
    if num_workers > most:
        return [
            f"{prefix}.num_workers: {num_workers} worker processes, but this machine has {m.cores} CPU "
            f"core(s) this process may use; at most {most} ({WORKERS_PER_CORE} per core)"
        ]
    return []


def machine_problems(t: TrainerSection, prefix: str = "trainer", machine: Machine | None = None) -> list[str]:
    """What in ``t`` this machine cannot run, one sentence each (``"trainer.devices: ..."``)."""
    m = machine or Machine.this()
    acc = m.resolve(t.accelerator)
    named = f"{t.accelerator!r}" + (f" (here: {acc})" if t.accelerator == "auto" else "")
    if acc == "gpu" and m.gpus == 0:
        return [
            f"{prefix}.accelerator: {named} needs a CUDA GPU and torch sees none on this machine; "
            f"this recipe needs a GPU machine (or {prefix}.accelerator=cpu with a CPU-sized model)"
        ]
    if acc == "mps" and not m.mps:
        return [f"{prefix}.accelerator: 'mps' needs Apple's Metal backend, which torch does not offer here"]
    if acc == "tpu" and importlib.util.find_spec("torch_xla") is None:
        return [f"{prefix}.accelerator: 'tpu' needs torch_xla, which is not installed"]
    problems = []
    available = {"cpu": m.cores, "gpu": m.gpus, "mps": 1}.get(acc)
    unit = {"cpu": "CPU core(s) this process may use", "gpu": "GPU(s)", "mps": "MPS device"}.get(acc, "")
    devices = t.devices
    if isinstance(devices, int) and available is not None and devices > available:
        problems.append(
            f"{prefix}.devices: {devices} processes, but this machine has {available} {unit}; "
            f"at most {available}"
        )
    if isinstance(devices, list):
        if acc == "cpu":
            problems.append(f"{prefix}.devices: on the CPU give a count of processes, not device indices {devices}")
        elif available is not None and max(devices) >= available:
            problems.append(
                f"{prefix}.devices: index {max(devices)}, but this machine has {available} {unit} "
                f"(indices 0..{available - 1})"
            )
    if t.strategy in ("fsdp", "deepspeed") and acc != "gpu":
        problems.append(f"{prefix}.strategy: {t.strategy!r} shards over GPUs; on {acc} use ddp or auto")
    if t.strategy in ("ddp", "ddp_spawn") and acc == "mps":
        problems.append(f"{prefix}.strategy: {t.strategy!r} does not run on MPS (one device); use auto")
    if t.strategy == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        problems.append(f"{prefix}.strategy: 'deepspeed' needs the deepspeed package (pip install deepspeed)")
    if acc == "cpu" and t.precision in ("16-mixed", "16", "16-true"):
        problems.append(f"{prefix}.precision: {t.precision!r} does not run on the CPU; use 32-true or bf16-mixed")
    if acc == "gpu" and "bf16" in t.precision and not m.bf16_gpu:
        problems.append(f"{prefix}.precision: {t.precision!r} needs a GPU with bfloat16 (compute capability 8+)")
    if t.precision.startswith("transformer-engine") and importlib.util.find_spec("transformer_engine") is None:
        problems.append(f"{prefix}.precision: {t.precision!r} needs NVIDIA's transformer_engine package")
    return problems
