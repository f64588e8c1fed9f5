"""The llava plugin: a tiny LLaVA saved to disk, loaded with LoRA, image path, bundles."""

from __future__ import annotations

import pytest
import torch
from vlakit_hf.testing import tiny_llava_dir

from vlakit import get_registry
from vlakit.testing import check_language_model

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}


def build(**params):
    return get_registry().get("language", "llava").build(params)


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    return tiny_llava_dir(tmp_path_factory.mktemp("models"))


def prepare(lm, n: int = 5) -> list[int]:
    """Composer order: resize for the action tokens, apply LoRA, mark the action rows."""
    old = lm.vocab_size
    lm.resize_token_embeddings(old + n)
    assert lm.apply_lora()
    ids = list(range(old, old + n))
    lm.trainable_token_rows(ids)
    return ids


def test_default_is_a_tiny_inline_llava():
    lm = build()
    assert lm.has_vision and type(lm.model).__name__ == "LlavaForConditionalGeneration"
    assert lm.tokenizer.convert_tokens_to_ids("<image>") == lm.model.config.image_token_id
    check_language_model(lm)


def test_image_path_shapes(llava_dir):
    lm = build(path=str(llava_dir))
    pixels = lm.image_preprocess(torch.randint(0, 256, (2, 48, 64, 3), dtype=torch.uint8))
    assert pixels.shape == (2, 3, 32, 32)  # shortest edge 32, center crop 32 x 32
    tokens = lm.image_embeddings(pixels)
    assert tokens.shape == (2, 16, lm.hidden_size) == (2, 16, 64)  # (32 / 8) ** 2 patches, CLS dropped
    # LLaVA's own selection: layer -2 of the vision tower, without CLS, through the projector.
    with torch.no_grad():
        hidden = lm.vision_tower(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
        assert torch.allclose(lm.projector(hidden), tokens, atol=1e-6)


def test_image_preprocess_matches_the_image_processor(llava_dir):
    from transformers import AutoImageProcessor

    lm = build(path=str(llava_dir))
    images = torch.randint(0, 256, (1, 32, 32, 3), dtype=torch.uint8)  # no resize: exact comparison
    ours = lm.image_preprocess(images)
    theirs = AutoImageProcessor.from_pretrained(str(llava_dir))(images=[images[0].numpy()], return_tensors="pt")
    assert torch.allclose(ours, theirs["pixel_values"], atol=1e-5)


def test_lora_trains_only_adapters_and_action_rows(llava_dir):
    lm = build(path=str(llava_dir), lora=LORA)
    ids = prepare(lm)
    names = [n for n, p in lm.named_parameters() if p.requires_grad]
    assert names and all(".lora_" in n or "vlakit_" in n for n in names)
    assert all("language_model" in n for n in names if ".lora_" in n)  # never the vision tower
    assert not any(p.requires_grad for p in lm.vision_tower.parameters())
    assert {"model.model.language_model.embed_tokens.vlakit_token_rows", "model.lm_head.vlakit_head_rows"} <= set(names)

    images = torch.randint(0, 256, (2, 40, 40, 3), dtype=torch.uint8)
    text = torch.tensor([[1, 70, 71, ids[0], ids[1]]] * 2)
    params = [p for p in lm.parameters() if p.requires_grad]
    before = {n: p.detach().clone() for n, p in lm.named_parameters()}
    opt = torch.optim.AdamW(params, lr=1e-2)
    lm.train()
    for _ in range(2):
        prefix = lm.image_embeddings(lm.image_preprocess(images))
        logits = lm(torch.cat([prefix, lm.embed_tokens(text)], dim=1)).logits
        assert logits.shape == (2, 16 + 5, lm.vocab_size)
        loss = torch.nn.functional.cross_entropy(logits[:, 16:-1].reshape(-1, lm.vocab_size), text[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    changed = {n for n, p in lm.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed and changed <= set(names)
    assert any("vlakit_token_rows" in n for n in changed) and any("lora_B" in n for n in changed)


def test_train_projector_option(llava_dir):
    lm = build(path=str(llava_dir), lora=LORA, train_projector=True)
    prepare(lm)
    assert all(p.requires_grad for p in lm.projector.parameters())
    assert not any(p.requires_grad for p in lm.vision_tower.parameters())


@pytest.mark.parametrize("export", ["adapters", "merged"])
def test_save_weights_and_reload_give_identical_logits(llava_dir, tmp_path, export):
    from vlakit_hf.llava import LlavaLanguageModel

    config = {"path": str(llava_dir), "lora": LORA, "export": export, "train_projector": True}
    torch.manual_seed(0)
    lm = build(**config)
    ids = prepare(lm)
    with torch.no_grad():  # move the adapters, rows and projector away from their initial values
        for p in lm.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    description = lm.save_weights(str(tmp_path))
    assert description["format"] == ("adapters" if export == "adapters" else "full")
    assert "image_preprocess.json" in description["files"]

    images = torch.randint(0, 256, (1, 36, 36, 3), dtype=torch.uint8)
    text = torch.tensor([[1, 70, ids[0]]])

    def logits(model):
        model.eval()
        with torch.no_grad():
            prefix = model.image_embeddings(model.image_preprocess(images))
            return model(torch.cat([prefix, model.embed_tokens(text)], dim=1)).logits

    settings = get_registry().get("language", "llava").config.model_validate(config)
    again = LlavaLanguageModel.from_saved(str(tmp_path), settings)
    assert torch.allclose(logits(again), logits(lm), atol=1e-5)
    check_language_model(again)
