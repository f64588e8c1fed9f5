"""The ``convnet`` vision backbone: token shapes of both readouts, that positions reach the tokens,
and that FiLM conditioning lets the tokens say where the *named* object is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from vlakit import RecipeError
from vlakit.plugins import get_registry
from vlakit.recipes import load_recipe
from vlakit.testing import check_vision_backbone


def build(**params):
    return get_registry().build("vision", {"type": "convnet", **params})


RED, BLUE = (225, 35, 35), (40, 80, 245)


def square_at(row: int, col: int, size: int = 32) -> torch.Tensor:
    """A grey uint8 image ``[1, size, size, 3]`` with one red 6x6 square at (row, col)."""
    img = np.full((1, size, size, 3), 120, dtype=np.uint8)
    img[0, row : row + 6, col : col + 6] = RED
    return torch.from_numpy(img)


def train_auxiliary(net, name: str, batch: dict, steps: int, *inputs: torch.Tensor) -> tuple[float, float]:
    """``steps`` AdamW steps (lr 1e-2) of ``net(*inputs)`` on its auxiliary loss ``name`` alone
    -> (first, last) loss."""
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    history = []
    for _ in range(steps):
        net(*inputs)
        loss = net.auxiliary_losses(batch)[name]
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
        loss = torch.nn.functional.mse_loss(head(net(x).flatten(1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = torch.nn.functional.mse_loss(head(net(test_x).flatten(1)), test_y).item()
    assert err < 0.25 * test_y.var().item()


def test_mismatched_layers_are_refused_by_the_config():
    with pytest.raises(ValidationError, match="one entry per layer"):
        build(channels=[8, 16], strides=[2])
    with pytest.raises(ValidationError, match="strides are 1 or 2"):
        build(channels=[8], strides=[3])


def test_vlakit_validate_catches_mismatched_layers(tmp_path):
    """Caught when the recipe is validated (with the file named), not only when the model is built."""
    recipe = tmp_path / "bad.yaml"
    recipe.write_text((Path(__file__).parents[1] / "recipes" / "tabletop-tiny.yaml").read_text().replace("strides: [2, 2, 2, 1]", "strides: [2, 2]"))
    with pytest.raises(RecipeError, match="one entry per layer") as err:
        load_recipe(recipe)
    assert "bad.yaml" in str(err.value)


def test_film_backbone_meets_the_vision_contract():
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 16], strides=[2, 2], readout="flat", flat_tokens=2, film_dim=6)
    assert net.condition_dim == 6
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
        loss = torch.nn.functional.mse_loss(head(net(x, c).flatten(1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = torch.nn.functional.mse_loss(head(net(test_x, test_c).flatten(1)), test_y).item()
    # Answering the mean of both columns (the best unconditioned guess) leaves about var / 2.
    assert err < 0.2 * test_y.var().item()


def test_dilations_keep_the_map_and_widen_what_a_cell_sees():
    """Top-left cell of a 16x16 map: a pixel 12 rows down is outside its 11-pixel field without
    dilation (only GroupNorm's statistics reach it) and inside its 27-pixel field with it."""

    def reach(dilations):
        torch.manual_seed(0)
        net = build(img_size=32, channels=[8, 8, 8], strides=[2, 1, 1], dilations=dilations, coords=False)
        pixels = net.preprocess(square_at(20, 20)).requires_grad_(True)
        tokens = net(pixels)
        assert tokens.shape == (1, 256, 8)
        tokens[0, 0].square().sum().backward()
        grad = pixels.grad.abs().sum(1)[0]  # [32, 32]
        return (grad[12, 0:4].sum() / grad[0:4, 0:4].sum()).item()

    assert reach([1, 2, 4]) > 20 * reach(None)


def test_dilations_need_one_entry_per_layer():
    with pytest.raises(ValidationError, match="dilations"):
        build(channels=[8, 16], strides=[2, 2], dilations=[1])
    with pytest.raises(ValidationError, match="dilations are >= 1"):
        build(channels=[8], strides=[2], dilations=[0])


def test_relate_maps_measure_each_cells_distance_to_where_a_channel_fires():
    net = build(img_size=32, channels=[8, 8], strides=[2, 2], relate=2, readout="keypoints", flat_tokens=2)
    with torch.no_grad():
        net.relate_log_sharpness.fill_(float(np.log(50.0)))
    feats = torch.zeros(1, 8, 5, 5)
    feats[0, 0, 1, 3] = 1.0  # channel 0 fires at row 1, column 3
    feats[0, 1, 4, 0] = 1.0  # channel 1 at row 4, column 0
    with torch.no_grad():
        maps = net.distance_maps(feats)
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
    tokens = net(net.preprocess(two_squares((4, 4), (20, 20))), torch.zeros(1, 4))
    tokens.square().sum().backward()
    assert net.relate_log_sharpness.grad is not None and net.relate_log_sharpness.grad.abs().sum() > 0


def test_relate_needs_a_next_to_last_layer_wide_enough():
    with pytest.raises(ValidationError, match="relate"):
        build(channels=[8], strides=[2], relate=1)
    with pytest.raises(ValidationError, match="relate"):
        build(channels=[4, 16], strides=[2, 2], relate=5)


def test_relate_anchor_pulls_the_first_related_point_onto_the_anchor():
    """relate_anchor adds ``weight * L1`` (image fractions) between the first related point and the
    batch's anchor, only on rows that have one; training on it moves the point to the anchor."""
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], relate=2, relate_anchor=2.0,
                readout="keypoints", flat_tokens=2)
    images = torch.cat([square_at(r, c) for r, c in [(2, 3), (20, 6), (8, 22), (24, 24)]])
    anchor = torch.tensor([[c + 3, r + 3] for r, c in [(2, 3), (20, 6), (8, 22), (24, 24)]]) / 32.0
    batch = {"anchor": anchor, "has_anchor": torch.tensor([True, True, True, False])}
    assert net.auxiliary_losses(batch) == {}  # no forward yet
    net(net.preprocess(images))
    first = net.auxiliary_losses(batch)["anchor_l1"]
    point = net.related_points[:, 0]
    assert point.shape == (4, 2) and bool(((point > 0) & (point < 1)).all())
    expected = 2.0 * (point[:3] - anchor[:3]).abs().mean()
    assert torch.allclose(first, expected)
    assert net.auxiliary_losses({**batch, "has_anchor": torch.zeros(4, dtype=torch.bool)})["anchor_l1"] == 0
    assert build(img_size=32, channels=[8, 8], strides=[2, 2], relate=1).auxiliary_losses(batch) == {}
    start, end = train_auxiliary(net, "anchor_l1", batch, 150, net.preprocess(images))
    assert end < 0.3 * start, (start, end)


