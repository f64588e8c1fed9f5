"""Config models of the tabletop components (validated from recipe blocks, unknown keys refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from vlakit_tabletop.vocab import FAMILIES, SPLITS

from vlakit import ComponentConfig

Family = Literal[FAMILIES]  # the task families of vlakit_tabletop.vocab, as a type the recipe schema lists
Split = Literal[SPLITS]
Camera = Literal["top", "wrist"]


def _cameras(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError(f"cameras are named once each, got {value}")
    return value

ALL_FAMILIES: list[Family] = list(FAMILIES)


def _all_families() -> list[Family]:
    return list(ALL_FAMILIES)


class _SceneOptions(ComponentConfig):
    """Scene options shared by the simulator and the demonstrations (keep them equal in a recipe)."""

    min_objects: int = Field(
        3, ge=1, le=5, description="fewest objects in a scene (families needing more get more)"
    )
    max_objects: int = Field(5, ge=1, le=5, description="most objects in a scene")

    @model_validator(mode="after")
    def _objects_range(self) -> _SceneOptions:
        if self.min_objects > self.max_objects:
            raise ValueError(
                f"min_objects ({self.min_objects}) is larger than max_objects ({self.max_objects})"
            )
        return self


class TabletopConfig(_SceneOptions):
    """The ``tabletop`` simulator driver."""

    image_size: int = Field(64, ge=32, le=512, description="side of the square top camera image, pixels")
    split: Split = Field("seen", description="task split of reset_task when none is given, and of connect()")
    families: list[Family] = Field(
        default_factory=_all_families, min_length=1, description="task families reset_task draws from"
    )
    max_steps: int = Field(40, ge=1, description="step budget of one task (episode)")
    seed: int = Field(0, description="seed of the task set up by connect()")
    cameras: list[Camera] = Field(
        ["top"], min_length=1, description="cameras observed: top (the table) and wrist (around the gripper)"
    )

    _unique_cameras = field_validator("cameras")(_cameras)

    def task_splits(self) -> tuple[str, ...]:
        """The splits of :attr:`TabletopDriver.splits`: seen, unseen, vqa-only."""
        return SPLITS


class TabletopDemosConfig(_SceneOptions):
    """The ``tabletop-demos`` dataset: scripted-expert demonstrations on the seen split."""

    episodes: int = Field(2000, ge=1, description="number of demonstrations")
    cameras: list[Camera] = Field(
        ["top"], min_length=1, description="cameras of each sample: top (the table) and wrist (around the gripper)"
    )

    _unique_cameras = field_validator("cameras")(_cameras)
    seed: int = Field(0, description="dataset seed (episode e uses task seed demo_task_seed(seed, e))")
    image_size: int = Field(64, ge=32, le=512, description="side of the square top camera image, pixels")
    families: list[Family] = Field(default_factory=_all_families, min_length=1, description="task families")
    noise: float = Field(
        0.01, ge=0.0, le=0.05, description="std of the expert's executed motion noise, table units"
    )
    max_steps: int = Field(40, ge=5, description="longest demonstration, steps")
    mistakes: float = Field(
        0.05,
        ge=0.0,
        le=0.5,
        description="probability per step that the expert executes a random action (labels stay clean), "
        "so demonstrations show recoveries",
    )
    moves: Literal["sign", "clipped"] = Field(
        "sign",
        description="expert motion per axis: sign = exactly 0 or +-max step (3 levels, easiest to learn); "
        "clipped = clip(goal - position, +-max step)",
    )


#: Kinds of ``tabletop-vqa`` questions (see :data:`vlakit_tabletop.vqa.QUESTIONS`).
QuestionKind = Literal[
    "colour",
    "shape",
    "count",
    "exists",
    "relation",
    "extreme",
    "size",
    "closest",
    "where",
    "gripper",
    "from-gripper",
    "number",
    "locate",
]


class TabletopVQAConfig(ComponentConfig):
    """The ``tabletop-vqa`` dataset: questions and short answers about rendered tabletop scenes."""

    samples: int = Field(20000, ge=1, description="number of question-answer pairs")
    seed: int = Field(0, description="dataset seed")
    image_size: int = Field(64, ge=32, le=512, description="side of the square image, pixels")
    questions: list[QuestionKind] | None = Field(
        None,
        min_length=1,
        description="question kinds to draw from (default: all), e.g. [from-gripper, where, locate] "
        "for grounding questions only: where a named object is",
    )


class AimPointConfig(ComponentConfig):
    """The ``aim-point`` objective: a head on the image tokens regresses a point target."""

    target: str = Field(
        "aim",
        min_length=1,
        description="name of the point target, float32 [2] (x, y) fractions of its camera's image "
        "(tabletop-demos and tabletop-vqa: aim, where the gripper heads for)",
    )
