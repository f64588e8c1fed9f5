"""Turning samples into token batches: image(s), prompt tokens, target tokens, loss mask."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from vlakit.interfaces import ActionCodec
from vlakit.types import Sample

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


def point_targets(samples: Sequence[Sample], field: str) -> dict[str, torch.Tensor]:
    """The samples' ``field`` point (``aim`` or ``anchor``): ``{field}`` float32 ``[B, 2]`` (zeros
    where a sample has none) and ``has_{field}`` bool ``[B]``."""
    points = np.zeros((len(samples), 2), dtype=np.float32)
    present = np.zeros(len(samples), dtype=bool)
    for i, s in enumerate(samples):
        point = getattr(s, field)
        if point is not None:
            points[i] = point
            present[i] = True
    return {field: torch.from_numpy(points), f"has_{field}": torch.from_numpy(present)}


def object_targets(samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
    """The samples' objects, padded to the most objects ``K`` of the batch: ``objects`` float32
    ``[B, K, 2]`` (zeros on padding) and ``object_classes`` int64 ``[B, K, A]`` (``-1`` on padding
    and on samples without objects); ``{}`` when no sample has objects."""
    labelled = [s for s in samples if s.objects is not None]
    if not labelled:
        return {}
    k = max(len(s.objects) for s in labelled)
    attributes = {np.shape(s.object_classes)[-1] for s in labelled}
    if len(attributes) != 1:
        raise ValueError(f"samples name different numbers of object attributes: {sorted(attributes)}")
    points = np.zeros((len(samples), k, 2), dtype=np.float32)
    classes = np.full((len(samples), k, attributes.pop()), -1, dtype=np.int64)
    for i, s in enumerate(samples):
        if s.objects is not None:
            points[i, : len(s.objects)] = s.objects
            classes[i, : len(s.objects)] = s.object_classes
    return {"objects": torch.from_numpy(points), "object_classes": torch.from_numpy(classes)}


class Collator:
    """``list[Sample] -> batch dict`` for :class:`vlakit.model.VLA` (right-padded tokens).

    Batch keys: ``images`` {camera: uint8 ``[B, H, W, 3]``}, ``input_ids`` / ``attention_mask`` /
    ``labels`` ``[B, T]`` (labels are ``-100`` except on targets), ``actions`` float32 ``[B, H, D]``
    (zeros for vision-language rows), ``is_robot`` bool ``[B]``, ``state`` float32 ``[B, S]`` when
    states are used, ``aim`` / ``anchor`` float32 ``[B, 2]`` and ``has_aim`` / ``has_anchor`` bool
    ``[B]`` (zeros and ``False`` for samples without one), and ``objects`` / ``object_classes``
    when samples have objects (:func:`object_targets`).
    """

    def __init__(
        self,
        prompts: PromptTokenizer,
        codec: ActionCodec,
        mapping: Any,
        cameras: Sequence[str],
        action_shape: tuple[int, int],
        state_dim: int = 0,
    ) -> None:
        self.prompts = prompts
        self.codec = codec
        self.mapping = mapping
        self.cameras = list(cameras)
        self.action_shape = action_shape
        self.state_dim = state_dim

    def __call__(self, samples: list[Sample]) -> dict[str, Any]:
        b = len(samples)
        is_robot = np.array([s.is_robot for s in samples])
        actions = np.zeros((b, *self.action_shape), dtype=np.float32)
        if is_robot.any():
            actions[is_robot] = np.stack([s.action for s in samples if s.is_robot])
            robot_targets = iter(action_target_ids(self.codec, self.mapping, actions[is_robot]))
        seqs, targets = [], []
        for s in samples:
            prompt = self.prompts.prompt_ids(s.text, s.is_robot)
            target = next(robot_targets) if s.is_robot else self.prompts.answer_ids(s.answer or "")
            seqs.append(prompt + target)
            targets.append(len(target))
        t = max(len(x) for x in seqs)
        input_ids = torch.full((b, t), self.prompts.pad, dtype=torch.long)
        attention = torch.zeros((b, t), dtype=torch.long)
        labels = torch.full((b, t), IGNORE, dtype=torch.long)
        for i, (seq, n_target) in enumerate(zip(seqs, targets)):
            row = torch.tensor(seq, dtype=torch.long)
            input_ids[i, : len(seq)] = row
            attention[i, : len(seq)] = 1
            labels[i, len(seq) - n_target : len(seq)] = row[len(seq) - n_target :]
        images = {
            cam: torch.from_numpy(np.stack([s.images[cam] for s in samples])) for cam in self.cameras
        }
        batch: dict[str, Any] = {
            "images": images,
            "input_ids": input_ids,
            "attention_mask": attention,
            "labels": labels,
            "actions": torch.from_numpy(actions),
            "is_robot": torch.from_numpy(is_robot),
            **point_targets(samples, "aim"),
            **point_targets(samples, "anchor"),
            **object_targets(samples),
        }
        if self.state_dim:
            state = np.zeros((b, self.state_dim), dtype=np.float32)
            for i, s in enumerate(samples):
                if s.state is not None:
                    state[i] = s.state
            batch["state"] = torch.from_numpy(state)
        return batch
