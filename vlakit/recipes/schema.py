"""The recipe's core sections as pydantic models.

Component blocks (``{type: NAME, ...params}``) are kept as mappings here; their params are
validated against the named plugin's own config model by :mod:`vlakit.recipes.validate`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Block = dict[str, Any]
#: How a policy turns each action token's distribution into a value (``model.decoding``).
Decoding = Literal["argmax", "expectation"]

DEFAULT_PROMPT = "What action should the robot take to {instruction}?"

#: Lightning's precisions (``trainer.precision``); 16, 32, 64 and bf16 are its short aliases.
Precision = Literal[
    "32-true", "64-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true",
    "transformer-engine", "transformer-engine-float16", "16", "32", "64", "bf16",
]
#: Lightning's accelerators (``trainer.accelerator``); whether this machine has one is checked
#: by the preflight (:mod:`vlakit.recipes.preflight`).
Accelerator = Literal["auto", "cpu", "gpu", "cuda", "mps", "tpu"]
#: Largest seed (Lightning and numpy take unsigned 32-bit seeds).
MAX_SEED = 2**32 - 1
#: A recipe name: it names the run directory, so no path separators and no leading dot.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


#: The parts of a composed model, the first word of each learning-rate group (``trainer.lr_scale``).
MODEL_PARTS = ("language", "vision", "projector", "state", "conditioner", "objectives")


class Section(BaseModel):
    """A recipe section: unknown keys are errors, and no number may be NaN or infinite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ProjectorConfig(Section):
    """Maps vision features ``[B, N, D]`` into the LM's embedding width ``E``."""

    kind: Literal["linear", "mlp"] = Field("mlp", description="one linear layer, or two with a GELU between")
    hidden: int | None = Field(None, ge=1, description="hidden width of the MLP (default: E)")


class ModelSection(Section):
    vision: Block | None = Field(None, description="vision backbone block; null when the LM brings its own")
    language: Block = Field(..., description="language model block")
    codec: Block = Field(..., description="action codec block")
    projector: ProjectorConfig = Field(ProjectorConfig(), description="maps vision tokens into the LM's width")
    token_mapping: Literal["append", "tail"] = Field(
        "append", description="append new ids for action symbols, or overwrite the vocabulary tail"
    )
    prompt: str = Field(DEFAULT_PROMPT, description="prompt template for robot samples; {instruction}")
    use_state: bool = Field(False, description="feed the proprioceptive state as one projected token")
    decoding: Decoding = Field(
        "argmax",
        description="how the policy turns each action token's distribution into a value: argmax, the most "
        "likely symbol (RT-2); expectation, the probability-weighted mean of what the symbols decode to "
        "(the next token still follows the most likely one), which lands between bins where the model "
        "hesitates instead of jumping from one to the other. Expectation needs a codec whose every "
        "symbol is one value (the bin codecs). Inference only: vlakit eval/run --decoding override it",
    )
    objectives: list[Block] = Field(
        default_factory=list,
        description="auxiliary training losses, each {type: NAME, weight: W, ...params}: the objective "
        "reads named targets of the training data and model outputs, and W times each loss it returns is "
        "added to the next-token loss (logged unweighted as train/NAME); W = 0 switches it off. Training "
        "only: a bundle leaves them out",
    )


class DataSection(Section):
    train: list[Block] = Field(..., min_length=1, description="sources, each with an optional weight")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes (0: load in the training process)")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of the mixture's draws (batch order)")
    cache_dir: str = Field(".cache/vlakit", description="where datasets cache generated data")


