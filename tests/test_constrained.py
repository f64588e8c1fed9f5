"""Constrained decoding on a tiny random Llama built from a config, with a locally trained tokenizer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from test_tokens import tiny_tokenizer
from transformers import LlamaConfig, LlamaForCausalLM, LogitsProcessorList
from vlakit_hf.generate import ActionLogitsProcessor
from vlakit_hf.model import CACHE_ARGUMENT

import vlakit
from vlakit.interfaces import LMOutput
from vlakit.testing.codec import synthetic_actions
from vlakit.tokens import ActionTokenMapping, constrained_greedy

CODEC_PARAMS = {
    "uniform-bins": {"bins": 32, "horizon": 2},
    "quantile-bins": {"bins": 64, "horizon": 3},
    "equal-mass-bins": {"bins": 16, "horizon": 2},
    "fast": {"horizon": 6, "vocab_size": 96, "scale": 4.0},
}
PROMPTS = ["pick up the red block", "put the blue ball next to the green cube", "move the gripper left"]


class TinyLM(torch.nn.Module):
    """The LanguageModel forward signature around a transformers causal LM."""

    def __init__(self, model: LlamaForCausalLM) -> None:
        super().__init__()
        self.model = model

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids)

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        past_key_values: Any = None,
        use_cache: bool = False,
        position_ids: torch.Tensor | None = None,
    ) -> LMOutput:
        out = self.model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            use_cache=use_cache,
            position_ids=position_ids,
            **{CACHE_ARGUMENT: past_key_values},
        )
        return LMOutput(logits=out.logits, past_key_values=out.get(CACHE_ARGUMENT))


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return tiny_tokenizer(tmp_path_factory.mktemp("tok"), extra_words=120)


def fitted_codec(name: str):
    codec = vlakit.get_registry().get("codec", name).build(CODEC_PARAMS[name])
    codec.fit(synthetic_actions(300, codec.horizon, 3, seed=1))
    return codec


def tiny_llama(vocab_size: int, tokenizer, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        vocab_size=vocab_size,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # sharper logits, so greedy choices are not near-ties
        model.lm_head.weight.mul_(20.0)
    return model


def left_padded(tokenizer, lm: TinyLM, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rows = [tokenizer(p)["input_ids"] for p in prompts]
    width = max(map(len, rows))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    with torch.no_grad():
        return ids, lm.embed_tokens(ids), mask


def assert_every_symbol_allowed(codec, symbols: np.ndarray) -> None:
    for row in symbols:
        prefix: list[int] = []
        for s in row:
            mask = codec.allowed_next(prefix)
            if not mask.any():  # complete: the rest is padding with the end symbol
                assert s == codec.end_symbol
                continue
            assert mask[s], f"symbol {s} not allowed after {prefix}"
            prefix.append(int(s))
        assert not codec.allowed_next(prefix).any(), "sequence not complete"


@pytest.mark.parametrize("mode", ["append", "tail"])
@pytest.mark.parametrize("name", list(CODEC_PARAMS))
def test_greedy_with_and_without_cache_gives_the_same_allowed_ids(name, mode, tokenizer):
    codec = fitted_codec(name)
    mapping = ActionTokenMapping.build(codec.num_symbols, tokenizer, mode)
    lm = TinyLM(tiny_llama(mapping.vocab_size, tokenizer))
    _, embeds, mask = left_padded(tokenizer, lm, PROMPTS)
    cached = constrained_greedy(lm, embeds, mask, codec, mapping, lm.embed_tokens, use_cache=True)
    full = constrained_greedy(lm, embeds, mask, codec, mapping, lm.embed_tokens, use_cache=False)
    assert cached.dtype == torch.int64 and cached.shape[0] == len(PROMPTS)
    assert torch.equal(cached, full)
    if codec.end_symbol is None:
        assert cached.shape[1] == codec.max_length
    symbols = cached.numpy()
    assert_every_symbol_allowed(codec, symbols)
    ids = mapping.symbols_to_ids(cached)
    assert mapping.is_action_id(ids).all()
    decoded = codec.decode(cached)
    assert decoded.shape == (len(PROMPTS), codec.horizon, 3) and torch.isfinite(decoded).all()


@pytest.mark.parametrize("name", ["uniform-bins", "fast"])
def test_greedy_returns_the_distribution_it_chose_from(name, tokenizer):
    """return_probs: at each written position the softmax of the allowed symbols' logits, whose
    argmax is the symbol written (zeros once a variable-length row has ended)."""
    codec = fitted_codec(name)
    mapping = ActionTokenMapping.build(codec.num_symbols, tokenizer, "append")
    lm = TinyLM(tiny_llama(mapping.vocab_size, tokenizer, seed=2))
    _, embeds, mask = left_padded(tokenizer, lm, PROMPTS)
    symbols, probs = constrained_greedy(lm, embeds, mask, codec, mapping, lm.embed_tokens, return_probs=True)
    assert torch.equal(symbols, constrained_greedy(lm, embeds, mask, codec, mapping, lm.embed_tokens))
    assert probs.shape == (*symbols.shape, codec.num_symbols) and probs.dtype == torch.float32
    live = probs.sum(-1) > 0
    assert torch.allclose(probs.sum(-1)[live], torch.ones(int(live.sum())))
    assert torch.equal(probs.argmax(-1)[live], symbols[live])
    if codec.end_symbol is None:
        assert bool(live.all())
        # the first position: the softmax over the action symbols' logits after the prompt
        ids = torch.tensor(mapping.token_ids())
        with torch.no_grad():
            first = lm(inputs_embeds=embeds, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0))
        assert torch.allclose(probs[:, 0], torch.softmax(first.logits[:, -1, ids].float(), -1), atol=1e-5)


def test_left_padding_does_not_change_a_row(tokenizer):
    codec = fitted_codec("uniform-bins")
    mapping = ActionTokenMapping.build(codec.num_symbols, tokenizer, "append")
    lm = TinyLM(tiny_llama(mapping.vocab_size, tokenizer, seed=3))
    _, embeds, mask = left_padded(tokenizer, lm, PROMPTS)
    batch = constrained_greedy(lm, embeds, mask, codec, mapping, lm.embed_tokens)
    _, alone, alone_mask = left_padded(tokenizer, lm, PROMPTS[2:])
    single = constrained_greedy(lm, alone, alone_mask, codec, mapping, lm.embed_tokens)
    assert torch.equal(batch[2:], single)


@pytest.mark.parametrize("name", list(CODEC_PARAMS))
def test_generate_with_the_logits_processor_only_emits_allowed_ids_then_eos(name, tokenizer):
    codec = fitted_codec(name)
    mapping = ActionTokenMapping.build(codec.num_symbols, tokenizer, "append")
    model = tiny_llama(mapping.vocab_size, tokenizer, seed=1)
    lm = TinyLM(model)
    ids = torch.tensor([tokenizer(PROMPTS[0])["input_ids"], tokenizer(PROMPTS[2] + " now")["input_ids"]])
    for prompt_kwargs in ({"input_ids": ids}, {"inputs_embeds": lm.embed_tokens(ids).detach()}):
        processor = ActionLogitsProcessor(codec, mapping)
        out = model.generate(
            **prompt_kwargs,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=codec.max_length + 3,
            do_sample=False,
            logits_processor=LogitsProcessorList([processor]),
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        generated = out[:, ids.shape[1] :] if "input_ids" in prompt_kwargs else out
        for row in generated.tolist():
            action = [t for t in row if mapping.first_id <= t <= mapping.last_id]
            n = len(action)
            assert row[:n] == action, "action ids must come first"
            assert row[n] == tokenizer.eos_token_id
            assert all(t == tokenizer.pad_token_id for t in row[n + 1 :])
            symbols = np.asarray(mapping.ids_to_symbols(np.array([action]), strict=True))
            assert_every_symbol_allowed(codec, symbols)
            codec.decode(symbols)
        # the same greedy choices as vlakit's own loop
        loop = constrained_greedy(lm, lm.embed_tokens(ids).detach(), None, codec, mapping, lm.embed_tokens)
        for row, mine in zip(generated.tolist(), mapping.symbols_to_ids(loop).tolist()):
            n = sum(mapping.first_id <= t <= mapping.last_id for t in row)
            assert row[:n] == mine[:n]


def test_processor_masks_scores_directly(tokenizer):
    codec = fitted_codec("fast")
    mapping = ActionTokenMapping.build(codec.num_symbols, tokenizer, "append")
    processor = ActionLogitsProcessor(codec, mapping, prompt_length=2)
    v = mapping.vocab_size
    prompt = torch.tensor([[5, 6], [5, 6]])
    scores = processor(prompt, torch.zeros(2, v))
    allowed = torch.isfinite(scores)
    expected = np.zeros(v, dtype=bool)
    expected[mapping.first_id : mapping.last_id + 1] = codec.allowed_next([])
    assert (allowed.numpy() == expected).all()
    # after a complete action: EOS only; after EOS (closed): EOS only as well
    symbols = codec.encode(synthetic_actions(1, codec.horizon, 3, seed=4))
    body = symbols[0, : int(np.argmax(symbols[0] == codec.end_symbol)) + 1]
    done = torch.cat([prompt[:1], torch.from_numpy(mapping.symbols_to_ids(body))[None]], dim=1)
    closed = torch.cat([prompt[:1], torch.tensor([[tokenizer.eos_token_id]])], dim=1)
    for seq in (done, closed):
        row = torch.isfinite(processor(seq, torch.zeros(1, v)))[0]
        assert row.nonzero().ravel().tolist() == [tokenizer.eos_token_id]


def test_mapping_and_codec_must_agree(tokenizer):
    codec = fitted_codec("uniform-bins")
    mapping = ActionTokenMapping.build(codec.num_symbols + 1, tokenizer, "append")
    with pytest.raises(vlakit.VlakitError, match="symbols"):
        ActionLogitsProcessor(codec, mapping)
    good = ActionTokenMapping.build(codec.num_symbols, tokenizer, "append")
    lm = TinyLM(tiny_llama(len(tokenizer), tokenizer))  # not resized for the appended ids
    _, embeds, mask = left_padded(tokenizer, lm, PROMPTS[:1])
    with pytest.raises(vlakit.VlakitError, match="resize"):
        constrained_greedy(lm, embeds, mask, codec, good, lm.embed_tokens)


def test_without_the_constraint_the_random_model_writes_other_tokens(tokenizer):
    """The constraint is doing the work: unconstrained greedy leaves the action tokens."""
    codec = fitted_codec("fast")
    mapping = ActionTokenMapping.build(codec.num_symbols, tokenizer, "append")
    model = tiny_llama(mapping.vocab_size, tokenizer)
    ids = torch.tensor([tokenizer(p)["input_ids"][:4] for p in PROMPTS])
    free = model.generate(input_ids=ids, max_new_tokens=8, do_sample=False, pad_token_id=0, eos_token_id=None)
    assert not mapping.is_action_id(free[:, ids.shape[1] :]).all()


def test_embed_fn_defaults_to_embed_tokens_and_positions_to_the_mask(tokenizer):
    codec = fitted_codec("quantile-bins")
    mapping = ActionTokenMapping.build(codec.num_symbols, tokenizer, "tail")
    lm = TinyLM(tiny_llama(mapping.vocab_size, tokenizer, seed=5))
    _, embeds, mask = left_padded(tokenizer, lm, PROMPTS)
    explicit = constrained_greedy(lm, embeds, mask, codec, mapping, lm.embed_tokens)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    implicit = constrained_greedy(lm, embeds, mask, codec, mapping, position_ids=positions, use_cache=False)
    assert torch.equal(explicit, implicit)
