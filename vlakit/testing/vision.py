"""Conformance check for vision backbones."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vlakit.interfaces.vision import VisionBackbone

__all__ = ["check_vision_backbone"]


def _images(batch: int, height: int, width: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, height, width, 3), dtype=torch.uint8, generator=gen)


def _device(backbone: VisionBackbone) -> torch.device:
    tensor = next(iter(backbone.parameters()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def check_vision_backbone(
    backbone: VisionBackbone, sizes: Sequence[tuple[int, int]] = ((48, 64), (96, 80)), atol: float = 1e-4
) -> None:
    """Check ``backbone`` against the :class:`~vlakit.interfaces.VisionBackbone` contract.

    ``preprocess`` maps ``uint8`` ``[2, H, W, 3]`` of every size in ``sizes`` to the same float
    ``[2, C, h, w]``; ``forward`` gives finite ``[2, num_tokens, feature_dim]``, is deterministic in
    eval mode and treats batch rows independently; gradients reach the parameters unless all are
    frozen. An instruction-conditioned backbone (``condition_dim > 0``) gets a fixed random
    ``condition`` ``[2, condition_dim]`` and must also pass its gradient to it. Leaves the
    backbone in the training mode it had.
    """
    assert isinstance(backbone, VisionBackbone), f"{type(backbone).__name__} is not a VisionBackbone"
    n, d = backbone.num_tokens, backbone.feature_dim
    assert isinstance(n, int) and n > 0, f"num_tokens must be a positive int, got {n!r}"
    assert isinstance(d, int) and d > 0, f"feature_dim must be a positive int, got {d!r}"
    device = _device(backbone)
    was_training = backbone.training
    backbone.eval()
    try:
        shapes = set()
        pixels = None
        for i, (h, w) in enumerate(sizes):
            pixels = backbone.preprocess(_images(2, h, w, seed=i).to(device))
            assert isinstance(pixels, torch.Tensor) and pixels.is_floating_point(), (
                f"preprocess must return a float tensor, got {type(pixels).__name__} "
                f"{getattr(pixels, 'dtype', '')}"
            )
            assert pixels.dim() == 4 and pixels.shape[0] == 2, (
                f"preprocess of [2, {h}, {w}, 3] must give [2, C, h, w], got {tuple(pixels.shape)}"
            )
            assert torch.isfinite(pixels).all(), "preprocess produced NaN or infinity"
            shapes.add(tuple(pixels.shape))
        assert len(shapes) == 1, f"preprocess must give one shape whatever the input size, got {sorted(shapes)}"
        assert pixels is not None
        cond_dim = backbone.condition_dim
        assert isinstance(cond_dim, int) and cond_dim >= 0, f"condition_dim must be an int >= 0, got {cond_dim!r}"
        condition = None
        if cond_dim:
            generator = torch.Generator().manual_seed(0)
            condition = torch.randn(2, cond_dim, generator=generator).to(device)

        def run(x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
            return backbone(x) if c is None else backbone(x, c)

        with torch.no_grad():
            feats = run(pixels, condition)
            again = run(pixels, condition)
            single = run(pixels[:1], None if condition is None else condition[:1])
        assert tuple(feats.shape) == (2, n, d), (
            f"forward must give [2, num_tokens={n}, feature_dim={d}], got {tuple(feats.shape)}"
        )
        assert torch.isfinite(feats).all(), "forward produced NaN or infinity"
        assert torch.allclose(feats, again, atol=atol), "forward is not deterministic in eval mode"
        assert torch.allclose(feats[:1], single, atol=atol * 10, rtol=1e-3), (
            "forward of one image differs from the same image in a batch of two"
        )
        trainable = [p for p in backbone.parameters() if p.requires_grad]
        if trainable:
            backbone.train()
            backbone.zero_grad(set_to_none=True)
            if condition is not None:
                condition = condition.clone().requires_grad_(True)
            run(pixels, condition).float().pow(2).mean().backward()
            grads = [p.grad for p in trainable if p.grad is not None]
            assert grads, "no gradient reached the backbone's trainable parameters"
            if condition is not None:
                assert condition.grad is not None and torch.isfinite(condition.grad).all(), (
                    "no finite gradient reached the condition"
                )
            assert all(torch.isfinite(g).all() for g in grads), "non-finite gradients"
            assert any(g.abs().sum() > 0 for g in grads), "all gradients are zero"
            backbone.zero_grad(set_to_none=True)
    finally:
        backbone.train(was_training)
