"""Conformance check for language models (and the image path of vision-language models)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vlakit.interfaces.language import LanguageModel, LMOutput

__all__ = ["check_language_model", "check_saved_language_model"]

#: file endings that hold pickles; a bundle's language folder must have none
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def _tolerance(logits: torch.Tensor) -> float:
    scale = max(1.0, float(logits.detach().abs().max()))
    return scale * (1e-4 if logits.dtype == torch.float32 else 5e-2)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool((a.float() - b.float()).abs().max() <= _tolerance(a))


def _device(lm: LanguageModel) -> torch.device:
    return next(lm.parameters()).device


def check_tokenizer(lm: LanguageModel, text: str) -> list[int]:
    """The tokenizer encodes ``text`` to ids inside the vocabulary and decodes it back."""
    tok = lm.tokenizer
    for attr in ("encode", "decode", "all_special_ids", "pad_token_id"):
        assert hasattr(tok, attr), f"the tokenizer has no {attr!r}"
    ids = list(tok(text, add_special_tokens=False)["input_ids"])
    assert ids, f"the tokenizer gave no ids for {text!r}"
    assert all(0 <= i < lm.vocab_size for i in ids), f"token ids outside the vocabulary (V={lm.vocab_size})"
    back = tok.decode(ids, skip_special_tokens=True)
    assert back.strip() == text.strip(), f"tokenizer round trip changed {text!r} into {back!r}"
    assert tok.pad_token_id is not None or tok.eos_token_id is not None, "the tokenizer has neither pad nor eos"
    return ids


def check_forward_and_cache(lm: LanguageModel, ids: list[int]) -> None:
    """Shapes of embed/forward, mask of ones = no mask, KV cache and left padding consistency."""
    device = _device(lm)
    batch = torch.tensor([ids, ids[::-1]], device=device)
    b, t = batch.shape
    with torch.no_grad():
        embeds = lm.embed_tokens(batch)
        assert tuple(embeds.shape) == (b, t, lm.hidden_size), (
            f"embed_tokens of [{b}, {t}] must give [{b}, {t}, hidden_size={lm.hidden_size}], got {tuple(embeds.shape)}"
        )
        out = lm(embeds)
        assert isinstance(out, LMOutput), f"forward must return LMOutput, got {type(out).__name__}"
        assert tuple(out.logits.shape) == (b, t, lm.vocab_size), (
            f"logits must be [{b}, {t}, vocab_size={lm.vocab_size}], got {tuple(out.logits.shape)}"
        )
        assert torch.isfinite(out.logits).all(), "forward produced NaN or infinity"
        full = out.logits
        ones = torch.ones(b, t, dtype=torch.long, device=device)
        assert _close(lm(embeds, attention_mask=ones).logits, full), "an all-ones attention mask changes the logits"
        first = lm(embeds[:, :-1], attention_mask=ones[:, :-1], use_cache=True)
        assert first.past_key_values is not None, "use_cache=True returned no past_key_values"
        step = lm(embeds[:, -1:], attention_mask=ones, past_key_values=first.past_key_values, use_cache=True)
        assert tuple(step.logits.shape) == (b, 1, lm.vocab_size), f"cached step gave {tuple(step.logits.shape)}"
        assert _close(step.logits[:, -1], full[:, -1]), "logits with the KV cache differ from logits without"
        pad = 3
        padded = torch.cat([embeds[:, :pad], embeds], dim=1)
        mask = torch.cat([torch.zeros(b, pad, dtype=torch.long, device=device), ones], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        left = lm(padded, attention_mask=mask, position_ids=positions).logits
        assert _close(left[:, -1], full[:, -1]), "left padding with position_ids changes the last logits"


def check_resize(lm: LanguageModel) -> None:
    """``resize_token_embeddings`` grows the vocabulary (and shrinks it back)."""
    device = _device(lm)
    old = lm.vocab_size
    lm.resize_token_embeddings(old + 3)
    try:
        assert lm.vocab_size == old + 3, f"vocab_size is {lm.vocab_size} after resizing to {old + 3}"
        with torch.no_grad():
            logits = lm(lm.embed_tokens(torch.tensor([[old + 2, 1]], device=device))).logits
        assert logits.shape[-1] == old + 3, f"logits have {logits.shape[-1]} columns after resizing to {old + 3}"
    finally:
        lm.resize_token_embeddings(old)
    assert lm.vocab_size == old, f"vocab_size is {lm.vocab_size} after resizing back to {old}"


def check_images(lm: LanguageModel, ids: list[int]) -> None:
    """Image preprocessing and embeddings of a vision-language model, then a forward with them."""
    device = _device(lm)
    gen = torch.Generator().manual_seed(0)
    shapes = set()
    tokens = None
    for h, w in ((40, 56), (72, 64)):
        images = torch.randint(0, 256, (2, h, w, 3), dtype=torch.uint8, generator=gen).to(device)
        pixels = lm.image_preprocess(images)
        assert pixels.shape[0] == 2, f"image_preprocess of [2, {h}, {w}, 3] gave {tuple(pixels.shape)}"
        shapes.add(tuple(pixels.shape))
        with torch.no_grad():
            tokens = lm.image_embeddings(pixels)
        assert tokens.dim() == 3 and tokens.shape[0] == 2 and tokens.shape[2] == lm.hidden_size, (
            f"image_embeddings must give [2, N, hidden_size={lm.hidden_size}], got {tuple(tokens.shape)}"
        )
        assert torch.isfinite(tokens).all(), "image_embeddings produced NaN or infinity"
    assert len(shapes) == 1, f"image_preprocess must give one shape whatever the input size, got {sorted(shapes)}"
    assert tokens is not None
    with torch.no_grad():
        text = lm.embed_tokens(torch.tensor([ids, ids], device=device))
        logits = lm(torch.cat([tokens.to(text.dtype), text], dim=1)).logits
    assert tuple(logits.shape) == (2, tokens.shape[1] + len(ids), lm.vocab_size), (
        f"forward over image + text tokens gave {tuple(logits.shape)}"
    )


def check_gradients(lm: LanguageModel, ids: list[int]) -> None:
    """A loss on the logits reaches the trainable parameters (when there are any)."""
    trainable = [p for p in lm.parameters() if p.requires_grad]
    if not trainable:
        return
    lm.train()
    lm.zero_grad(set_to_none=True)
    logits = lm(lm.embed_tokens(torch.tensor([ids], device=_device(lm)))).logits
    logits.float().logsumexp(-1).mean().backward()
    grads = [p.grad for p in trainable if p.grad is not None]
    assert grads, "no gradient reached the trainable parameters"
    assert all(torch.isfinite(g).all() for g in grads), "non-finite gradients"
    lm.zero_grad(set_to_none=True)


def check_language_model(lm: LanguageModel, text: str = "pick up the red block") -> None:
    """Check ``lm`` against the :class:`~vlakit.interfaces.LanguageModel` contract.

    Tokenizer round trip of ``text``; ``embed_tokens`` and ``forward`` shapes; the KV cache gives
    the same last-token logits as a full pass; left padding with ``position_ids`` changes nothing;
    ``resize_token_embeddings`` grows ``vocab_size`` (then the check shrinks it back); for
    ``has_vision`` models the image path shapes; gradients flow. Leaves the training mode as it was.
    """
    assert isinstance(lm, LanguageModel), f"{type(lm).__name__} is not a LanguageModel"
    assert isinstance(lm.hidden_size, int) and lm.hidden_size > 0, f"bad hidden_size {lm.hidden_size!r}"
    assert isinstance(lm.vocab_size, int) and lm.vocab_size > 0, f"bad vocab_size {lm.vocab_size!r}"
    was_training = lm.training
    lm.eval()
    try:
        ids = check_tokenizer(lm, text)
        assert len(ids) >= 4, f"use a longer text than {text!r} (needs at least 4 tokens)"
        check_forward_and_cache(lm, ids)
        check_resize(lm)
        if lm.has_vision:
            check_images(lm, ids)
        check_gradients(lm, ids)
    finally:
        lm.train(was_training)


@torch.no_grad()
def check_saved_language_model(
    registration: Any, params: dict[str, Any], directory: str | Path, text: str = "pick up the red block"
) -> LanguageModel:
    """``save_weights`` into ``directory`` then ``registration.load_saved`` give the same logits.

    ``registration`` is the model's :class:`~vlakit.plugins.registry.Registration` and ``params``
    its recipe params. The model is built, grown by two vocabulary rows (as action tokens do) and
    given its LoRA when it has one, then saved; the folder must hold plain files without pickles,
    and the model rebuilt from it (what a bundle does) must match. Returns the rebuilt model.
    """
    lm = registration.build(params)
    lm.resize_token_embeddings(lm.vocab_size + 2)
    lm.apply_lora()
    lm.eval()
    ids = torch.tensor([check_tokenizer(lm, text) + [lm.vocab_size - 1]], device=_device(lm))
    expected = lm(lm.embed_tokens(ids)).logits
    directory = Path(directory)
    lm.save_weights(str(directory))
    files = [p for p in directory.rglob("*") if p.is_file() or p.is_symlink()]
    assert files, f"save_weights wrote nothing into {directory}"
    for path in files:
        assert not path.is_symlink(), f"save_weights wrote a symlink ({path.name}); bundles hold plain files"
        assert path.suffix not in PICKLE_SUFFIXES, f"save_weights wrote {path.name}, a pickle format; use safetensors"
    again = registration.load_saved(params, str(directory)).eval()
    assert again.vocab_size == lm.vocab_size, f"reloaded vocab_size {again.vocab_size}, saved {lm.vocab_size}"
    got = again(again.embed_tokens(ids.to(_device(again)))).logits
    assert _close(expected, got.to(expected.device)), "the model rebuilt from save_weights gives other logits"
    return again
