"""The composed next-token VLA: image tokens + (state token) + prompt, then action or answer tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vlakit.data.collate import IGNORE, PromptTokenizer
from vlakit.interfaces import ActionCodec, InvalidSymbols, LanguageModel, VisionBackbone
from vlakit.interfaces.objective import ModelOutputs, Objective
from vlakit.interfaces.vision import Conditioning


@dataclass
class Prefix:
    """The model's input sequence for ``B`` samples: ``embeds`` ``[B, P + T, E]`` (image tokens of
    every camera, the state token when the VLA reads a state, then the ``T`` text tokens) and its
    attention ``mask`` ``[B, P + T]``; ``length`` is ``P``. ``image_tokens`` ``[B, C * N, E]`` and
    ``vision`` (per camera, the backbone's named outputs) are what objectives read."""

    embeds: torch.Tensor
    mask: torch.Tensor
    length: int
    image_tokens: torch.Tensor
    vision: dict[str, dict[str, torch.Tensor]]


class VLA(nn.Module):
    """A vision backbone, a projector and a language model whose vocabulary holds action symbols.

    Sequence layout: ``[image tokens (per camera)][state token?][BOS prompt][targets]``, built by
    :meth:`prefix` for training, the policy and the benchmarks alike. Robot targets are the
    codec's symbols mapped to vocabulary ids by ``mapping``; the loss covers target tokens only,
    plus each objective's losses times its weight. A conditioned backbone gets the prompt and the
    state through the ``conditioner`` it supplies (:meth:`VisionBackbone.conditioner`).
    """

    def __init__(
        self,
        language: LanguageModel,
        codec: ActionCodec,
        mapping: Any,
        prompts: PromptTokenizer,
        cameras: Sequence[str],
        vision: VisionBackbone | None = None,
        projector: nn.Module | None = None,
        state_dim: int = 0,
        objectives: Sequence[tuple[str, float, Objective]] = (),
    ) -> None:
        """``objectives``: ``(name, weight, objective)`` each, already set up (training only)."""
        super().__init__()
        if vision is None and not language.has_vision:
            raise ValueError("a VLA needs a vision backbone unless its language model brings one")
        self.language = language
        self.vision = vision
        self.projector = projector
        self.codec = codec
        self.mapping = mapping
        self.prompts = prompts
        self.cameras = list(cameras)
        self.state_proj = nn.Linear(state_dim, language.hidden_size) if state_dim else None
        self.conditioner = vision.conditioner(language.hidden_size) if vision is not None else None
        self.objectives = nn.ModuleList([objective for _, _, objective in objectives])
        self.objective_names = [name for name, _, _ in objectives]
        self.objective_weights = [float(weight) for _, weight, _ in objectives]

    # -- building the prefix -------------------------------------------------------------
    def state_embeds(self, state: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
        """The robot state ``[B, S]`` projected to the state token ``[B, E]``."""
        if state is None:
            raise ValueError("this VLA was trained with the robot state as input; give a state")
        return self.state_proj(state.to(self.device, dtype))

    def image_tokens(
        self, images: dict[str, torch.Tensor], condition: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, dict[str, torch.Tensor]]]:
        """{camera: uint8 ``[B, H, W, 3]``} -> image tokens ``[B, C * N, E]`` in the LM's space and,
        per camera, the backbone's named outputs. ``condition``: the conditioner's output."""
        parts, outputs = [], {}
        for cam in self.cameras:
            img = images[cam].to(self.device)
            if self.vision is None:
                parts.append(self.language.image_embeddings(self.language.image_preprocess(img)))
                continue
            pixels = self.vision.preprocess(img)
            seen = self.vision(pixels) if condition is None else self.vision(pixels, condition)
            parts.append(self.projector(seen.tokens))
            outputs[cam] = seen.outputs
        return torch.cat(parts, dim=1), outputs

    def prefix(
        self,
        images: dict[str, torch.Tensor],
        state: torch.Tensor | None,
        ids: torch.Tensor,
        attention_mask: torch.Tensor,
        prompt_mask: torch.Tensor,
    ) -> Prefix:
        """The input sequence: {camera: uint8 ``[B, H, W, 3]``}, the state ``[B, S]`` (``None``
        unless the VLA reads one), the text token ``ids`` ``[B, T]`` that follow (the prompt; in
        training the prompt and its targets), their ``attention_mask`` ``[B, T]`` and
        ``prompt_mask`` ``[B, T]`` (1 on prompt tokens: what a conditioner reads)."""
        tokens = self.language.embed_tokens(ids.to(self.device))
        condition = None
        if self.conditioner is not None:
            states = self.state_embeds(state, tokens.dtype) if self.state_proj is not None else None
            # the conditioner reads the prompt only: columns after the last prompt token of every
            # row (the training targets) are cut, not merely masked
            prompt_mask = prompt_mask.to(self.device)
            columns = prompt_mask.any(0).nonzero()
            end = int(columns.max()) + 1 if len(columns) else ids.shape[1]
            condition = self.conditioner(Conditioning(tokens[:, :end], prompt_mask[:, :end], states))
        image_tokens, vision = self.image_tokens(images, condition)
        parts = [image_tokens]
        if self.state_proj is not None:
            parts.append(self.state_embeds(state, image_tokens.dtype)[:, None])
        head = torch.cat(parts, dim=1)
        embeds = torch.cat([head, tokens.to(head.dtype)], dim=1)
        p = head.shape[1]
        mask = torch.cat(
            [torch.ones(ids.shape[0], p, dtype=torch.long, device=self.device), attention_mask.to(self.device)], dim=1
        )
        return Prefix(embeds, mask, p, image_tokens, vision)

    @property
    def device(self) -> torch.device:
        return next(self.language.parameters()).device

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Learning-rate groups (``trainer.lr_scale``): each part of the model (``language``,
        ``vision``, ``projector``, ``state``, ``conditioner``, ``objectives.NAME``) and the
        sub-groups a part declares with a ``parameter_groups()`` method of its own (``PART.SUB``)."""
        parts: list[tuple[str, nn.Module | None]] = [
            ("language", self.language),
            ("vision", self.vision),
            ("projector", self.projector),
            ("state", self.state_proj),
            ("conditioner", self.conditioner),
        ]
        parts += [(f"objectives.{name}", objective) for name, objective in zip(self.objective_names, self.objectives)]
        groups: dict[str, list[nn.Parameter]] = {}
        for part, module in parts:
            if module is None:
                continue
            declared = getattr(module, "parameter_groups", None)
            claimed: set[int] = set()
            if callable(declared):
                for sub, params in declared().items():
                    groups[f"{part}.{sub}"] = list(params)
                    claimed.update(id(p) for p in groups[f"{part}.{sub}"])
            groups[part] = [p for p in module.parameters() if id(p) not in claimed]
        return groups

    # -- training --------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Teacher-forced pass over a :class:`~vlakit.data.collate.Collator` batch.

        Returns ``loss`` (mean cross-entropy over target tokens plus each objective's losses times
        its weight), ``logits`` ``[B, T, V]`` at the token positions (each predicting that
        position's token), ``labels`` ``[B, T]`` and ``objectives`` {loss name: the unweighted loss,
        detached}.
        """
        labels = batch["labels"].to(self.device)
        attention = batch["attention_mask"].to(self.device)
        prompt_mask = attention.bool() & (labels == IGNORE)
        prefix = self.prefix(batch["images"], batch.get("state"), batch["input_ids"], attention, prompt_mask)
        out = self.language(prefix.embeds, attention_mask=prefix.mask)
        logits = out.logits[:, prefix.length - 1 : -1]
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)
        result = {"loss": loss, "logits": logits, "labels": labels, "objectives": {}}
        if len(self.objectives):
            outputs = ModelOutputs(prefix.image_tokens, prefix.vision)
            targets = {k: v.to(self.device) for k, v in batch.get("targets", {}).items()}
            present = {k: v.to(self.device) for k, v in batch.get("has_target", {}).items()}
            for name, weight, objective in zip(self.objective_names, self.objective_weights, self.objectives):
                for loss_name, value in objective(outputs, targets, present).items():
                    if loss_name in result["objectives"]:
                        raise ValueError(f"objective {name!r} returns loss {loss_name!r}, already returned by another")
                    result["objectives"][loss_name] = value.detach()
                    result["loss"] = result["loss"] + weight * value
        return result

    @torch.no_grad()
    def action_metrics(self, batch: dict[str, Any], logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """Action-token accuracy and L1 error (robot units) of the teacher-forced predictions."""
        robot = batch["is_robot"].to(self.device)
        mask = (labels != IGNORE) & robot[:, None]
        if not mask.any():
            return {}
        pred = logits.argmax(-1)
        metrics = {"action_token_acc": (pred[mask] == labels[mask]).float().mean().item()}
        if self.codec.end_symbol is None:
            k = self.codec.max_length
            pred_ids = pred[mask].reshape(-1, k).cpu()
            symbols = np.asarray(self.mapping.ids_to_symbols(pred_ids.numpy()))
            symbols = np.clip(symbols, 0, self.codec.num_symbols - 1)
            try:
                decoded = np.asarray(self.codec.decode(symbols))
            except InvalidSymbols:
                return metrics
            target = batch["actions"][robot.cpu()].numpy()
            metrics["action_l1"] = float(np.abs(decoded - target).mean())
        return metrics
