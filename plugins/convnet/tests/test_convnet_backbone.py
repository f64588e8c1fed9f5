"""The ``convnet`` vision backbone: token shapes of both readouts, that positions reach the tokens,
and that FiLM conditioning lets the tokens say where the *named* object is."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from vlakit.interfaces import ModelInfo, ModelOutputs
from vlakit.plugins import get_registry
from vlakit.testing import check_vision_backbone


def build(**params):
    return get_registry().build("vision", {"type": "convnet", **params})


RED, BLUE = (225, 35, 35), (40, 80, 245)


def square_at(row: int, col: int, size: int = 32) -> torch.Tensor:
    """A grey uint8 image ``[1, size, size, 3]`` with one red 6x6 square at (row, col)."""
    img = np.full((1, size, size, 3), 120, dtype=np.uint8)
    img[0, row : row + 6, col : col + 6] = RED
    return torch.from_numpy(img)


def objective_loss(net, objective, point: torch.Tensor, present: torch.Tensor, *inputs: torch.Tensor):
    """The objective's one loss on ``net(*inputs)`` (camera ``top``) for the point target."""
    seen = net(*inputs)
    outputs = ModelOutputs(seen.tokens, {"top": seen.outputs})
    name = objective.config.target
    (loss,) = objective(outputs, {name: point}, {name: present}).values()
    return loss


def train_objective(net, objective, point: torch.Tensor, present: torch.Tensor, steps: int, *inputs: torch.Tensor):
    """``steps`` AdamW steps (lr 1e-2) of ``net(*inputs)`` on the objective's loss alone
    -> (first, last) loss."""
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    history = []
    for _ in range(steps):
        loss = objective_loss(net, objective, point, present, *inputs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history[0], history[-1]


def two_squares(red: tuple[int, int], blue: tuple[int, int], size: int = 32) -> torch.Tensor:
    """A grey uint8 image ``[1, size, size, 3]`` with a red and a blue 6x6 square at (row, col)."""
    img = np.full((1, size, size, 3), 120, dtype=np.uint8)
    img[0, red[0] : red[0] + 6, red[1] : red[1] + 6] = RED
    img[0, blue[0] : blue[0] + 6, blue[1] : blue[1] + 6] = BLUE
    return torch.from_numpy(img)


@pytest.mark.parametrize(
    ("readout", "tokens"),
    [("grid", 16), ("flat", 5), ("keypoints", 5)],
)
def test_token_shapes(readout, tokens):
    net = build(img_size=32, channels=[8, 16, 16], strides=[2, 2, 2], readout=readout, flat_tokens=5)
    out = net(net.preprocess(square_at(4, 4))).tokens
    assert out.shape == (1, tokens, 16)
    assert net.num_tokens == tokens and net.feature_dim == 16


def test_flat_tokens_change_with_object_position():
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 16], strides=[2, 2], readout="flat", flat_tokens=4).eval()
    with torch.no_grad():
        a = net(net.preprocess(square_at(4, 4))).tokens
        b = net(net.preprocess(square_at(4, 20))).tokens
    assert not torch.allclose(a, b, atol=1e-3)


