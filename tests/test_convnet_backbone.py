"""The ``convnet`` vision backbone: token shapes of both readouts, and that positions reach the tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vlakit import RecipeError
from vlakit.plugins import get_registry


def build(**params):
    return get_registry().build("vision", {"type": "convnet", **params})


def square_at(row: int, col: int, size: int = 32) -> torch.Tensor:
    """A grey uint8 image ``[1, size, size, 3]`` with one red 6x6 square at (row, col)."""
    img = np.full((1, size, size, 3), 120, dtype=np.uint8)
    img[0, row : row + 6, col : col + 6] = (225, 35, 35)
    return torch.from_numpy(img)


@pytest.mark.parametrize(
    ("readout", "tokens"),
    [("grid", 16), ("flat", 5)],
)
def test_token_shapes(readout, tokens):
    net = build(img_size=32, channels=[8, 16, 16], strides=[2, 2, 2], readout=readout, flat_tokens=5)
    out = net(net.preprocess(square_at(4, 4)))
    assert out.shape == (1, tokens, 16)
    assert net.num_tokens == tokens and net.feature_dim == 16


def test_flat_tokens_change_with_object_position():
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 16], strides=[2, 2], readout="flat", flat_tokens=4).eval()
    with torch.no_grad():
        a = net(net.preprocess(square_at(4, 4)))
        b = net(net.preprocess(square_at(4, 20)))
    assert not torch.allclose(a, b, atol=1e-3)


def test_flat_readout_learns_where_an_object_is():
    """A few dozen steps of regression from the flat tokens to the square's column must beat guessing."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = build(img_size=32, channels=[8, 16], strides=[2, 2], readout="flat", flat_tokens=2)
    head = torch.nn.Linear(2 * 16, 1)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=3e-3)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        cols = rng.integers(0, 26, size=n)
        imgs = torch.cat([square_at(int(rng.integers(0, 26)), int(c)) for c in cols])
        return net.preprocess(imgs), torch.tensor(cols / 25.0, dtype=torch.float32)[:, None]

    test_x, test_y = batch(64)
    for _ in range(150):
        x, y = batch(32)
        loss = torch.nn.functional.mse_loss(head(net(x).flatten(1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = torch.nn.functional.mse_loss(head(net(test_x).flatten(1)), test_y).item()
    assert err < 0.25 * test_y.var().item()


def test_mismatched_layers_are_a_recipe_error():
    with pytest.raises(RecipeError, match="one entry per layer"):
        build(channels=[8, 16], strides=[2])
