"""DDP whose rendezvous listens on loopback only, for runs on one machine.

``torch.distributed``'s ``env://`` rendezvous starts its key-value store (``TCPStore``) on rank 0
listening on every interface (``*:MASTER_PORT``), although the other ranks reach it at
``MASTER_ADDR`` = 127.0.0.1: anyone on the network could talk to it while training runs. When
``MASTER_ADDR`` is a loopback address and the run has one node, rank 0 here binds the store's
socket to that address itself and hands it to ``TCPStore`` (``master_listen_fd``); the process
group is then created on that store, and Lightning finds it already initialized.
"""

from __future__ import annotations

import atexit
import ipaddress
import socket
from datetime import timedelta

import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_info


def is_loopback(address: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


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


class LoopbackDDPStrategy(DDPStrategy):
    """Lightning's :class:`DDPStrategy`, with the rendezvous bound to loopback on a single node."""

    def setup_distributed(self) -> None:
        env = self.cluster_environment
        if env is None or self.num_nodes != 1 or not is_loopback(env.main_address) or dist.is_initialized():
            super().setup_distributed()
            return
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
        super().setup_distributed()  # finds the process group initialized; the rest as Lightning does it