@pytest.mark.parametrize("readout", ["flat", "keypoints"])
def test_readout_learns_where_an_object_is(readout):
    """A few dozen steps of regression from the tokens to the square's column must beat guessing."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = build(img_size=32, channels=[8, 16], strides=[2, 2], readout=readout, flat_tokens=2)
    head = torch.nn.Linear(2 * 16, 1)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=3e-3)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        cols = rng.integers(0, 26, size=n)
        imgs = torch.cat([square_at(int(rng.integers(0, 26)), int(c)) for c in cols])
        return net.preprocess(imgs), torch.tensor(cols / 25.0, dtype=torch.float32)[:, None]

    test_x, test_y = batch(64)
    for _ in range(150):
        x, y = batch(32)
        loss = torch.nn.functional.mse_loss(head(net(x).tokens.flatten(1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = torch.nn.functional.mse_loss(head(net(test_x).tokens.flatten(1)), test_y).item()
    assert err < 0.25 * test_y.var().item()


def test_mismatched_layers_are_refused_by_the_config():
    with pytest.raises(ValidationError, match="one entry per layer"):
        build(channels=[8, 16], strides=[2])
    with pytest.raises(ValidationError, match="strides are 1 or 2"):
        build(channels=[8], strides=[3])


def test_film_backbone_meets_the_vision_contract():
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 16], strides=[2, 2], readout="flat", flat_tokens=2, film_dim=6)
    assert net.conditioner(16).out[-1].out_features == 6
    check_vision_backbone(net)


def test_film_backbone_refuses_a_missing_or_unexpected_condition():
    film = build(img_size=32, channels=[8], strides=[2], film_dim=4)
    plain = build(img_size=32, channels=[8], strides=[2])
    pixels = film.preprocess(square_at(4, 4))
    with pytest.raises(ValueError, match="needs a condition"):
        film(pixels)
    with pytest.raises(ValueError, match="takes no condition"):
        plain(pixels, torch.zeros(1, 4))


def test_film_learns_where_the_named_object_is():
    """Two squares; the condition names one (one-hot red/blue); regress that square's column.

    Without the condition the answer is a coin flip between two columns; with FiLM the error must
    fall well below the error of always answering the other square's column.
    """
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = build(img_size=32, channels=[8, 16], strides=[2, 2], readout="flat", flat_tokens=2, film_dim=2)
    head = torch.nn.Linear(2 * 16, 1)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=3e-3)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        imgs, conds, cols = [], [], []
        for _ in range(n):
            rows = rng.choice([2, 13, 24], size=2, replace=False)
            red, blue = (int(rows[0]), int(rng.integers(0, 26))), (int(rows[1]), int(rng.integers(0, 26)))
            named = int(rng.integers(0, 2))
            imgs.append(two_squares(red, blue))
            conds.append(torch.eye(2)[named])
            cols.append((red, blue)[named][1] / 25.0)
        return net.preprocess(torch.cat(imgs)), torch.stack(conds), torch.tensor(cols, dtype=torch.float32)[:, None]

    test_x, test_c, test_y = batch(128)
    for _ in range(300):
        x, c, y = batch(32)
        loss = torch.nn.functional.mse_loss(head(net(x, c).tokens.flatten(1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = torch.nn.functional.mse_loss(head(net(test_x, test_c).tokens.flatten(1)), test_y).item()
    # Answering the mean of both columns (the best unconditioned guess) leaves about var / 2.
    assert err < 0.2 * test_y.var().item()


def test_relate_maps_measure_each_cells_distance_to_where_a_channel_fires():
    net = build(img_size=32, channels=[8, 8], strides=[2, 2], relate=2, readout="keypoints", flat_tokens=2)
    with torch.no_grad():
        net.relate_log_sharpness.fill_(float(np.log(50.0)))
    feats = torch.zeros(1, 8, 5, 5)
    feats[0, 0, 1, 3] = 1.0  # channel 0 fires at row 1, column 3
    feats[0, 1, 4, 0] = 1.0  # channel 1 at row 4, column 0
    with torch.no_grad():
        maps, _ = net.distance_maps(feats)
    assert maps.shape == (1, 2, 5, 5)
    ramp = np.linspace(-1.0, 1.0, 5)
    for k, (row, col) in enumerate([(1, 3), (4, 0)]):
        assert maps[0, k].flatten().argmin().item() == row * 5 + col
        expected = np.hypot(ramp[None, :] - ramp[col], ramp[:, None] - ramp[row])
        np.testing.assert_allclose(maps[0, k].numpy(), expected, atol=0.02)


def test_relate_feeds_the_last_layer_and_trains():
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], relate=3, film_dim=4, readout="keypoints")
    assert net.convs[-1].in_channels == 8 + 3 and net.convs[1].in_channels == 8
    tokens = net(net.preprocess(two_squares((4, 4), (20, 20))), torch.zeros(1, 4)).tokens
    tokens.square().sum().backward()
    assert net.relate_log_sharpness.grad is not None and net.relate_log_sharpness.grad.abs().sum() > 0


def test_relate_needs_a_next_to_last_layer_wide_enough():
    with pytest.raises(ValidationError, match="relate"):
        build(channels=[8], strides=[2], relate=1)
    with pytest.raises(ValidationError, match="relate"):
        build(channels=[4, 16], strides=[2, 2], relate=5)


def objective(kind: str, **params):
    """A convnet objective set up for one 32-pixel camera ``top``."""
    built = get_registry().build("objective", {"type": kind, **params})
    built.setup(ModelInfo(cameras=("top",), image_tokens=2, token_width=8))
    return built


def test_related_point_pulls_the_first_related_point_onto_the_anchor():
    """related-point: the L1 (image fractions) between the first related point and the anchor
    target, only on rows that have one; training on it moves the point to the anchor."""
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], relate=2, readout="keypoints", flat_tokens=2)
    anchor_l1 = objective("related-point", target="anchor")
    images = net.preprocess(torch.cat([square_at(r, c) for r, c in [(2, 3), (20, 6), (8, 22), (24, 24)]]))
    anchor = torch.tensor([[c + 3, r + 3] for r, c in [(2, 3), (20, 6), (8, 22), (24, 24)]]) / 32.0
    present = torch.tensor([True, True, True, False])
    seen = net(images)
    assert net.output_names == ("keypoint_logits", "related_points")
    point = seen.outputs["related_points"][:, 0]
    assert point.shape == (4, 2) and bool(((point > 0) & (point < 1)).all())
    first = objective_loss(net, anchor_l1, anchor, present, images)
    assert torch.allclose(first, (point[:3] - anchor[:3]).abs().mean())
    assert objective_loss(net, anchor_l1, anchor, torch.zeros(4, dtype=torch.bool), images) == 0
    assert "related_points" not in build(img_size=32, channels=[8, 8], strides=[2, 2]).output_names
    start, end = train_objective(net, anchor_l1, anchor, present, 150, images)
    assert end < 0.3 * start, (start, end)


def test_backbone_outputs_depend_only_on_its_arguments():
    """No state is kept between calls: the outputs of a forward on A are the same before and after
    a forward on B, and the module holds no tensor from the last call."""
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], relate=2, readout="keypoints",
                flat_tokens=2, film_dim=4).eval()
    a, b = net.preprocess(square_at(2, 3)), net.preprocess(square_at(20, 20))
    ca, cb = torch.randn(1, 4), torch.randn(1, 4)
    with torch.no_grad():
        first = net(a, ca)
        other = net(b, cb)
        again = net(a, ca)
    assert not torch.equal(first.tokens, other.tokens)
    assert torch.equal(first.tokens, again.tokens)
    for name in net.output_names:
        assert torch.equal(first.outputs[name], again.outputs[name])
        assert not torch.equal(first.outputs[name], other.outputs[name])
    buffers = {name for name, _ in net.named_buffers()}
    assert buffers == {"cell_xy"}  # a constant of the grid, made once
    assert not [k for k, v in vars(net).items() if isinstance(v, torch.Tensor)]


def test_keypoint_map_is_the_cross_entropy_of_the_first_channel_against_the_aim_cells():
    """keypoint-map: the cross-entropy between the last layer's first-channel spatial softmax (the
    keypoint readout's) and the aim spread bilinearly over the 4 cells around it, mean over rows
    with an aim; training on it puts the readout's first point on the aim."""
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], readout="keypoints", flat_tokens=2)
    aim_map = objective("keypoint-map", target="aim")
    corners = [(2, 3), (20, 6), (8, 22), (24, 24)]
    images = net.preprocess(torch.cat([square_at(r, c) for r, c in corners]))
    # final map 8x8 (cells of 4 px, centres at 2, 6, ..., 30 px): row 0 sits on the centre of
    # cell (row 1, col 5); row 1 halfway between cells (row 3, col 0..1) and (row 4, col 0..1)
    aim = torch.tensor([[22, 6], [4, 16], [0, 32], [18, 18]]) / 32.0
    present = torch.tensor([True, True, True, False])
    log_p = torch.log_softmax(net(images).outputs["keypoint_logits"][:, 0], dim=-1)  # [B, 64]
    assert log_p.shape == (4, 64)
    rows = [
        -log_p[0, 1 * 8 + 5],
        -0.25 * (log_p[1, 3 * 8 + 0] + log_p[1, 3 * 8 + 1] + log_p[1, 4 * 8 + 0] + log_p[1, 4 * 8 + 1]),
        -log_p[2, 7 * 8 + 0],  # the image's corner: the corner cell
    ]
    assert torch.allclose(objective_loss(net, aim_map, aim, present, images), torch.stack(rows).mean())
    assert objective_loss(net, aim_map, aim, torch.zeros(4, dtype=torch.bool), images) == 0
    on_squares = torch.tensor([[c + 3, r + 3] for r, c in corners]) / 32.0
    start, end = train_objective(net, aim_map, on_squares, torch.ones(4, dtype=torch.bool), 300, images)
    assert end < 0.5 * start, (start, end)
    logits = net(images).outputs["keypoint_logits"][:, 0]
    where = (torch.softmax(logits, -1) @ net.cell_xy + 1.0) / 2.0  # [B, 2] image fractions
    assert (where - on_squares).abs().max() < 0.1, where


def test_keypoint_map_trains_a_channel_its_activation_flattens():
    """A last-layer channel negative on every cell (GELU makes it ~0 everywhere) still gives the
    keypoint-map objective a map and a gradient: keypoint_logits are taken before the activation.
    (Read after it, such a channel stayed flat: one main-job seed in three never learned its aim
    map, cross-entropy ln 64 for 8,000 steps.)"""
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8], strides=[2, 2], readout="keypoints", flat_tokens=2)
    with torch.no_grad():
        net.norms[-1].bias[0] = -20.0  # channel 0 of the last layer: far below zero everywhere
    images = net.preprocess(torch.cat([square_at(2, 3), square_at(20, 22)]))
    logits = net(images).outputs["keypoint_logits"][:, 0]
    assert logits.std(-1).min() > 0.1  # the map keeps its shape
    aim_map = objective("keypoint-map", target="aim")
    aim = torch.tensor([[0.2, 0.2], [0.8, 0.8]])
    objective_loss(net, aim_map, aim, torch.ones(2, dtype=torch.bool), images).backward()
    assert net.convs[-1].weight.grad[0].abs().sum() > 1e-2
