"""Tiny bundles exported from a freshly built (random) VLA, for tests that need a real policy.

``export_tiny_bundle(tmp, RECIPE + EVAL, "name")`` builds the recipe's model with seeded
weights, fits its codec to the tabletop's action range and writes a real bundle (seconds, no
training). The untrained policy's actions mean nothing; its code paths are the real ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

TINY_RECIPE = """
name: cli-test
model:
  vision: {type: timm, model: vit_tiny_patch16_224, img_size: 64, patch_size: 16, embed_dim: 32, depth: 1, num_heads: 2}
  language:
    type: hf
    config: {model_type: llama, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1,
             num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 256}
  codec: {type: uniform-bins, bins: 16}
data:
  train: [{type: tabletop-demos, episodes: 1}]
"""
TINY_EVAL = """
eval:
  robot: {type: tabletop, max_steps: 4}
  episodes: 2
  split: seen
  gifs: 1
"""


def chunked_state_recipe(horizon: int = 4) -> str:
    """:data:`TINY_RECIPE` whose model reads the state and whose codec writes chunks of ``horizon``."""
    text = TINY_RECIPE.replace(
        "codec: {type: uniform-bins, bins: 16}",
        f"codec: {{type: uniform-bins, bins: 16, horizon: {horizon}}}",
    )
    return text.replace("model:\n", "model:\n  use_state: true\n")


def export_tiny_bundle(
    tmp: Path, text: str, name: str, cameras: tuple[str, ...] = ("top",), state_dim: int = 0
) -> Path:
    """Write ``tmp/name.yaml`` and export its untrained model as the bundle ``tmp/name``.

    ``state_dim``: width of the state the model reads (the recipe needs ``model.use_state``).
    """
    from vlakit_tabletop.sim import ACTION_SPACE

    from vlakit.model import build_codec, build_vla
    from vlakit.plugins import get_registry
    from vlakit.policy.export import export_vla
    from vlakit.recipes import load_recipe

    (tmp / f"{name}.yaml").write_text(text)
    recipe = load_recipe(tmp / f"{name}.yaml")
    registry = get_registry()
    codec = build_codec(recipe.model, registry)
    torch.manual_seed(0)  # the untrained policy's weights, so its behaviour does not depend on test order
    rng = np.random.default_rng(0)
    codec.fit(rng.uniform(ACTION_SPACE.low_array, ACTION_SPACE.high_array, size=(64, 4)).astype(np.float32))
    vla = build_vla(recipe.model, registry, codec, list(cameras), state_dim)
    robot = {
        "action_space": ACTION_SPACE.to_dict(),
        "cameras": list(cameras),
        "state_dim": state_dim,
        "horizon": codec.horizon,
    }
    return export_vla(tmp / name, vla, recipe, robot)