def test_relate_anchor_needs_relate():
    with pytest.raises(ValidationError, match="relate_anchor"):
        build(channels=[8, 8], strides=[2, 2], relate_anchor=1.0)


def test_relate_aim_pulls_the_second_related_point_onto_the_aim():
    """relate_aim adds ``weight * L1`` between the second related point and the batch's aim (rows
    with one); it sits beside relate_anchor, which keeps the first point; training moves it."""
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], relate=2, relate_anchor=1.0, relate_aim=3.0,
                readout="keypoints", flat_tokens=2)
    corners = [(2, 3), (20, 6), (8, 22), (24, 24)]
    images = torch.cat([square_at(r, c) for r, c in corners])
    aim = torch.tensor([[c + 3, r + 3] for r, c in corners]) / 32.0
    batch = {"aim": aim, "has_aim": torch.tensor([True, False, True, True]),
             "anchor": aim.flip(0), "has_anchor": torch.ones(4, dtype=torch.bool)}
    net(net.preprocess(images))
    losses = net.auxiliary_losses(batch)
    points = net.related_points
    rows = batch["has_aim"]
    assert torch.allclose(losses["aim_point_l1"], 3.0 * (points[rows, 1] - aim[rows]).abs().mean())
    assert torch.allclose(losses["anchor_l1"], 1.0 * (points[:, 0] - batch["anchor"]).abs().mean())
    only_aim = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], relate=2, relate_aim=3.0,
                     readout="keypoints", flat_tokens=2)
    only_aim(only_aim.preprocess(images))
    assert set(only_aim.auxiliary_losses(batch)) == {"aim_point_l1"}
    start, end = train_auxiliary(only_aim, "aim_point_l1", batch, 150, only_aim.preprocess(images))
    assert end < 0.3 * start, (start, end)


def test_relate_aim_needs_two_related_points():
    with pytest.raises(ValidationError, match="relate_aim"):
        build(channels=[8, 8], strides=[2, 2], relate=1, relate_aim=1.0)


