"""The instruction encoder of the FiLM-conditioned ``convnet``: the conditioner it supplies.

RT-1 conditions its EfficientNet on a sentence embedding of the instruction. Here a small
transformer encoder reads the prompt's token embeddings (shared with the language model, so
words mean the same in both places) with learned positions, and a learned summary token
gathers what the vision backbone should look for: order-aware, so "the red star next to the
blue circle" and "the blue circle next to the red star" condition the backbone differently.

It also reads the robot state when the VLA has one: what to look for changes within an episode
("put the red star next to the blue circle": the star while the gripper is open, the circle
while it carries the star), and the instruction alone cannot say which phase it is.
"""

from __future__ import annotations

import torch
from torch import nn

from vlakit.interfaces import Conditioning


class InstructionEncoder(nn.Module):
    """A :class:`~vlakit.interfaces.Conditioning` (prompt token embeddings ``[B, T, E]``, mask
    ``[B, T]`` with 1 on prompt tokens on any padding side, and optionally the state token
    ``[B, E]``) -> condition ``[B, out_dim]``.

    The embeddings are layer-normalized first (language-model embeddings start tiny), get a
    learned position counted from each row's first prompt token, and pass ``layers`` pre-norm
    encoder layers together with a learned summary token, whose output is projected to ``out_dim``.
    """

    def __init__(self, width: int, out_dim: int, layers: int = 2, heads: int = 4, max_tokens: int = 256) -> None:
        super().__init__()
        self.input_norm = nn.LayerNorm(width)
        self.positions = nn.Embedding(max_tokens, width)
        self.summary = nn.Parameter(torch.zeros(1, 1, width))
        nn.init.normal_(self.positions.weight, std=0.02)
        nn.init.normal_(self.summary, std=0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads if width % heads == 0 else 1, 2 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, out_dim))

    def forward(self, conditioning: Conditioning) -> torch.Tensor:
        """The state token, when given, is read as one more token."""
        token_embeds, state = conditioning.prompt_embeds, conditioning.state_embeds
        keep = conditioning.prompt_mask.to(token_embeds.device).bool()
        position = (keep.long().cumsum(1) - 1).clamp(0, self.positions.num_embeddings - 1)
        x = self.input_norm(token_embeds) + self.positions(position)
        head = [self.summary.expand(x.shape[0], -1, -1).to(x.dtype)]
        if state is not None:
            head.append(self.input_norm(state.to(x.dtype))[:, None])
        x = torch.cat([*head, x], dim=1)
        ignore = torch.cat([torch.zeros_like(keep[:, : len(head)]), ~keep], dim=1)
        return self.out(self.encoder(x, src_key_padding_mask=ignore)[:, 0])
