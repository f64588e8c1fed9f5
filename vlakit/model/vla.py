"""The composed next-token VLA: image tokens + (state token) + prompt, then action or answer tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vlakit.data.collate import IGNORE, PromptTokenizer
from vlakit.interfaces import ActionCodec, InvalidSymbols, LanguageModel, VisionBackbone, point_l1
from vlakit.model.aim import AimHead
from vlakit.model.condition import InstructionEncoder


class VLA(nn.Module):
    """A vision backbone, a projector and a language model whose vocabulary holds action symbols.

    Sequence layout: ``[image tokens (per camera)][state token?][BOS prompt][targets]``.
    Robot targets are the codec's symbols mapped to vocabulary ids by ``mapping``; the loss
    covers target tokens only. An instruction-conditioned backbone (``condition_dim > 0``) also
    gets the prompt and the state read by an :class:`~vlakit.model.condition.InstructionEncoder`
    (:meth:`instruction_condition`). With an ``aim_head``, training adds ``aim_weight`` times the
    head's :func:`~vlakit.interfaces.vision.point_l1` on samples that carry an aim.
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
        aim_head: AimHead | None = None,
        aim_weight: float = 0.0,
    ) -> None:
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
        cond = vision.condition_dim if vision is not None else 0
        self.condition_encoder = InstructionEncoder(language.hidden_size, cond) if cond else None
        self.aim_head = aim_head
        self.aim_weight = aim_weight

    # -- building the prefix -------------------------------------------------------------
    def instruction_condition(
        self, token_embeds: torch.Tensor, prompt_mask: torch.Tensor, state: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """Prompt token embeddings ``[B, T, E]``, mask ``[B, T]`` (1 on prompt tokens) and the robot
        state ``[B, S]`` (for VLAs with a state input) -> the backbone's condition
        ``[B, condition_dim]``; ``None`` for an unconditioned backbone."""
        if self.condition_encoder is None:
            return None
        state_embed = None
        if self.state_proj is not None:
            if state is None:
                raise ValueError("this VLA was trained with the robot state as input; give a state")
            state_embed = self.state_proj(state.to(token_embeds.device, token_embeds.dtype))
        return self.condition_encoder(token_embeds, prompt_mask, state_embed)

    def image_tokens(self, images: dict[str, torch.Tensor], condition: torch.Tensor | None = None) -> torch.Tensor:
        """{camera: uint8 ``[B, H, W, 3]``} -> image tokens ``[B, N, E]`` in the LM's space."""
        if (condition is None) != (self.condition_encoder is None):
            raise ValueError(
                "this VLA's vision backbone is instruction-conditioned; give a condition"
                if condition is None
                else "this VLA's vision backbone takes no condition"
            )
        parts = []
        for cam in self.cameras:
            img = images[cam].to(self.device)
            if self.vision is None:
                parts.append(self.language.image_embeddings(self.language.image_preprocess(img)))
            elif condition is None:
                parts.append(self.projector(self.vision(self.vision.preprocess(img))))
            else:
                parts.append(self.projector(self.vision(self.vision.preprocess(img), condition)))
        return torch.cat(parts, dim=1)

    def prefix_embeddings(
        self, images: dict[str, torch.Tensor], state: torch.Tensor | None, condition: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Image tokens and the optional state token ``[B, P, E]`` (``condition``: see
        :meth:`instruction_condition`)."""
        parts = [self.image_tokens(images, condition)]
        if self.state_proj is not None:
            if state is None:
                raise ValueError("this VLA was trained with the robot state as input; give a state")
            parts.append(self.state_proj(state.to(self.device, parts[0].dtype))[:, None])
        return torch.cat(parts, dim=1)

    @property
    def device(self) -> torch.device:
        return next(self.language.parameters()).device

    # -- training --------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Teacher-forced pass over a :class:`~vlakit.data.collate.Collator` batch.

        Returns ``loss`` (mean cross-entropy over target tokens, plus the weighted aim loss and the
        backbone's auxiliary losses),
        ``logits`` ``[B, T, V]`` at the token positions (each predicting that position's token),
        ``labels`` ``[B, T]``, with an aim head ``aim_l1`` (the unweighted aim loss), and
        ``auxiliary`` (the backbone's :meth:`~vlakit.interfaces.VisionBackbone.auxiliary_losses`,
        already in ``loss``).
        """
        ids = batch["input_ids"].to(self.device)
        tokens = self.language.embed_tokens(ids)
        labels = batch["labels"].to(self.device)
        condition = None
        if self.condition_encoder is not None:
            prompt_mask = batch["attention_mask"].to(self.device).bool() & (labels == IGNORE)
            condition = self.instruction_condition(tokens, prompt_mask, batch.get("state"))
        prefix = self.prefix_embeddings(batch["images"], batch.get("state"), condition)
        embeds = torch.cat([prefix, tokens.to(prefix.dtype)], dim=1)
        p = prefix.shape[1]
        mask = torch.cat(
            [torch.ones(ids.shape[0], p, dtype=torch.long, device=self.device), batch["attention_mask"].to(self.device)],
            dim=1,
        )
        out = self.language(embeds, attention_mask=mask)
        logits = out.logits[:, p - 1 : -1]
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)
        result = {"loss": loss, "logits": logits, "labels": labels}
        if self.aim_head is not None:
            image_tokens = prefix[:, : p - (self.state_proj is not None)]
            error = point_l1(self.aim_head(image_tokens), batch["aim"].to(self.device), batch["has_aim"].to(self.device))
            result["aim_l1"] = error.detach()
            result["loss"] = result["loss"] + self.aim_weight * error
        if self.vision is not None:
            auxiliary = self.vision.auxiliary_losses(batch)
            for term in auxiliary.values():
                result["loss"] = result["loss"] + term
            result["auxiliary"] = {name: term.detach() for name, term in auxiliary.items()}
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