class TrainerSection(Section):
    max_steps: int = Field(1000, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-4, gt=0)
    lr_scale: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description="learning-rate multiplier per parameter group of the composed model, e.g. {vision: 3.0}: "
        "a from-scratch vision backbone can take a larger step than a language model (default 1). The "
        "groups are the model's parts (language, vision, projector, state, conditioner, objectives) and "
        "the sub-groups a component declares (vision.NAME); a part's scale covers its sub-groups",
    )

    @field_validator("lr_scale")
    @classmethod
    def _model_parts(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = [key for key in value if key.split(".", 1)[0] not in MODEL_PARTS]
        if unknown:
            raise ValueError(f"{unknown} name no part of the model; parts: {', '.join(MODEL_PARTS)} (and PART.GROUP)")
        return value

    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["constant", "cosine", "linear"] = Field(
        "cosine", description="learning-rate decay after the warmup"
    )
    warmup_steps: int = Field(0, ge=0, description="steps of linear warmup from 0")
    gradient_clip: float | None = Field(1.0, ge=0, description="gradient norm clip (0 or null: none)")
    accumulate_grad_batches: int = Field(1, ge=1, description="batches per optimizer step")
    precision: Precision = Field("32-true", description="Lightning precision: 32-true, bf16-mixed, 16-mixed, ...")
    accelerator: Accelerator = Field("auto", description="cpu, gpu (cuda), mps, tpu, or auto (a GPU if any)")
    devices: int | Literal["auto"] | list[int] = Field(
        "auto",
        description="processes on this node: a count (>= 1), a list of device indices, or auto "
        "(every GPU, or one CPU process); no more than this machine has",
    )
    num_nodes: int = Field(1, ge=1, description="machines (launched by torchrun or SLURM)")
    strategy: Literal["auto", "ddp", "ddp_spawn", "fsdp", "deepspeed"] = Field(
        "auto", description="Lightning strategy for several devices"
    )
    seed: int = Field(
        0, ge=0, le=MAX_SEED, description="global seed (seed_everything): initialization and other random draws"
    )
    log_every: int = Field(10, ge=1, description="steps between logged metrics")
    checkpoint_every: int | None = Field(None, ge=1, description="steps between checkpoints (default: at the end)")
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice)")

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, value: Any) -> Any:
        """``precision: 16`` (a YAML number) means Lightning's alias ``"16"``."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("devices", mode="before")
    @classmethod
    def _devices_domain(cls, value: Any) -> Any:
        expected = "expected a count of at least 1, a list of distinct device indices (>= 0), or auto"
        if value == "auto":
            return value
        if isinstance(value, bool):
            raise ValueError(expected)
        if isinstance(value, int):
            if value < 1:
                raise ValueError(f"{expected} (-1, all devices, is not accepted: give the count)")
            return value
        if (
            isinstance(value, list)
            and value
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
            and len(set(value)) == len(value)
        ):
            return value
        raise ValueError(expected)


class EvalSection(Section):
    robot: Block = Field(..., description="robot driver block (a TaskEnvironment for scoring)")
    episodes: int = Field(100, ge=1, description="episodes per split")
    split: str = Field("all", description="a split the robot offers (seen, unseen, ...) or all")
    seed: int = Field(10_000, ge=0, le=MAX_SEED, description="seed of the first task (episode i uses seed + i)")
    max_steps: int | None = Field(None, ge=1, description="step budget of an episode (default: the robot's)")
    gifs: int = Field(3, ge=0, description="episodes saved as animated GIFs")


class Recipe(Section):
    """A whole recipe, after ``extends`` and overrides are resolved."""

    name: str = Field(
        ..., pattern=NAME_PATTERN,
        description="names the run directory <output_dir>/<name>/: letters, digits, '.', '_', '-'",
    )
    description: str = Field("", description="one line on what the recipe is")
    model: ModelSection = Field(..., description="the model slots and how they are joined")
    data: DataSection = Field(..., description="the training sources and how they are mixed")
    trainer: TrainerSection = Field(TrainerSection(), description="optimization and Lightning's Trainer")
    eval: EvalSection | None = Field(None, description="evaluation after training (null: none)")
    output_dir: str = Field("runs", description="where run directories are made")

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (what is printed and saved as the resolved recipe)."""
        return self.model_dump(mode="json")


#: (dotted location, component kind) of every component block, for validation.
def component_blocks(recipe_data: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The component blocks in a raw recipe mapping: (dotted path, kind, block)."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    model = recipe_data.get("model") or {}
    if isinstance(model, dict):
        for slot, kind in (("vision", "vision"), ("language", "language"), ("codec", "codec")):
            if isinstance(model.get(slot), dict):
                found.append((f"model.{slot}", kind, model[slot]))
        if isinstance(model.get("objectives"), list):
            for i, block in enumerate(model["objectives"]):
                if isinstance(block, dict):
                    found.append((f"model.objectives.{i}", "objective", block))
    data = recipe_data.get("data") or {}
    if isinstance(data, dict) and isinstance(data.get("train"), list):
        for i, block in enumerate(data["train"]):
            if isinstance(block, dict):
                found.append((f"data.train.{i}", "dataset", block))
    ev = recipe_data.get("eval")
    if isinstance(ev, dict) and isinstance(ev.get("robot"), dict):
        found.append(("eval.robot", "robot", ev["robot"]))
    return found


#: per component kind, the keys of its blocks that belong to vlakit, not to the plugin (a
#: dataset's mixture weight, an objective's loss weight)
CORE_KEYS: dict[str, tuple[str, ...]] = {"dataset": ("weight",), "objective": ("weight",)}


def plugin_params(kind: str, block: dict[str, Any]) -> dict[str, Any]:
    """A component block without vlakit's own keys (:data:`CORE_KEYS`): what the plugin's
    config model validates (``type`` is kept)."""
    core = CORE_KEYS.get(kind, ())
    return {k: v for k, v in block.items() if k not in core}
