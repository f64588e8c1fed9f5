"""DDP without the per-step work that changes nothing: gradients all-reduced in place, and no
broadcast of buffers that training never changes."""

from __future__ import annotations

import inspect
from typing import Any

from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from vlakit.train.launcher import WatchedSubprocessLauncher
from vlakit.train.rendezvous import LoopbackDDPStrategy


def has_training_state(model: nn.Module) -> bool:
    """True when ``model`` holds persistent buffers (state a forward pass may change, such as
    BatchNorm's running statistics), which DDP must broadcast from rank 0 so all ranks agree.
    Non-persistent buffers (rotary frequencies, coordinate grids) are constants every rank
    computes alike."""
    parameters = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    return any(name not in parameters for name in model.state_dict())


class LeanDDPStrategy(LoopbackDDPStrategy):
    """Lightning's DDP (its rendezvous on loopback for a single node, see
    :class:`~vlakit.train.rendezvous.LoopbackDDPStrategy`) with gradients as views of the all-reduce buckets (no copy into and out of
    them each step) and, for a model without training state (:func:`has_training_state`), no
    broadcast of its buffers before every forward pass (a collective, so a wait for the slowest
    rank, that copies constants over themselves). What each step computes is unchanged."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(gradient_as_bucket_view=True, **kwargs)

    def _configure_launcher(self) -> None:
        """``popen`` workers are watched by :class:`~vlakit.train.launcher.WorkerWatcher`."""
        super()._configure_launcher()
        if isinstance(self._launcher, _SubprocessScriptLauncher):
            self._launcher = WatchedSubprocessLauncher(self.cluster_environment, self.num_processes, self.num_nodes)

    def _setup_model(self, model: nn.Module) -> Any:
        """Lightning's wrapping of ``model`` (after ``configure_model``: the real model) in DDP."""
        if not {"broadcast_buffers", "forward_sync_buffers"} & set(self._ddp_kwargs):
            self._ddp_kwargs[buffer_sync_option()] = has_training_state(model)
        return super()._setup_model(model)


def buffer_sync_option() -> str:
    """The name of DDP's option for syncing buffers before every forward pass in this torch:
    ``forward_sync_buffers`` where it exists (``broadcast_buffers`` is deprecated there and warns
    in every run; buffers are still synced once at the start, which changes nothing for constants),
    else ``broadcast_buffers``."""
    parameters = inspect.signature(DistributedDataParallel.__init__).parameters
    return "forward_sync_buffers" if "forward_sync_buffers" in parameters else "broadcast_buffers"
