"""Single-node DDP keeps its rendezvous (the TCPStore at MASTER_PORT) on loopback."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import torch

from vlakit.train.rendezvous import LoopbackDDPStrategy, is_loopback

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net/tcp")


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on TCP ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # kernel word order
                found.add(socket.inet_ntop(family, raw))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_rendezvous_of_a_single_node_ddp_run_listens_on_loopback_only(monkeypatch, ddp_in_this_process) -> None:
    import lightning as L

    port = free_port()
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    seen: list[set[str]] = []

    class Probe(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            seen.append(listening_addresses(port))
            return self.layer(batch[0]).sum()

        def train_dataloader(self):
            return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(2, 2)), batch_size=2)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    strategy = LoopbackDDPStrategy(process_group_backend="gloo", start_method="popen")
    trainer = L.Trainer(max_steps=1, accelerator="cpu", devices=1, strategy=strategy, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Probe())
    assert seen == [{"127.0.0.1"}], f"MASTER_PORT {port} listens on {seen}"


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("node-7")


def test_the_rendezvous_of_a_single_node_fsdp_run_listens_on_loopback_only(monkeypatch, ddp_in_this_process) -> None:
    """FSDP creates its process group through the same loopback store (checked at set-up: FSDP
    training itself needs a GPU, which preflight asks for)."""
    from lightning.pytorch.accelerators import CPUAccelerator
    from lightning.pytorch.plugins.environments import LightningEnvironment

    from vlakit.train.rendezvous import LoopbackFSDPStrategy

    port = free_port()
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    strategy = LoopbackFSDPStrategy(
        accelerator=CPUAccelerator(),
        parallel_devices=[torch.device("cpu")],
        cluster_environment=LightningEnvironment(),
        process_group_backend="gloo",
    )
    strategy.setup_environment()
    assert torch.distributed.is_initialized()
    seen = listening_addresses(port)
    assert seen == {"127.0.0.1"}, f"MASTER_PORT {port} listens on {seen}"


def test_every_distributed_strategy_of_a_recipe_gets_the_loopback_rendezvous() -> None:
    from vlakit.recipes.schema import TrainerSection
    from vlakit.train.rendezvous import LoopbackRendezvous
    from vlakit.train.trainer import strategy_for

    for name in ("ddp", "ddp_spawn", "fsdp"):
        assert isinstance(strategy_for(TrainerSection(strategy=name)), LoopbackRendezvous), name
