"""Conformance check for objectives (auxiliary training losses)."""

from __future__ import annotations

import torch

from vlakit.interfaces.objective import ModelInfo, ModelOutputs, Objective

__all__ = ["check_objective"]


def _fresh(outputs: ModelOutputs) -> ModelOutputs:
    """Leaf copies of ``outputs`` that collect gradients."""
    return ModelOutputs(
        outputs.image_tokens.detach().clone().requires_grad_(True),
        {cam: {k: v.detach().clone().requires_grad_(v.is_floating_point()) for k, v in named.items()}
         for cam, named in outputs.vision.items()},
    )


def check_objective(
    objective: Objective,
    model: ModelInfo,
    outputs: ModelOutputs,
    targets: dict[str, torch.Tensor],
    present: dict[str, torch.Tensor],
) -> None:
    """Check ``objective`` against the :class:`~vlakit.interfaces.Objective` contract, on a batch
    the plugin author builds: the model's shape ``model``, its ``outputs`` and the ``targets`` /
    ``present`` masks (at least one row with each target).

    It declares its targets and outputs as tuples of names that ``model`` offers; after
    :meth:`setup` its forward returns named finite scalar losses, is deterministic and keeps no
    state between calls (a call on other inputs in between changes nothing); with a target the
    losses pass gradient to what it reads, and with every target absent they are 0 while a (zero)
    gradient still reaches every trainable parameter it owns (DDP ranks agree).
    """
    name = type(objective).__name__
    assert isinstance(objective, Objective), f"{name} is not a vlakit Objective"
    for attribute in ("targets", "outputs"):
        names = getattr(objective, attribute)
        assert isinstance(names, tuple) and all(isinstance(n, str) for n in names), (
            f"{name}.{attribute} must be a tuple of names, got {names!r}"
        )
    missing = [t for t in objective.targets if t not in model.targets or t not in targets]
    assert not missing, f"{name} reads targets {missing} that the model info or the batch does not give"
    unknown = [o for o in objective.outputs if o not in model.outputs]
    assert not unknown, f"{name} reads outputs {unknown} that the model info does not offer"
    objective.setup(model)

    def run(outs: ModelOutputs, mask: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        losses = objective(outs, targets, mask)
        assert isinstance(losses, dict) and losses, f"{name} must return a non-empty dict of named losses"
        for key, value in losses.items():
            assert isinstance(key, str) and key, f"{name}: loss names must be non-empty strings, got {key!r}"
            assert isinstance(value, torch.Tensor) and value.dim() == 0, f"{name}: loss {key!r} must be a scalar"
            assert torch.isfinite(value), f"{name}: loss {key!r} is not finite"
        return losses

    was_training = objective.training
    objective.train()
    try:
        first = run(outputs, present)
        other = _fresh(outputs)
        other.image_tokens.data.mul_(-1.0)
        run(other, present)
        again = run(outputs, present)
        assert set(first) == set(again) and all(torch.equal(first[k], again[k]) for k in first), (
            f"{name}: forward is not deterministic, or depends on an earlier call"
        )
        fresh = _fresh(outputs)
        sum(run(fresh, present).values()).backward()
        read = [fresh.image_tokens, *(v for named in fresh.vision.values() for v in named.values())]
        assert any(t.grad is not None and t.grad.abs().sum() > 0 for t in read), (
            f"{name}: no gradient reaches the model outputs it reads"
        )
        objective.zero_grad(set_to_none=True)
        absent = {k: torch.zeros_like(v) for k, v in present.items()}
        losses = run(_fresh(outputs), absent)
        assert all(v.item() == 0 for v in losses.values()), f"{name}: losses without any target must be 0"
        sum(losses.values()).backward()
        trainable = [p for p in objective.parameters() if p.requires_grad]
        assert all(p.grad is not None for p in trainable), (
            f"{name}: without targets a zero gradient must still reach every parameter (DDP)"
        )
        objective.zero_grad(set_to_none=True)
    finally:
        objective.train(was_training)
