"""The timm vision backbone plugin: shapes, preprocessing, local weights, conformance."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError

from vlakit import RecipeError, get_registry
from vlakit.testing import check_vision_backbone

#: a two-block ViT on 64x64 images (8x8 patches): builds in well under a second
TINY_VIT_CONFIG = {
    "model": "vit_tiny_patch16_224",
    "img_size": 64,
    "patch_size": 8,
    "embed_dim": 64,
    "depth": 2,
    "num_heads": 2,
}


def build(**params):
    return get_registry().get("vision", "timm").build(params)


@pytest.fixture(scope="module")
def tiny_vit():
    torch.manual_seed(0)
    return build(**TINY_VIT_CONFIG)


def test_registered_with_light_import():
    reg = get_registry().get("vision", "timm")
    assert reg.dist == "vlakit-timm"
    code = "import sys, vlakit_timm; print('torch' in sys.modules, 'timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_tiny_vit_patch_tokens(tiny_vit):
    assert (tiny_vit.num_tokens, tiny_vit.feature_dim) == (64, 64)  # (64 / 8) ** 2 patches, no class token
    images = torch.randint(0, 256, (2, 50, 70, 3), dtype=torch.uint8)
    pixels = tiny_vit.preprocess(images)
    assert pixels.shape == (2, 3, 64, 64) and pixels.dtype == torch.float32
    feats = tiny_vit(pixels).tokens
    assert feats.shape == (2, 64, 64)
    full = tiny_vit.model.forward_features(pixels)
    assert full.shape == (2, 65, 64)
    assert torch.equal(feats, full[:, 1:])


def test_preprocess_normalizes_with_model_statistics(tiny_vit):
    white = torch.full((1, 64, 64, 3), 255, dtype=torch.uint8)
    expected = (1.0 - tiny_vit.mean) / tiny_vit.std
    assert torch.allclose(tiny_vit.preprocess(white), expected.expand(1, 3, 64, 64))


def test_conformance(tiny_vit):
    check_vision_backbone(tiny_vit)


def test_frozen_backbone_stays_in_eval_mode():
    backbone = build(**TINY_VIT_CONFIG, freeze=True)
    assert not any(p.requires_grad for p in backbone.parameters())
    backbone.train()
    assert not backbone.model.training
    check_vision_backbone(backbone)


def test_cnn_feature_map_is_flattened():
    backbone = build(model="test_resnet", model_args={"drop_rate": 0.0})
    assert (backbone.num_tokens, backbone.feature_dim) == (25, 96)  # 160 px / 32 = 5
    feats = backbone(backbone.preprocess(torch.zeros(1, 100, 120, 3, dtype=torch.uint8))).tokens
    assert feats.shape == (1, 25, 96)
    check_vision_backbone(backbone)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_from_local_file(tmp_path, tiny_vit, suffix):
    path = tmp_path / f"vit{suffix}"
    state = {k: v.clone() for k, v in tiny_vit.model.state_dict().items()}
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"state_dict": state, "epoch": 3}, str(path))
    loaded = build(**TINY_VIT_CONFIG, pretrained_path=str(path))
    pixels = tiny_vit.preprocess(torch.randint(0, 256, (1, 64, 64, 3), dtype=torch.uint8))
    tiny_vit.eval()
    loaded.eval()
    with torch.no_grad():
        assert torch.allclose(tiny_vit(pixels).tokens, loaded(pixels).tokens)


class _RunsCode:
    """A pickled object whose unpickling would run code: it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_is_refused_before_it_runs(tmp_path, tiny_vit):
    # A weights file is something a user may have been sent: loading it must never run its code.
    # (torch's weights-only loader accepts plain containers and some built-in classes; what
    # matters is that an arbitrary callable in the pickle is refused before it is called.)
    path = tmp_path / "evil.pth"
    marker = tmp_path / "marker"
    torch.save({"state_dict": tiny_vit.model.state_dict(), "extra": _RunsCode(marker)}, str(path))
    with pytest.raises(Exception, match="(?i)weights.only|unpickl|unsupported"):
        build(**TINY_VIT_CONFIG, pretrained_path=str(path))
    assert not marker.exists()


def test_config_errors(tmp_path):
    with pytest.raises(ValidationError, match="pretrained_path"):
        build(pretrained=True)
    with pytest.raises(ValidationError, match="extra|not permitted"):
        build(img_sise=64)
    with pytest.raises(ValidationError, match="fields of their own"):
        build(model_args={"img_size": 64})
    with pytest.raises(RecipeError, match="vit_tiny_patch16_224"):
        build(model="vit_tiny_patch16_22")
    with pytest.raises(RecipeError, match="not a file"):
        build(**TINY_VIT_CONFIG, pretrained_path=str(tmp_path / "missing.safetensors"))


def test_vision_check_catches_size_dependent_preprocessing():
    from vlakit_timm.backbone import TimmBackbone

    class NoResize(TimmBackbone):
        def preprocess(self, images):
            return images.permute(0, 3, 1, 2).float() / 255.0

    backbone = NoResize(get_registry().get("vision", "timm").config.model_validate(TINY_VIT_CONFIG))
    with pytest.raises(AssertionError, match="one shape"):
        check_vision_backbone(backbone)


def test_sincos_position_embeddings_are_fixed_and_readable():
    import torch
    from vlakit_timm.backbone import sincos_2d

    from vlakit import get_registry
    from vlakit.testing import check_vision_backbone

    backbone = get_registry().build(
        "vision", {"type": "timm", "img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 1, "num_heads": 2,
                   "sincos_pos_embed": True}
    )
    pos = backbone.model.pos_embed
    assert not pos.requires_grad
    torch.testing.assert_close(pos[0, 1:], sincos_2d(4, 4, 32))
    # the first half encodes the row only: every column of one row shares it
    table = sincos_2d(4, 4, 32)
    assert torch.equal(table.view(4, 4, 32)[:, 0, :8], table.view(4, 4, 32)[:, 3, :8])  # rows: same y, same code
    check_vision_backbone(backbone)
