"""Projectors from vision features (width D) into the language model's embedding width E."""

from __future__ import annotations

from torch import nn


def build_projector(kind: str, in_dim: int, out_dim: int, hidden: int | None = None) -> nn.Module:
    """``linear``: one Linear ``D -> E``; ``mlp``: Linear-GELU-Linear (LLaVA-1.5 style)."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "mlp":
        width = hidden or out_dim
        return nn.Sequential(nn.Linear(in_dim, width), nn.GELU(), nn.Linear(width, out_dim))
    raise ValueError(f"unknown projector kind {kind!r} (linear or mlp)")
