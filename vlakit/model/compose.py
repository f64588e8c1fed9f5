"""Building a :class:`~vlakit.model.vla.VLA` from a recipe's model section and the registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vlakit.data.collate import PromptTokenizer
from vlakit.errors import RecipeError
from vlakit.interfaces import ActionCodec, LanguageModel, VisionBackbone
from vlakit.interfaces.objective import IMAGE_TOKENS, ModelInfo, Objective
from vlakit.model.projector import build_projector
from vlakit.model.vla import VLA
from vlakit.plugins.registry import Registry
from vlakit.recipes.schema import ModelSection, plugin_params
from vlakit.tokens import ActionTokenMapping
from vlakit.types import TargetSpec


def build_codec(model: ModelSection, registry: Registry, state: dict[str, Any] | None = None) -> ActionCodec:
    """The recipe's codec, with its fitted ``state`` loaded when given."""
    codec = registry.build("codec", model.codec)
    check_decoding(codec, model.decoding)
    if state is not None:
        codec.load_state_dict(state)
    return codec


def check_decoding(codec: ActionCodec, decoding: str) -> None:
    """Refuse ``decoding: expectation`` with a codec that cannot decode by expectation."""
    if decoding == "expectation" and not codec.decodes_expectation:
        raise RecipeError(
            f"decoding: expectation needs a codec whose every symbol is one value (a bin codec); "
            f"{type(codec).__name__} cannot decode by expectation, use decoding: argmax"
        )


def prepare_language(language: LanguageModel, mapping: ActionTokenMapping) -> None:
    """Make room for the action tokens, wrap with LoRA, then make the action rows trainable.

    Order matters: the vocabulary is resized for appended action tokens *before* LoRA wraps the
    model, then the action-token rows are made trainable.
    """
    if mapping.vocab_size > language.vocab_size:
        language.resize_token_embeddings(mapping.vocab_size)
    language.apply_lora()
    language.trainable_token_rows(mapping.token_ids())


def build_vla(
    model: ModelSection,
    registry: Registry,
    codec: ActionCodec,
    cameras: Sequence[str],
    state_dim: int = 0,
    mapping_state: dict[str, Any] | None = None,
    language_weights: str | None = None,
    language_base: str | None = None,
    targets: dict[str, TargetSpec] | None = None,
) -> VLA:
    """Compose the VLA: language model, action-token mapping, LoRA, vision, projector and, given
    the training data's declared ``targets``, the recipe's objectives (training only: without
    ``targets`` the VLA has none, as a policy loaded from a bundle).

    With ``language_weights`` (a bundle's language folder) the language model is rebuilt from its
    saved weights (``language_base``: the base model an adapter-only save needs), which brings its
    own set-up; otherwise it is built from the recipe and prepared for training.
    """
    if language_weights is not None:
        language = registry.load_saved("language", model.language, language_weights, language_base)
    else:
        language = registry.build("language", model.language)
    if language.has_vision and model.vision is not None:
        raise RecipeError(
            f"model.vision: language model {model.language['type']!r} brings its own vision tower; "
            "set model.vision to null"
        )
    if not language.has_vision and model.vision is None:
        raise RecipeError(
            f"model.vision: language model {model.language['type']!r} has no vision tower; "
            "name a vision backbone"
        )
    if mapping_state is not None:
        mapping = ActionTokenMapping.from_dict(mapping_state)
    else:
        mapping = ActionTokenMapping.build(
            codec.num_symbols, language.tokenizer, model.token_mapping, language.vocab_size
        )
    if language_weights is None:
        prepare_language(language, mapping)
    vision = projector = None
    if not language.has_vision:
        vision = (
            registry.build("vision", model.vision)
            if language_weights is None
            else registry.build_without_weights("vision", model.vision)  # a bundle brings its weights
        )
        projector = build_projector(
            model.projector.kind, vision.feature_dim, language.hidden_size, model.projector.hidden
        )
    # Objectives are set up before the VLA makes its state projection and conditioner, so a
    # recipe's parameters are created in the order they were before objectives were plugins
    # (training is reproducible by seed across that change).
    objectives = []
    if targets is not None:
        objectives = build_objectives(model, registry, vision, cameras, language.hidden_size, targets)
    prompts = PromptTokenizer(language.tokenizer, model.prompt)
    return VLA(
        language=language,
        codec=codec,
        mapping=mapping,
        prompts=prompts,
        cameras=cameras,
        vision=vision,
        projector=projector,
        state_dim=state_dim if model.use_state else 0,
        objectives=objectives,
    )


def build_objectives(
    model: ModelSection,
    registry: Registry,
    vision: VisionBackbone | None,
    cameras: Sequence[str],
    width: int,
    targets: dict[str, TargetSpec],
) -> list[tuple[str, float, Objective]]:
    """The recipe's ``model.objectives``, set up on the model's shape: ``(name, weight,
    objective)`` each; one of weight 0 is off and not built. An objective that reads a target the data does not declare, or a model
    output the composition does not give, is a :class:`RecipeError`."""
    if not model.objectives:
        return []
    outputs = (IMAGE_TOKENS, *vision.output_names) if vision is not None else ()
    info = ModelInfo(
        cameras=tuple(cameras),
        image_tokens=vision.num_tokens if vision is not None else 0,
        token_width=width,
        outputs=outputs,
        targets=dict(targets),
    )
    built = []
    for i, block in enumerate(model.objectives):
        if float(block.get("weight", 1.0)) == 0.0:
            continue  # switched off (e.g. by an override): not built at all
        params = plugin_params("objective", block)
        name = str(params["type"])
        objective = registry.build("objective", params)
        where = f"model.objectives.{i} ({name})"
        missing = [t for t in objective.targets if t not in targets]
        if missing:
            raise RecipeError(
                f"{where} reads target(s) {missing} that no data.train source declares "
                f"(declared: {sorted(targets) or 'none'})"
            )
        unknown = [o for o in objective.outputs if o not in outputs]
        if unknown:
            raise RecipeError(
                f"{where} reads model output(s) {unknown} that this composition does not give "
                f"(it gives: {list(outputs) or 'none: the language model brings its own vision'})"
            )
        try:
            objective.setup(info)
        except ValueError as exc:
            raise RecipeError(f"{where}: {exc}") from None
        built.append((name, float(block.get("weight", 1.0)), objective))
    return built
