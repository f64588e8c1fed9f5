"""Exporting a trained VLA as a bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from vlakit.model import VLA
from vlakit.plugins import get_registry
from vlakit.policy.bundle import plugin_records, write_bundle
from vlakit.recipes.schema import Recipe


def non_language_state(vla: VLA) -> dict[str, Any]:
    """Weights of everything but the language model and the objectives (vision, projector, state
    projector, conditioner): a policy runs no objective."""
    return {
        name: tensor.detach().contiguous().clone()
        for name, tensor in vla.state_dict().items()
        if not name.startswith(("language.", "objectives."))
    }


def export_vla(directory: str | Path, vla: VLA, recipe: Recipe, robot: dict[str, Any]) -> Path:
    """Write ``vla`` as a bundle into ``directory``.

    The language model writes its own weights (``LanguageModel.save_weights``): in full with
    LoRA merged, or as adapters with the hash of their base, as its config says. The bundle
    records the plugin distribution and version of each component.
    """
    model = recipe.to_dict()["model"]

    def write(folder: Path) -> None:
        save_file(non_language_state(vla), str(folder / "model.safetensors"))
        vla.language.save_weights(str(folder / "language"))

    return write_bundle(
        directory,
        write,
        recipe=recipe.to_dict(),
        codec=vla.codec.state_dict(),
        mapping=vla.mapping.to_dict(),
        robot=robot,
        plugins=plugin_records(model, get_registry()),
    )
