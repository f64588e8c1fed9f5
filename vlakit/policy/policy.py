"""A trained policy loaded from a bundle: observation + instruction -> action in robot units."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from vlakit.errors import BundleError
from vlakit.model import VLA, build_codec, build_vla
from vlakit.model.compose import check_decoding
from vlakit.plugins import get_registry
from vlakit.policy.bundle import BundleContents, read_bundle
from vlakit.recipes.schema import Decoding, Recipe
from vlakit.types import ActionSpace, Observation


class Policy:
    """Greedy, deterministic, KV-cached and constrained to action tokens.

    :meth:`act` returns one action ``[D]`` ``float32`` in robot units (a chunk ``[H, D]`` for
    codecs with a horizon ``H > 1``); :meth:`act_batch` does the same for ``B`` observations.
    ``decoding`` (default: the recipe's ``model.decoding``) is ``"argmax"`` (each value is what
    the most likely symbol decodes to) or ``"expectation"`` (the probability-weighted mean over
    the symbols; the tokens fed back are still the most likely ones) on the continuous dimensions
    and the most likely symbol's value on those the action space marks discrete.
    """

    def __init__(
        self,
        vla: VLA,
        action_space: ActionSpace,
        recipe: Recipe,
        use_cache: bool = True,
        decoding: str | None = None,
        robot: dict[str, Any] | None = None,
    ) -> None:
        self.vla = vla.eval()
        #: what the bundle records about the robot side (robot.json: cameras, state_dim, ...);
        #: ``None`` for a policy not loaded from a bundle
        self.robot = robot
        self.action_space = action_space
        self.recipe = recipe
        self.use_cache = use_cache
        self.decoding = decoding or recipe.model.decoding
        if self.decoding not in get_args(Decoding):
            raise ValueError(f"unknown decoding {self.decoding!r}; choose from {', '.join(get_args(Decoding))}")
        check_decoding(vla.codec, self.decoding)
        self._constraint: Any = None

    @property
    def horizon(self) -> int:
        return self.vla.codec.horizon

    @classmethod
    def load(
        cls,
        bundle: str | Path,
        device: str | torch.device = "cpu",
        decoding: str | None = None,
        base: str | Path | None = None,
        trusted_keys: Sequence[str | Path] = (),
    ) -> Policy:
        """Load a bundle written by ``vlakit train`` / ``vlakit export``; it is verified first
        (hashes, confinement, versions, plugins). ``decoding`` replaces the recipe's
        ``model.decoding``; ``base`` is the base model directory an adapter-only bundle needs
        (its hash must match the one recorded at export); ``trusted_keys`` (public key files)
        require a signature by one of them."""
        registry = get_registry()
        contents = read_bundle(bundle, trusted_keys=trusted_keys, registry=registry)
        try:
            vla = build_from_bundle(contents, base=None if base is None else str(base))
            space = ActionSpace.from_dict(contents.robot["action_space"])
            recipe = Recipe.model_validate(contents.recipe)
        except (KeyError, TypeError, ValueError, IndexError, OSError, SafetensorError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BundleError(f"{contents.path}: malformed bundle, cannot load it: {detail}") from exc
        vla.to(device)
        return cls(vla, space, recipe, decoding=decoding, robot=contents.robot)

    # -- inference ---------------------------------------------------------------------------
    def prefix(self, observations: Sequence[Observation], instructions: Sequence[str]):
        """Left-padded prefix: embeddings ``[B, P, E]`` and attention mask ``[B, P]``."""
        vla = self.vla
        images = {
            cam: torch.from_numpy(np.stack([np.asarray(o.images[cam]) for o in observations]))
            for cam in vla.cameras
        }
        state = None
        if vla.state_proj is not None:
            state = torch.from_numpy(np.stack([np.asarray(o.state, dtype=np.float32) for o in observations]))
        prompts = [vla.prompts.prompt_ids(text, robot=True) for text in instructions]
        t = max(len(p) for p in prompts)
        b = len(prompts)
        ids = torch.full((b, t), vla.prompts.pad, dtype=torch.long)
        text_mask = torch.zeros((b, t), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, t - len(p) :] = torch.tensor(p)
            text_mask[i, t - len(p) :] = 1
        built = vla.prefix(images, state, ids, text_mask, text_mask)
        return built.embeds, built.mask

    @torch.inference_mode()
    def act_batch(self, observations: Sequence[Observation], instructions: Sequence[str]) -> np.ndarray:
        """``B`` observations and instructions -> actions ``[B, D]`` (or chunks ``[B, H, D]``)."""
        from vlakit.tokens.constrained import SymbolConstraint, constrained_greedy

        if len(observations) != len(instructions):
            raise ValueError("one instruction per observation")
        embeds, mask = self.prefix(observations, instructions)
        if self._constraint is None or self._constraint.device != embeds.device:
            self._constraint = SymbolConstraint(self.vla.codec, embeds.device)
        expected = self.decoding == "expectation"
        out = constrained_greedy(
            self.vla.language,
            embeds,
            mask,
            self.vla.codec,
            self.vla.mapping,
            self.vla.language.embed_tokens,
            use_cache=self.use_cache,
            constraint=self._constraint,
            return_probs=expected,
        )
        if expected:
            actions = self.vla.codec.decode_expected(out[1], self.action_space.discrete).cpu().numpy()
        else:
            actions = np.asarray(self.vla.codec.decode(out.cpu().numpy()), dtype=np.float32)
        return actions[:, 0] if self.horizon == 1 else actions

    def act(self, observation: Observation, instruction: str) -> np.ndarray:
        """One observation -> action ``[D]`` in robot units (chunk ``[H, D]`` when ``H > 1``)."""
        return self.act_batch([observation], [instruction])[0]


def build_from_bundle(contents: BundleContents, base: str | None = None) -> VLA:
    """Rebuild the VLA of a verified bundle and load its weights (no training code involved);
    ``base``: the base model directory of an adapter-only language model."""
    recipe = Recipe.model_validate(contents.recipe)
    registry = get_registry()
    codec = build_codec(recipe.model, registry, contents.codec)
    robot: dict[str, Any] = contents.robot
    vla = build_vla(
        recipe.model,
        registry,
        codec,
        robot["cameras"],
        robot.get("state_dim", 0),
        mapping_state=contents.mapping,
        language_weights=str(contents.language_dir),
        language_base=base,
    )
    state = load_file(str(contents.weights))
    own = vla.state_dict()
    reshaped = [
        f"{k} {tuple(v.shape)} (model: {tuple(own[k].shape)})"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    retyped = [f"{k} {v.dtype} (model: {own[k].dtype})" for k, v in state.items() if k in own and v.dtype != own[k].dtype]
    if retyped:
        raise BundleError(f"{contents.path}: weights have other dtypes than the recipe's model: {', '.join(retyped[:5])}")
    if reshaped:
        raise BundleError(
            f"{contents.path}: weights do not fit the recipe's model (other shapes: {', '.join(reshaped[:5])})"
        )
    missing, unexpected = vla.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("language.")]
    if missing or unexpected:
        raise BundleError(
            f"{contents.path}: weights do not fit the recipe's model "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    return vla
