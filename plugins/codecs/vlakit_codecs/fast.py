"""``fast``: frequency-space action sequence tokenization (FAST, arXiv 2501.09747).

Encoding a chunk ``[H, D]``:

1. optional normalization: each dimension's ``[q_lo, q_hi]`` quantile range maps to ``[-1, 1]``
   (clipped); without it values are clipped to ``[-R, R]``, ``R`` the largest magnitude seen in fit;
2. a per-dimension orthonormal DCT-II over the ``H`` steps (the same as
   ``scipy.fft.dct(x, axis=0, norm="ortho")``, done here as one matrix product);
3. coefficients are multiplied by ``scale`` and rounded to integers, which stay within
   ``[-B, B]`` with ``B = ceil(scale * sqrt(H) * radius)`` (so nothing is ever clipped there);
4. the ``[H, D]`` integer matrix is flattened frequency-major (all dimensions' lowest frequency
   first), each integer becomes one character, and a byte-pair encoding trained with the
   ``tokenizers`` library on the training chunks merges frequent runs (mostly the zeros of the
   high frequencies) into single symbols;
5. an end symbol (``num_symbols - 1``) follows; a batch is padded after it with the end symbol.

Decoding reverses this. A sequence without an end symbol, or whose tokens do not spell exactly
``H * D`` coefficients, raises :class:`vlakit.InvalidSymbols`; nothing decodes to a silent zero
action. :meth:`FastCodec.allowed_next` allows a BPE symbol only while its characters still fit in
the ``H * D`` budget and the end symbol exactly when the budget is spent, so constrained decoding
always yields a decodable sequence.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, models, trainers
from vlakit_codecs._arrays import (
    as_tensor,
    check_actions,
    check_symbols,
    fit_matrix,
    numpy_f64,
    prefix_array,
)
from vlakit_codecs.config import FastConfig
from vlakit_codecs.errors import NotFittedError
from vlakit_codecs.quantile import quantile_range

from vlakit import ActionCodec, InvalidSymbols

STATE_FORMAT = 1
#: Coefficient ``q`` (after the ``+B`` offset) is written as ``chr(_BASE + q)``: the CJK Unified
#: Ideographs block, 20992 code points, none of them whitespace, control or combining characters.
_BASE = 0x4E00
_MAX_ALPHABET = 0x9FFF - _BASE + 1


def dct_matrix(h: int) -> np.ndarray:
    """Orthonormal DCT-II matrix ``[h, h]`` float64: ``coeffs = M @ x``, ``x = M.T @ coeffs``."""
    k = np.arange(h, dtype=np.float64)[:, None]
    n = np.arange(h, dtype=np.float64)[None, :]
    m = np.sqrt(2.0 / h) * np.cos(np.pi * (2.0 * n + 1.0) * k / (2.0 * h))
    m[0] /= np.sqrt(2.0)
    return m


def chunk_view(actions: Any, horizon: int) -> np.ndarray:
    """Training actions as chunks ``[N, H, D]`` float64; ``[N, D]`` is one trajectory cut into windows."""
    arr = numpy_f64(actions)
    fit_matrix(arr)  # shape and finiteness checks
    if arr.ndim == 3:
        if arr.shape[1] != horizon:
            raise ValueError(f"fast: chunks have {arr.shape[1]} steps, the codec's horizon is {horizon}")
        return arr
    if arr.shape[0] < horizon:
        raise ValueError(f"fast: a trajectory of {arr.shape[0]} steps is shorter than the horizon {horizon}")
    windows = np.lib.stride_tricks.sliding_window_view(arr, horizon, axis=0)  # [N - H + 1, D, H]
    return np.ascontiguousarray(windows.transpose(0, 2, 1))


class FastCodec(ActionCodec):
    """DCT + BPE over action chunks; variable length, ending with :attr:`end_symbol`."""

    codec_name = "fast"
    config_class = FastConfig

    def __init__(self, config: FastConfig | None = None) -> None:
        self.config = config if config is not None else FastConfig()
        self.horizon = int(self.config.horizon)
        self._dct = dct_matrix(self.horizon)
        self._reset()

    def _reset(self) -> None:
        self._dim: int | None = None
        self._low: np.ndarray | None = None
        self._high: np.ndarray | None = None
        self._bound = 0
        self._tokenizer: Tokenizer | None = None
        self._lens = np.zeros(0, dtype=np.int64)
        self._chars = np.zeros((0, 0), dtype=np.int64)
        self._lens_cache: dict[str, torch.Tensor] = {}

    # -- sizes ---------------------------------------------------------------------------------

    @property
    def fitted(self) -> bool:
        return self._tokenizer is not None

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError("fast: call fit(actions) or load_state_dict() first")

    @property
    def bpe_vocab_size(self) -> int:
        """Number of BPE symbols (the end symbol excluded)."""
        self._require_fitted()
        return int(self._lens.shape[0])

    @property
    def num_symbols(self) -> int:
        return self.bpe_vocab_size + 1

    @property
    def end_symbol(self) -> int:
        return self.bpe_vocab_size

    @property
    def action_dim(self) -> int:
        if self._dim is None:
            raise NotFittedError("fast: the action dimension is unknown until fit()")
        return self._dim

    @property
    def coefficients(self) -> int:
        """Integers per chunk, ``H * D``: the character budget of one sequence."""
        return self.horizon * self.action_dim

    @property
    def max_length(self) -> int:
        return self.coefficients + 1

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, actions: Any) -> None:
        """Fit normalization and train the BPE on chunks ``[N, H, D]`` (or a trajectory ``[N, D]``)."""
        chunks = chunk_view(actions, self.horizon)
        flat = chunks.reshape(-1, chunks.shape[2])
        if self.config.normalize:
            low, high = quantile_range(flat, self.config.low_quantile, self.config.high_quantile)
            radius = 1.0
        else:
            radius = float(np.abs(flat).max()) or 1.0
            low, high = np.full(flat.shape[1], -radius), np.full(flat.shape[1], radius)
        bound = math.ceil(self.config.scale * math.sqrt(self.horizon) * radius)
        alphabet = 2 * bound + 1
        if alphabet > _MAX_ALPHABET:
            raise ValueError(
                f"fast: coefficients span {alphabet} integers (more than {_MAX_ALPHABET}); "
                "use normalize: true or a smaller scale"
            )
        if alphabet > self.config.vocab_size:
            raise ValueError(
                f"fast: vocab_size {self.config.vocab_size} is smaller than the {alphabet} single "
                f"coefficients (scale {self.config.scale}, horizon {self.horizon}); raise vocab_size"
            )
        self._reset()
        self._dim, self._low, self._high, self._bound = flat.shape[1], low, high, bound
        tokenizer = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=self.config.vocab_size,
            min_frequency=self.config.min_frequency,
            initial_alphabet=[chr(_BASE + i) for i in range(alphabet)],
            show_progress=False,
        )
        tokenizer.train_from_iterator(self._strings(self._quantize(chunks)), trainer=trainer)
        self._set_tokenizer(tokenizer)

    def _set_tokenizer(self, tokenizer: Tokenizer) -> None:
        """Build the per-symbol tables: ``_lens`` ``[V]`` characters, ``_chars`` ``[V, L]`` integers."""
        vocab = tokenizer.get_vocab()
        v = len(vocab)
        by_id = [""] * v
        for token, i in vocab.items():
            if not 0 <= i < v or by_id[i]:
                raise ValueError("fast: the BPE vocabulary ids are not 0..V-1")
            by_id[i] = token
        lens = np.array([len(t) for t in by_id], dtype=np.int64)
        chars = np.full((v, int(lens.max())), -1, dtype=np.int64)
        for i, token in enumerate(by_id):
            chars[i, : len(token)] = (
                np.frombuffer(token.encode("utf-32-le"), dtype=np.uint32).astype(np.int64) - _BASE
            )
        alphabet = 2 * self._bound + 1
        if (chars[lens > 0] >= alphabet).any() or (chars[:, 0] < 0).any():
            raise ValueError("fast: the BPE vocabulary holds characters outside the coefficient alphabet")
        if set(range(alphabet)) - set(chars[lens == 1, 0].tolist()):
            raise ValueError("fast: the BPE vocabulary lacks some single coefficients")
        self._tokenizer, self._lens, self._chars, self._lens_cache = tokenizer, lens, chars, {}

    # -- transforms ----------------------------------------------------------------------------

    def _normalized(self, x: np.ndarray) -> np.ndarray:
        """Robot units ``[..., D]`` -> the DCT's input, clipped to the fitted range (float64)."""
        assert self._low is not None and self._high is not None
        x = np.clip(x, self._low, self._high)
        if not self.config.normalize:
            return x
        span = self._high - self._low
        return np.where(span > 0, 2.0 * (x - self._low) / np.where(span > 0, span, 1.0) - 1.0, 0.0)

    def _denormalized(self, n: np.ndarray) -> np.ndarray:
        assert self._low is not None and self._high is not None
        if not self.config.normalize:
            return n
        return (n + 1.0) * 0.5 * (self._high - self._low) + self._low

    def _quantize(self, chunks: np.ndarray) -> np.ndarray:
        """Chunks ``[B, H, D]`` -> alphabet indices ``[B, H * D]`` int64 in ``[0, 2B]``, frequency-major."""
        coeffs = np.einsum("kh,bhd->bkd", self._dct, self._normalized(chunks))
        q = np.clip(np.rint(coeffs * self.config.scale), -self._bound, self._bound) + self._bound
        return q.astype(np.int64).reshape(chunks.shape[0], self.coefficients)

    def _strings(self, q: np.ndarray) -> list[str]:
        """Alphabet indices ``[B, n]`` -> ``B`` strings of ``n`` characters (no Python loop)."""
        if q.shape[1] == 0:
            return [""] * q.shape[0]
        codes = np.ascontiguousarray(q + _BASE, dtype=np.uint32)
        return codes.view(np.dtype(("U", q.shape[1]))).reshape(-1).tolist()

    # -- the codec -----------------------------------------------------------------------------

    def encode(self, actions: Any) -> Any:
        """Actions ``[B, H, D]`` -> symbols ``[B, K]`` int64, each row ending with the end symbol then padded with it.

        ``K`` is the longest row of this batch plus one (at most :attr:`max_length`).
        """
        self._require_fitted()
        assert self._tokenizer is not None
        t, was_numpy = as_tensor(actions)
        t = check_actions(t, self.horizon, self.action_dim, self.codec_name)
        q = self._quantize(t.detach().cpu().numpy().astype(np.float64))
        strings = self._strings(q)
        batch = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
        rows = [e.ids for e in batch(strings, add_special_tokens=False)] if strings else []
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        k = int(lengths.max()) + 1 if len(rows) else 1
        out = np.full((len(rows), k), self.end_symbol, dtype=np.int64)
        if len(rows):
            flat = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(lengths.sum()))
            out[np.arange(k)[None, :] < lengths[:, None]] = flat
            spelled = (
                np.add.reduceat(self._lens[flat], np.r_[0, np.cumsum(lengths)[:-1]]) if flat.size else lengths
            )
            if not np.array_equal(spelled, np.full(len(rows), self.coefficients)):
                raise RuntimeError("fast: the BPE dropped coefficients (corrupt tokenizer state)")
        if was_numpy:
            return out
        return torch.from_numpy(out).to(t.device)

    def decode(self, symbols: Any) -> Any:
        """Symbols ``[B, K]`` -> actions ``[B, H, D]`` float32; malformed rows raise :class:`InvalidSymbols`."""
        self._require_fitted()
        t, was_numpy = as_tensor(symbols)
        t = check_symbols(t, self.num_symbols, self.codec_name)
        s = t.detach().cpu().numpy()
        b, k = s.shape
        is_end = s == self.end_symbol
        missing = np.flatnonzero(~is_end.any(axis=1))
        if missing.size:
            raise InvalidSymbols(f"fast: row(s) {missing[:8].tolist()} have no end symbol {self.end_symbol}")
        body = np.arange(k)[None, :] < is_end.argmax(axis=1)[:, None]
        toks = s[body]
        tok_lens = self._lens[toks]
        spelled = np.zeros(b, dtype=np.int64)
        np.add.at(spelled, np.nonzero(body)[0], tok_lens)
        wrong = np.flatnonzero(spelled != self.coefficients)
        if wrong.size:
            raise InvalidSymbols(
                f"fast: row(s) {wrong[:8].tolist()} spell {spelled[wrong[:8]].tolist()} coefficients, "
                f"expected H * D = {self.coefficients}"
            )
        per_char = np.repeat(toks, tok_lens)
        offsets = np.arange(per_char.size) - np.repeat(np.cumsum(tok_lens) - tok_lens, tok_lens)
        q = self._chars[per_char, offsets].reshape(b, self.horizon, self.action_dim)
        coeffs = (q - self._bound) / self.config.scale
        actions = self._denormalized(np.einsum("kh,bkd->bhd", self._dct, coeffs)).astype(np.float32)
        if was_numpy:
            return actions
        return torch.from_numpy(actions).to(t.device)

    def allowed_next(self, prefix: list[int]) -> np.ndarray:
        """BPE symbols that still fit the ``H * D`` budget; the end symbol once it is spent."""
        self._require_fitted()
        arr = prefix_array(prefix, self.num_symbols, self.codec_name)
        mask = np.zeros(self.num_symbols, dtype=bool)
        ends = np.flatnonzero(arr == self.end_symbol)
        body = arr[: ends[0]] if ends.size else arr
        remaining = self.coefficients - int(self._lens[body].sum())
        if remaining < 0 or (ends.size and remaining != 0):
            raise InvalidSymbols(f"fast: prefix {arr.tolist()[:16]} is not the start of a decodable sequence")
        if ends.size:
            return mask
        mask[:-1] = self._lens <= remaining
        mask[-1] = remaining == 0
        return mask

    def allowed_next_batch(self, prefix: Any) -> Any:
        """Batched :meth:`allowed_next`: prefixes ``[B, P]`` -> bool ``[B, num_symbols]``, same kind/device.

        Rows that ended, or that are not valid prefixes, get an all-False mask.
        """
        self._require_fitted()
        t, was_numpy = as_tensor(prefix)
        if t.ndim != 2:
            raise InvalidSymbols(f"fast: prefixes must be [B, P], got {list(t.shape)}")
        key = str(t.device)
        lens = self._lens_cache.get(key)
        if lens is None:
            lens = torch.as_tensor(np.r_[self._lens, 0], device=t.device)
            self._lens_cache[key] = lens
        t = t.to(torch.int64).clamp(0, self.end_symbol)
        ended = (t == self.end_symbol).any(dim=1)
        remaining = self.coefficients - lens[t].sum(dim=1)
        mask = lens[None, :] <= remaining[:, None]
        mask[:, -1] = remaining == 0
        mask &= ~ended[:, None] & (remaining >= 0)[:, None]
        return mask.numpy() if was_numpy else mask

    def roundtrip_tolerance(self, actions: Any) -> np.ndarray:
        """Largest ``|decode(encode(a)) - a|`` guaranteed per value of ``actions`` ``[B, H, D]`` (robot units).

        Rounding moves each coefficient by at most ``0.5 / scale``; the inverse DCT maps that to at
        most ``0.5 / scale * sum_k |M[k, h]|`` at step ``h`` in normalized units, times half the
        range per dimension when normalizing. Values outside the range add their distance to it.
        """
        self._require_fitted()
        assert self._low is not None and self._high is not None
        a = numpy_f64(actions)
        step = np.abs(self._dct).sum(axis=0) * 0.5 / self.config.scale  # [H]
        unit = (self._high - self._low) / 2.0 if self.config.normalize else np.ones_like(self._low)
        outside = np.maximum(np.maximum(self._low - a, a - self._high), 0.0)
        return step[:, None] * unit[None, :] + outside

    def value_range(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` float64 ``[D]``: values are clipped to this range before the DCT."""
        self._require_fitted()
        assert self._low is not None and self._high is not None
        return self._low.copy(), self._high.copy()

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "codec": self.codec_name,
            "format": STATE_FORMAT,
            "config": self.config.model_dump(mode="json"),
            "fitted": self.fitted,
        }
        if self.fitted:
            assert self._tokenizer is not None and self._low is not None and self._high is not None
            state.update(
                dim=self._dim,
                low=self._low.tolist(),
                high=self._high.tolist(),
                bound=self._bound,
                tokenizer=self._tokenizer.to_str(),
            )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("codec") != self.codec_name:
            raise ValueError(f"fast: state was written by codec {state.get('codec')!r}")
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"fast: unsupported state format {state.get('format')!r}")
        self.config = FastConfig.model_validate(state["config"])
        self.horizon = int(self.config.horizon)
        self._dct = dct_matrix(self.horizon)
        self._reset()
        if state.get("fitted"):
            self._dim = int(state["dim"])
            self._low = np.asarray(state["low"], dtype=np.float64)
            self._high = np.asarray(state["high"], dtype=np.float64)
            self._bound = int(state["bound"])
            self._set_tokenizer(Tokenizer.from_str(state["tokenizer"]))

    def __repr__(self) -> str:
        size = self.num_symbols if self.fitted else "?"
        return f"FastCodec(horizon={self.horizon}, symbols={size}, scale={self.config.scale})"
