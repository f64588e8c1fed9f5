"""ActionTokenMapping on a real (locally trained, saved and reloaded) transformers tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from vlakit import InvalidSymbols, VlakitError
from vlakit.tokens import ActionTokenMapping, TokenMappingError

SENTENCES = [
    "pick up the red block",
    "put the blue ball next to the green cube",
    "what colour is the small block",
    "move the gripper left and open it",
    "place the yellow star on the purple square",
]
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]


def tiny_tokenizer(directory: Path, extra_words: int = 0) -> PreTrainedTokenizerFast:
    """A word-level tokenizer trained here (specials at ids 0-3), saved and loaded back.

    ``extra_words`` adds ``w0 w1 ...`` to the corpus to make the vocabulary larger.
    """
    corpus = SENTENCES + [" ".join(f"w{i}" for i in range(extra_words))]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=SPECIALS))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.save_pretrained(directory)
    return PreTrainedTokenizerFast.from_pretrained(directory)


@pytest.fixture
def tokenizer(tmp_path: Path) -> PreTrainedTokenizerFast:
    return tiny_tokenizer(tmp_path, extra_words=300)


def test_the_tokenizer_is_real(tokenizer):
    assert sorted(tokenizer.all_special_ids) == [0, 1, 2, 3]
    assert tokenizer.decode(tokenizer("pick up the red block")["input_ids"]) == "pick up the red block"
    assert len(tokenizer) == tokenizer.vocab_size > 300


def test_append_puts_symbols_after_the_vocabulary(tokenizer):
    n = len(tokenizer)
    mapping = ActionTokenMapping.build(256, tokenizer, "append")
    assert (mapping.first_id, mapping.last_id, mapping.vocab_size) == (n, n + 255, n + 256)
    assert mapping.token_ids() == list(range(n, n + 256))
    assert mapping.eos_token_id == tokenizer.eos_token_id and mapping.pad_token_id == tokenizer.pad_token_id
    # a model that already has spare rows keeps them
    assert ActionTokenMapping.build(8, tokenizer, "append", vocab_size=n + 100).vocab_size == n + 100


def test_tail_takes_the_last_ids_of_the_base_vocabulary(tokenizer):
    v = tokenizer.vocab_size
    mapping = ActionTokenMapping.build(256, tokenizer, "tail")
    assert (mapping.first_id, mapping.last_id, mapping.vocab_size) == (v - 256, v - 1, v)
    overwritten = tokenizer.convert_ids_to_tokens(mapping.token_ids())
    assert not set(overwritten) & set(SPECIALS)
    descending = ActionTokenMapping.build(256, tokenizer, "tail", descending=True)
    assert descending.symbols_to_ids(np.array([0, 255])).tolist() == [v - 1, v - 256]


def test_symbols_and_ids_convert_both_ways_in_numpy_and_torch(tokenizer):
    for mode in ("append", "tail"):
        for descending in (False, True):
            mapping = ActionTokenMapping.build(64, tokenizer, mode, descending=descending)
            symbols = np.random.default_rng(0).integers(0, 64, size=(5, 7))
            ids = mapping.symbols_to_ids(symbols)
            assert isinstance(ids, np.ndarray) and mapping.is_action_id(ids).all()
            np.testing.assert_array_equal(mapping.ids_to_symbols(ids, strict=True), symbols)
            t_ids = mapping.symbols_to_ids(torch.from_numpy(symbols))
            assert isinstance(t_ids, torch.Tensor) and t_ids.dtype == torch.int64
            np.testing.assert_array_equal(t_ids.numpy(), ids)
            assert torch.equal(mapping.ids_to_symbols(t_ids), torch.from_numpy(symbols))
            assert mapping.id_mask()[t_ids].all() and int(mapping.id_mask().sum()) == 64


def test_non_action_ids_become_minus_one_or_raise(tokenizer):
    mapping = ActionTokenMapping.build(16, tokenizer, "append")
    ids = np.array([[0, mapping.first_id, mapping.last_id + 1]])
    assert mapping.ids_to_symbols(ids).tolist() == [[-1, 0, -1]]
    assert mapping.ids_to_symbols(torch.from_numpy(ids)).tolist() == [[-1, 0, -1]]
    with pytest.raises(InvalidSymbols):
        mapping.ids_to_symbols(ids, strict=True)
    with pytest.raises(InvalidSymbols):
        mapping.symbols_to_ids(np.array([16]))
    with pytest.raises(InvalidSymbols):
        mapping.symbols_to_ids(torch.tensor([-1]))


def test_tail_over_special_tokens_is_refused(tmp_path):
    small = tiny_tokenizer(tmp_path)  # ~35 tokens, specials at ids 0-3
    v = small.vocab_size
    with pytest.raises(TokenMappingError, match="special token") as err:
        ActionTokenMapping.build(v - 2, small, "tail")
    assert "'</s>'" in str(err.value) and isinstance(err.value, VlakitError)
    with pytest.raises(TokenMappingError, match="more ids than"):
        ActionTokenMapping.build(v + 1, small, "tail")
    assert ActionTokenMapping.build(v - 4, small, "tail").first_id == 4  # exactly up to the specials


def test_tail_over_an_added_special_token_at_the_end_is_refused(tmp_path):
    tok = tiny_tokenizer(tmp_path, extra_words=50)
    tok.add_special_tokens({"additional_special_tokens": ["<act>"]})
    end = len(tok)  # the added token is the last id
    with pytest.raises(TokenMappingError, match="<act>"):
        ActionTokenMapping.build(8, tok, "tail", tail_end=end)
    assert ActionTokenMapping.build(8, tok, "tail").last_id == tok.vocab_size - 1  # base vocabulary: fine


def test_saved_mapping_round_trips_and_is_rechecked(tokenizer, tmp_path):
    mapping = ActionTokenMapping.build(100, tokenizer, "tail", descending=True)
    again = ActionTokenMapping.from_dict(json.loads(json.dumps(mapping.to_dict())))
    assert again == mapping
    again.check(tokenizer)
    with pytest.raises(TokenMappingError, match="unknown keys"):
        ActionTokenMapping.from_dict({**mapping.to_dict(), "extra": 1})
    small = tiny_tokenizer(tmp_path / "small")
    with pytest.raises(TokenMappingError):
        ActionTokenMapping.from_dict({**mapping.to_dict(), "first_id": 0}).check(small)
    with pytest.raises(TokenMappingError, match="do not fit"):
        ActionTokenMapping(mode="append", first_id=10, num_symbols=5, vocab_size=12)
    with pytest.raises(TokenMappingError, match="mode"):
        ActionTokenMapping.build(4, tokenizer, "middle")  # type: ignore[arg-type]


def test_tail_over_words_the_training_texts_use_is_refused(tokenizer):
    """A text written with a word of the tail is refused; one below it is not (issue 17)."""
    mapping = ActionTokenMapping.build(8, tokenizer, "tail")
    below = tokenizer.convert_ids_to_tokens(mapping.first_id - 1)
    in_tail = tokenizer.convert_ids_to_tokens(mapping.last_id)
    mapping.check_texts(tokenizer, [f"pick {below}"] * 3)
    with pytest.raises(TokenMappingError, match=rf"overwrite 1 token\(s\) the training texts.*'{in_tail}'"):
        mapping.check_texts(tokenizer, [f"pick {below}", f"then {in_tail}"])
    append = ActionTokenMapping.build(8, tokenizer, "append")
    append.check_texts(tokenizer, [f"then {in_tail}"])  # append takes new ids: never a clash
