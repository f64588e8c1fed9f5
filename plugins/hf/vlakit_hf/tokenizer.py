"""Tokenizers built locally (no download) for models made from an inline config: byte-level
(any text) or word-level (a vocabulary fitted on the training texts)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

#: Special tokens, in id order: pad 0, bos 1, eos 2, unk 3 (the Llama convention for bos/eos).
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")


def _llama_style(tok: Any, extra_special: Sequence[str]) -> Any:
    """Wrap a ``tokenizers.Tokenizer`` whose vocabulary starts with :data:`SPECIALS` as a
    transformers fast tokenizer that prepends BOS (like Llama) and knows ``extra_special``."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", SPECIALS.index("<s>"))]
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


def byte_tokenizer(extra_special: Sequence[str] = ()) -> Any:
    """A transformers fast tokenizer with one token per byte (256) after the special tokens.

    Any UTF-8 text round-trips. ``encode`` prepends BOS like Llama; ``extra_special`` tokens
    (e.g. ``<image>``) are appended after the bytes. ``len(tokenizer)`` is ``4 + 256 + extras``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return _llama_style(tok, extra_special)


#: How the word-level tokenizer splits text: runs of word characters, and runs of punctuation
#: (the ``tokenizers`` ``Whitespace`` pre-tokenizer's rule).
WORD_PATTERN = re.compile(r"\w+|[^\w\s]+")


def fit_vocabulary(texts: Iterable[str]) -> list[str]:
    """The words of ``texts`` (split by :data:`WORD_PATTERN`), most frequent first, ties by spelling."""
    counts = Counter(word for text in texts for word in WORD_PATTERN.findall(text))
    return [word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def word_tokenizer(vocabulary: Sequence[str], extra_special: Sequence[str] = ()) -> Any:
    """A transformers fast tokenizer with one token per word of ``vocabulary`` after the special
    tokens; other words become ``<unk>``. ``encode`` prepends BOS like Llama; decoding joins
    words with spaces. ``len(tokenizer)`` is ``4 + len(vocabulary) + extras``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for word in vocabulary:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return _llama_style(tok, extra_special)