def test_aim_map_is_the_cross_entropy_of_the_first_channel_against_the_aim_cells():
    """aim_map adds ``weight * cross-entropy`` between the last layer's first-channel spatial
    softmax (the keypoint readout's) and the aim spread bilinearly over the 4 cells around it,
    mean over rows with an aim; training on it puts the readout's first point on the aim."""
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], readout="keypoints", flat_tokens=2,
                aim_map=2.0)
    corners = [(2, 3), (20, 6), (8, 22), (24, 24)]
    images = net.preprocess(torch.cat([square_at(r, c) for r, c in corners]))
    # final map 8x8 (cells of 4 px, centres at 2, 6, ..., 30 px): row 0 sits on the centre of
    # cell (row 1, col 5); row 1 halfway between cells (row 3, col 0..1) and (row 4, col 0..1)
    aim = torch.tensor([[22, 6], [4, 16], [0, 32], [18, 18]]) / 32.0
    batch = {"aim": aim, "has_aim": torch.tensor([True, True, True, False])}
    assert net.auxiliary_losses(batch) == {}  # no forward yet
    net(images)
    log_p = torch.log_softmax(net.aim_logits, dim=-1)  # [B, 64]
    assert log_p.shape == (4, 64)
    rows = [
        -log_p[0, 1 * 8 + 5],
        -0.25 * (log_p[1, 3 * 8 + 0] + log_p[1, 3 * 8 + 1] + log_p[1, 4 * 8 + 0] + log_p[1, 4 * 8 + 1]),
        -log_p[2, 7 * 8 + 0],  # the image's corner: the corner cell
    ]
    assert torch.allclose(net.auxiliary_losses(batch)["aim_map_ce"], 2.0 * torch.stack(rows).mean())
    assert net.auxiliary_losses({**batch, "has_aim": torch.zeros(4, dtype=torch.bool)})["aim_map_ce"] == 0
    assert "aim_map_ce" not in net.auxiliary_losses({})  # a batch without aims (vision-language rows)
    on_squares = {"aim": torch.tensor([[c + 3, r + 3] for r, c in corners]) / 32.0, "has_aim": torch.ones(4, dtype=torch.bool)}
    start, end = train_auxiliary(net, "aim_map_ce", on_squares, 300, images)
    assert end < 0.5 * start, (start, end)
    where = (torch.softmax(net.aim_logits, -1) @ net.cell_xy + 1.0) / 2.0  # [B, 2] image fractions
    assert (where - on_squares["aim"]).abs().max() < 0.1, where


def test_aim_map_needs_the_keypoint_readout():
    with pytest.raises(ValidationError, match="aim_map"):
        build(channels=[8, 8], strides=[2, 2], readout="flat", aim_map=1.0)


def test_object_loss_classifies_each_object_at_its_centre():
    """object_loss adds ``weight * cross-entropy`` of a linear head on the next-to-last layer's
    features at each labelled object's centre (a cell centre reads that cell exactly), mean over
    objects and attributes, padding (-1) ignored; training on it makes the head right."""
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], object_classes=[3, 2], object_loss=2.0,
                readout="keypoints", flat_tokens=2)
    corners = [(2, 3), (20, 6), (8, 22), (24, 24)]
    images = torch.cat([square_at(r, c) for r, c in corners])
    # the next-to-last map is 8x8 (cells of 4 px): cell (row 1, col 5) has its centre at (22 / 32, 6 / 32)
    objects = torch.tensor([[[22, 6], [6, 22]]] * 4) / 32.0  # [B, K=2, 2] (x, y)
    classes = torch.tensor([[[2, 1], [0, 0]], [[1, 0], [-1, -1]], [[0, 1], [2, 0]], [[1, 1], [1, 0]]])
    batch = {"objects": objects, "object_classes": classes}
    net(net.preprocess(images))
    loss = net.auxiliary_losses(batch)["object_ce"]
    feats = net.object_features
    assert feats.shape == (4, 8, 8, 8)
    at = torch.stack([feats[:, :, 1, 5], feats[:, :, 5, 1]], dim=1)  # [B, K, C]: (x=22, y=6) and (x=6, y=22)
    logits = net.object_head(at)
    keep = classes[..., 0] >= 0
    colour = torch.nn.functional.cross_entropy(logits[..., :3][keep], classes[..., 0][keep], reduction="sum")
    shape = torch.nn.functional.cross_entropy(logits[..., 3:][keep], classes[..., 1][keep], reduction="sum")
    assert torch.allclose(loss, 2.0 * (colour + shape) / (2 * keep.sum()), atol=1e-5)
    start, end = train_auxiliary(net, "object_ce", batch, 100, net.preprocess(images))
    assert end < 0.1 * start, (start, end)


def test_object_loss_without_objects_is_a_zero_that_reaches_the_head():
    """A batch without objects (vision-language rows only) gives 0 with a zero gradient on the head,
    so every DDP rank has gradients for the same parameters; a wrong attribute count is refused."""
    net = build(img_size=32, channels=[8, 8], strides=[2, 2], object_classes=[3, 2], object_loss=1.0)
    net(net.preprocess(square_at(4, 4)))
    loss = net.auxiliary_losses({})["object_ce"]
    loss.backward()
    assert loss.item() == 0.0
    for parameter in net.object_head.parameters():  # weight and bias: DDP needs a gradient for each
        assert parameter.grad is not None and not parameter.grad.any()
    net(net.preprocess(square_at(4, 4)))
    with pytest.raises(ValueError, match="2 attributes"):
        net.auxiliary_losses({"objects": torch.zeros(1, 1, 2), "object_classes": torch.zeros(1, 1, 3, dtype=torch.long)})
    with pytest.raises(ValueError, match="out of range"):
        net.auxiliary_losses({"objects": torch.zeros(1, 1, 2), "object_classes": torch.tensor([[[3, 0]]])})


