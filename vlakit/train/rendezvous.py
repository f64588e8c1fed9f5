"""Distributed training whose rendezvous listens on loopback only, for runs on one machine.

``torch.distributed``'s ``env://`` rendezvous starts its key-value store (``TCPStore``) on rank 0
listening on every interface (``*:MASTER_PORT``), although the other ranks reach it at
``MASTER_ADDR`` = 127.0.0.1: anyone on the network could talk to it while training runs. When
``MASTER_ADDR`` is a loopback address and the run has one node, rank 0 here binds the store's
socket to that address itself and hands it to ``TCPStore`` (``master_listen_fd``); the process
group is then created on that store, and the strategy (DDP, FSDP, DeepSpeed: each initializes
the process group only when none exists) finds it already initialized.
"""

from __future__ import annotations

import atexit
import socket
from datetime import timedelta
from typing import Any

import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy
from lightning.pytorch.utilities import rank_zero_info

from vlakit.network import is_loopback


def loopback_store(address: str, port: int, world_size: int, is_master: bool, timeout: timedelta) -> dist.TCPStore:
    """A ``TCPStore`` at ``address:port``; on the master, its server listens on ``address`` only."""
    if not is_master:
        return dist.TCPStore(address, port, world_size, False, timeout)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(max(16, world_size))
    except BaseException:
        sock.close()
        raise
    # the store owns the socket from here on (and closes it with itself)
    return dist.TCPStore(address, port, world_size, True, timeout, master_listen_fd=sock.detach())


class LoopbackRendezvous:
    """Mixin for a Lightning parallel strategy (before it in the bases): on a single node whose
    ``MASTER_ADDR`` is loopback, the process group is created on a loopback-only store before
    the strategy sets up its environment; elsewhere the strategy does as it always does."""

    def setup_environment(self) -> None:
        self.init_loopback_process_group()
        super().setup_environment()

    def init_loopback_process_group(self) -> None:
        """Create the default process group on a :func:`loopback_store` (a single node, a loopback
        ``MASTER_ADDR``, no group yet); otherwise do nothing."""
        env = self.cluster_environment
        if env is None or self.num_nodes != 1 or not is_loopback(env.main_address) or dist.is_initialized():
            return
        if self.accelerator is not None:
            self.accelerator.setup_device(self.root_device)  # the strategy does it again: harmless
        self.set_world_ranks()
        backend = self._get_process_group_backend()
        rank, world = env.global_rank(), env.world_size()
        store = loopback_store(env.main_address, env.main_port, world, rank == 0, self._timeout)
        device = self.root_device if self.root_device.type != "cpu" else None
        dist.init_process_group(
            backend, store=store, rank=rank, world_size=world, timeout=self._timeout, device_id=device
        )
        if backend == "nccl":
            atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
        rank_zero_info(f"distributed_backend={backend}: {world} processes, rendezvous on {env.main_address} only")


class LoopbackDDPStrategy(LoopbackRendezvous, DDPStrategy):
    """Lightning's :class:`DDPStrategy`, with the rendezvous bound to loopback on a single node."""


class LoopbackFSDPStrategy(LoopbackRendezvous, FSDPStrategy):
    """Lightning's :class:`FSDPStrategy`, with the rendezvous bound to loopback on a single node."""


def loopback_deepspeed_strategy(**kwargs: Any) -> Any:
    """Lightning's DeepSpeed strategy (which needs the ``deepspeed`` package), with the rendezvous
    bound to loopback on a single node (``deepspeed.init_distributed`` keeps a process group that
    exists)."""
    from lightning.pytorch.strategies import DeepSpeedStrategy

    class LoopbackDeepSpeedStrategy(LoopbackRendezvous, DeepSpeedStrategy):
        pass

    return LoopbackDeepSpeedStrategy(**kwargs)
