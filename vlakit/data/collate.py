"""Turning samples into token batches: image(s), prompt tokens, target tokens, loss mask."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from vlakit.interfaces import ActionCodec
from vlakit.types import Sample, TargetSpec

IGNORE = -100


class PromptTokenizer:
    """Tokenizes prompts and answers for the VLA sequence layout.

    A sequence is ``[image tokens][state token?][BOS prompt][targets]``; robot targets are the
    codec's symbols mapped to vocabulary ids (no EOS: the codec knows its own length), answer
    targets are the answer's tokens followed by EOS.
    """

    def __init__(self, tokenizer: Any, template: str) -> None:
        self.tokenizer = tokenizer
        self.template = template
        self.bos = tokenizer.bos_token_id
        self.eos = tokenizer.eos_token_id
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos
        self._encode = lru_cache(maxsize=65536)(self._encode_uncached)

    def _encode_uncached(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, text: str, robot: bool) -> list[int]:
        """``[BOS] + tokens`` of the robot prompt (template filled) or of the question."""
        body = self.template.format(instruction=text.rstrip(" .?!")) if robot else text
        ids = list(self._encode(body))
        return ([self.bos] if self.bos is not None else []) + ids

    def answer_ids(self, answer: str) -> list[int]:
        """Tokens of ``answer`` followed by EOS."""
        return list(self._encode(" " + answer.strip())) + ([self.eos] if self.eos is not None else [])


def action_target_ids(codec: ActionCodec, mapping: Any, actions: np.ndarray) -> list[list[int]]:
    """Vocabulary ids of the codec symbols of ``actions`` ``[B, H, D]``, one list per row.

    Variable-length rows stop after the end symbol.
    """
    symbols = np.asarray(codec.encode(actions.astype(np.float32)))
    ids = np.asarray(mapping.symbols_to_ids(symbols))
    end = codec.end_symbol
    rows = []
    for sym_row, id_row in zip(symbols, ids):
        n = len(sym_row)
        if end is not None:
            hits = np.flatnonzero(sym_row == end)
            n = int(hits[0]) + 1 if hits.size else n
        rows.append(id_row[:n].tolist())
    return rows


def collate_targets(
    samples: Sequence[Sample], specs: Mapping[str, TargetSpec] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The samples' named targets: ``targets[name]`` ``[B, *shape]`` (zeros where a sample has
    none) and ``present[name]`` bool ``[B]``.

    Every name in ``specs`` is collated, present in the batch or not (so each process of a DDP
    run sees the same names); a name no spec declares is collated when a sample carries it, with
    the shape and dtype of the first such sample. Samples of one name must agree on its shape.
    """
    shapes = {name: (tuple(spec.shape), np.dtype(spec.dtype)) for name, spec in (specs or {}).items()}
    for s in samples:
        for name, value in s.targets.items():
            if name not in shapes:
                value = np.asarray(value)
                shapes[name] = (value.shape, value.dtype)
    targets, present = {}, {}
    for name, (shape, dtype) in shapes.items():
        values = np.zeros((len(samples), *shape), dtype=dtype)
        mask = np.zeros(len(samples), dtype=bool)
        for i, s in enumerate(samples):
            value = s.targets.get(name)
            if value is None:
                continue
            value = np.asarray(value)
            if value.shape != shape:
                raise ValueError(f"target {name!r}: a sample gives shape {value.shape}, expected {shape}")
            values[i] = value
            mask[i] = True
        targets[name] = torch.from_numpy(values)
        present[name] = torch.from_numpy(mask)
    return targets, present


class Collator:
    """``list[Sample] -> batch dict`` for :class:`vlakit.model.VLA` (right-padded tokens).

    Batch keys: ``images`` {camera: uint8 ``[B, H, W, 3]``}, ``input_ids`` / ``attention_mask`` /
    ``labels`` ``[B, T]`` (labels are ``-100`` except on the tokens to predict), ``actions``
    float32 ``[B, H, D]`` (zeros for vision-language rows), ``is_robot`` bool ``[B]``, ``state``
    float32 ``[B, S]`` when states are used, and the named training targets ``targets`` {name:
    ``[B, *shape]``} with ``has_target`` {name: bool ``[B]``} (:func:`collate_targets`; zeros and
    ``False`` for samples without one).
    """

    def __init__(
        self,
        prompts: PromptTokenizer,
        codec: ActionCodec,
        mapping: Any,
        cameras: Sequence[str],
        action_shape: tuple[int, int],
        state_dim: int = 0,
        target_specs: Mapping[str, TargetSpec] | None = None,
    ) -> None:
        self.prompts = prompts
        self.codec = codec
        self.mapping = mapping
        self.cameras = list(cameras)
        self.action_shape = action_shape
        self.state_dim = state_dim
        self.target_specs = dict(target_specs or {})

    def __call__(self, samples: list[Sample]) -> dict[str, Any]:
        b = len(samples)
        is_robot = np.array([s.is_robot for s in samples])
        actions = np.zeros((b, *self.action_shape), dtype=np.float32)
        if is_robot.any():
            actions[is_robot] = np.stack([s.action for s in samples if s.is_robot])
            robot_targets = iter(action_target_ids(self.codec, self.mapping, actions[is_robot]))
        seqs, target_lengths = [], []
        for s in samples:
            prompt = self.prompts.prompt_ids(s.text, s.is_robot)
            target = next(robot_targets) if s.is_robot else self.prompts.answer_ids(s.answer or "")
            seqs.append(prompt + target)
            target_lengths.append(len(target))
        t = max(len(x) for x in seqs)
        input_ids = torch.full((b, t), self.prompts.pad, dtype=torch.long)
        attention = torch.zeros((b, t), dtype=torch.long)
        labels = torch.full((b, t), IGNORE, dtype=torch.long)
        for i, (seq, n_target) in enumerate(zip(seqs, target_lengths)):
            row = torch.tensor(seq, dtype=torch.long)
            input_ids[i, : len(seq)] = row
            attention[i, : len(seq)] = 1
            labels[i, len(seq) - n_target : len(seq)] = row[len(seq) - n_target :]
        images = {
            cam: torch.from_numpy(np.stack([s.images[cam] for s in samples])) for cam in self.cameras
        }
        targets, has_target = collate_targets(samples, self.target_specs)
        batch: dict[str, Any] = {
            "images": images,
            "input_ids": input_ids,
            "attention_mask": attention,
            "labels": labels,
            "actions": torch.from_numpy(actions),
            "is_robot": torch.from_numpy(is_robot),
            "targets": targets,
            "has_target": has_target,
        }
        if self.state_dim:
            state = np.zeros((b, self.state_dim), dtype=np.float32)
            for i, s in enumerate(samples):
                if s.state is not None:
                    state[i] = s.state
            batch["state"] = torch.from_numpy(state)
        return batch
