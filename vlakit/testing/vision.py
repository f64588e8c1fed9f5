"""Conformance check for vision backbones."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vlakit.interfaces.vision import Conditioning, VisionBackbone, VisionOutput

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
    ``[2, C, h, w]``; ``forward`` gives a :class:`VisionOutput` with finite tokens ``[2, num_tokens,
    feature_dim]`` and exactly the named outputs of ``output_names`` (each ``[2, ...]``), is
    deterministic in eval mode, keeps no state between calls (a forward on other inputs in between
    changes nothing) and treats batch rows independently; gradients reach the parameters unless
    all are frozen. A conditioned backbone's :meth:`conditioner` (built for width 16) reads a
    random :class:`Conditioning` and must pass its gradient on to the prompt embeddings. Leaves the
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
        width = 16
        conditioner = backbone.conditioner(width)
        if conditioner is not None:
            conditioner.to(device)
        generator = torch.Generator().manual_seed(0)
        prompt = torch.randn(2, 5, width, generator=generator).to(device)
        state = torch.randn(2, width, generator=generator).to(device)

        def condition(embeds: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor | None:
            if conditioner is None:
                return None
            mask = torch.ones(embeds[rows].shape[:2], dtype=torch.long, device=device)
            return conditioner(Conditioning(embeds[rows], mask, state[rows]))

        def run(x: torch.Tensor, c: torch.Tensor | None) -> VisionOutput:
            out = backbone(x) if c is None else backbone(x, c)
            assert isinstance(out, VisionOutput), f"forward must return a VisionOutput, got {type(out).__name__}"
            return out

        names = tuple(backbone.output_names)
        with torch.no_grad():
            first = run(pixels, condition(prompt))
            run(torch.flip(pixels, dims=[0]) * 0.5, condition(torch.flip(prompt, dims=[0])))
            again = run(pixels, condition(prompt))
            single = run(pixels[:1], condition(prompt, slice(0, 1)))
        feats = first.tokens
        assert tuple(feats.shape) == (2, n, d), (
            f"forward must give tokens [2, num_tokens={n}, feature_dim={d}], got {tuple(feats.shape)}"
        )
        assert torch.isfinite(feats).all(), "forward produced NaN or infinity"
        assert set(first.outputs) == set(names), (
            f"forward must give the outputs output_names lists {sorted(names)}, got {sorted(first.outputs)}"
        )
        assert torch.allclose(feats, again.tokens, atol=atol), (
            "forward is not deterministic in eval mode, or depends on an earlier call"
        )
        for name in names:
            value = first.outputs[name]
            assert value.shape[0] == 2 and torch.isfinite(value).all(), f"output {name!r} must be finite [2, ...]"
            assert torch.allclose(value, again.outputs[name], atol=atol), f"output {name!r} depends on an earlier call"
        assert torch.allclose(feats[:1], single.tokens, atol=atol * 10, rtol=1e-3), (
            "forward of one image differs from the same image in a batch of two"
        )
        trainable = [p for p in backbone.parameters() if p.requires_grad]
        if trainable:
            backbone.train()
            backbone.zero_grad(set_to_none=True)
            embeds = prompt.clone().requires_grad_(conditioner is not None)
            run(pixels, condition(embeds)).tokens.float().pow(2).mean().backward()
            grads = [p.grad for p in trainable if p.grad is not None]
            assert grads, "no gradient reached the backbone's trainable parameters"
            if conditioner is not None:
                assert embeds.grad is not None and torch.isfinite(embeds.grad).all(), (
                    "no finite gradient reached the conditioning through the conditioner"
                )
            assert all(torch.isfinite(g).all() for g in grads), "non-finite gradients"
            assert any(g.abs().sum() > 0 for g in grads), "all gradients are zero"
            backbone.zero_grad(set_to_none=True)
    finally:
        backbone.train(was_training)
