"""A byte-level tokenizer built locally (no download) for models made from an inline config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Special tokens, in id order: pad 0, bos 1, eos 2, unk 3 (the Llama convention for bos/eos).
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")


def byte_tokenizer(extra_special: Sequence[str] = ()) -> Any:
    """A transformers fast tokenizer with one token per byte (256) after the special tokens.

    Any UTF-8 text round-trips. ``encode`` prepends BOS like Llama; ``extra_special`` tokens
    (e.g. ``<image>``) are appended after the bytes. ``len(tokenizer)`` is ``4 + 256 + extras``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    tok.add_special_tokens([*SPECIALS, *extra_special])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=list(extra_special) or None,
    )