def test_object_loss_needs_classes():
    with pytest.raises(ValidationError, match="object_classes"):
        build(channels=[8, 8], strides=[2, 2], object_loss=1.0)
    with pytest.raises(ValidationError, match="object_classes"):
        build(channels=[8, 8], strides=[2, 2], object_classes=[3, 1], object_loss=1.0)


def test_relate_query_points_where_the_instructions_query_matches_the_features():
    """With relate_query each related point is the spatial softmax of ``query . features`` per
    cell, the query predicted from the condition: a query on channel 2 finds where channel 2 fires,
    whatever the first channels do."""
    net = build(img_size=32, channels=[8, 8], strides=[2, 2], relate=1, relate_query=True, film_dim=4,
                readout="keypoints", flat_tokens=2)
    with torch.no_grad():
        net.relate_log_sharpness.fill_(float(np.log(50.0)))
        net.relate_queries.weight.zero_()
        net.relate_queries.bias.zero_()
        net.relate_queries.bias[2] = 1.0  # query = channel 2, for every condition
    feats = torch.zeros(1, 8, 5, 5)
    feats[0, 0, 0, 0] = 1.0  # channel 0 fires elsewhere
    feats[0, 2, 3, 1] = 1.0
    with torch.no_grad():
        maps = net.distance_maps(feats, torch.randn(1, 4))
    assert maps[0, 0].flatten().argmin().item() == 3 * 5 + 1
    with pytest.raises(ValidationError, match="relate_query"):
        build(channels=[8, 8], strides=[2, 2], relate=1, relate_query=True)  # no film_dim


def test_relate_query_learns_to_follow_the_named_object():
    """Two squares per image, the condition names one: trained with relate_anchor on the named
    square, the query's point goes to the red square or the blue one as the condition says."""
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], relate=1, relate_query=True,
                relate_anchor=1.0, film_dim=2, readout="keypoints", flat_tokens=2)
    rng = np.random.default_rng(0)
    images, corners = [], []
    for _ in range(16):
        img = np.full((32, 32, 3), 120, dtype=np.uint8)
        (r1, c1), (r2, c2) = rng.integers(0, 12, size=2), rng.integers(16, 26, size=2)
        img[r1 : r1 + 6, c1 : c1 + 6], img[r2 : r2 + 6, c2 : c2 + 6] = RED, BLUE
        images.append(img)
        corners.append(((r1, c1), (r2, c2)))
    pixels = net.preprocess(torch.from_numpy(np.stack(images * 2)))
    names = torch.tensor([0] * 16 + [1] * 16)
    condition = torch.nn.functional.one_hot(names, 2).float()
    anchor = torch.tensor([[c + 3, r + 3] for k in (0, 1) for pair in corners for r, c in [pair[k]]]) / 32.0
    batch = {"anchor": anchor, "has_anchor": torch.ones(32, dtype=torch.bool)}
    _, end = train_auxiliary(net, "anchor_l1", batch, 200, pixels, condition)
    assert end < 0.05, end  # image fractions: within ~1.5 px of the named square's centre


def test_object_loss_leaves_the_related_points_channels_alone():
    """With relate (and no relate_query) the object head reads the next-to-last layer's channels past
    the first ``relate``: its loss gives no gradient to the convolution rows those points come from."""
    torch.manual_seed(0)
    net = build(img_size=32, channels=[8, 8, 8], strides=[2, 2, 1], relate=3, object_classes=[3, 2],
                object_loss=1.0, readout="keypoints", flat_tokens=2)
    assert net.object_head.in_features == 8 - 3
    net(net.preprocess(square_at(4, 4)))
    batch = {"objects": torch.tensor([[[0.2, 0.2]]]), "object_classes": torch.tensor([[[1, 0]]])}
    net.auxiliary_losses(batch)["object_ce"].backward()
    grad = net.convs[1].weight.grad  # the next-to-last layer: [out, in, 3, 3]
    assert not grad[:3].any() and grad[3:].abs().sum() > 0
    with pytest.raises(ValidationError, match="object_loss"):
        build(channels=[4, 4, 8], strides=[2, 2, 1], relate=4, object_classes=[3], object_loss=1.0)
