"""Tiny untrained bundles for the tabletop simulator, for tests of the commands that run them.

Import from a test module (``tests/`` is on ``sys.path`` under pytest)::

    from conftest_bundles import TINY_RECIPE, tiny_bundle
    bundle = tiny_bundle(tmp_path, TINY_RECIPE, "plain")

The bundle is exported from a freshly built (random) tiny VLA in about a second; its policy's
success rate means nothing.
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


def tiny_bundle(tmp: Path, text: str, name: str, nan_weights: bool = False) -> Path:
    """Export a random tiny VLA for the tabletop's action space from recipe ``text`` into ``tmp/name``.

    ``nan_weights`` fills the projector's weights with NaN *after* the export's checks (the file
    is rewritten and its hash updated), as a diverged training used to leave them.
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
    vla = build_vla(recipe.model, registry, codec, ["top"], 0)
    robot = {"action_space": ACTION_SPACE.to_dict(), "cameras": ["top"], "state_dim": 0, "horizon": 1}
    bundle = export_vla(tmp / name, vla, recipe, robot)
    if nan_weights:
        _poison_weights(bundle)
    return bundle


def _poison_weights(bundle: Path) -> None:
    import json

    from safetensors.torch import load_file, save_file

    from vlakit.policy.bundle import MANIFEST, sha256_file

    weights = bundle / "model.safetensors"
    state = load_file(str(weights))
    for name in state:
        if name.startswith("projector.") and state[name].is_floating_point():
            state[name] = torch.full_like(state[name], float("nan"))
    save_file(state, str(weights))
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"]["model.safetensors"] = sha256_file(weights)
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2))
