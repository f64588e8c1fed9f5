"""Guards against NaN and infinity: a diverged run must stop, never export or drive a robot.

Each guard raises :class:`~vlakit.errors.NonFiniteError` (exit status 2 from the CLI) with a
message that says what was non-finite and where.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from vlakit.errors import NonFiniteError


def check_finite_loss(loss: torch.Tensor, step: int) -> None:
    """Stop training when the loss of optimizer step ``step`` is NaN or infinite."""
    if not bool(torch.isfinite(loss.detach()).all()):
        raise NonFiniteError(
            f"training loss is {loss.detach().float().flatten()[0].item()} at step {step}; training stopped "
            "and no bundle was exported (lower trainer.lr, set trainer.gradient_clip, or check the data)"
        )


def check_finite_weights(named: Iterable[tuple[str, torch.Tensor]], what: str) -> None:
    """Refuse to export ``what`` when any floating-point tensor of ``named`` holds NaN or infinity."""
    bad = [
        name
        for name, tensor in named
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor.detach()).all())
    ]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise NonFiniteError(
            f"refusing to export {what}: {len(bad)} weight tensor(s) hold NaN or infinity ({shown}); "
            "the training diverged"
        )


def check_finite_logits(scores: torch.Tensor, position: int) -> None:
    """Refuse to decode an action from NaN or infinite action-token scores ``[B, S]``."""
    if not bool(torch.isfinite(scores).all()):
        raise NonFiniteError(
            f"the policy's action-token logits at position {position} hold NaN or infinity; "
            "no action was decoded (the bundle's weights or this input are broken)"
        )
