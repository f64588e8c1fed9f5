"""Recipe parameters of the ``lerobot`` dataset."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator
from vlakit_lerobot.errors import LeRobotFormatError

from vlakit import ComponentConfig

_RANGE = re.compile(r"^\s*(\d*)\s*:\s*(\d*)\s*$")


class LeRobotConfig(ComponentConfig):
    """A local LeRobot dataset (v3.0, v2.1 or v2.0) as robot samples."""

    root: str = Field(description="directory of the dataset (holding meta/info.json)")
    cameras: list[str] | None = Field(
        None,
        description="camera features to use, by key (observation.images.front) or short name (front); "
        "default: every camera of the dataset",
    )
    state: str | None = Field("observation.state", description="state feature key; null for no state")
    action: str = Field("action", description="action feature key")
    episodes: list[int | str] | None = Field(
        None, description="episode indices and 'start:stop' ranges to use (default: all)"
    )
    fraction: tuple[float, float] | None = Field(
        None,
        description="keep this [from, to) fraction of the chosen episodes, in order: e.g. [0, 0.9] to "
        "train and [0.9, 1] to validate",
    )
    image_size: int | None = Field(
        None, ge=8, le=4096, description="resize every camera to this square side, pixels (default: as stored)"
    )
    action_units: str | list[str] | None = Field(
        None,
        description="units of the action entries (one for all, or one each); default: what the dataset "
        "records (vlakit-written datasets do), else 'unknown'",
    )

    @field_validator("episodes")
    @classmethod
    def _ranges(cls, value: list[int | str] | None) -> list[int | str] | None:
        for item in value or []:
            if isinstance(item, int) and item < 0:
                raise ValueError(f"episode index {item} is negative")
            if isinstance(item, str) and not _RANGE.match(item):
                raise ValueError(f"episode range {item!r} must look like 'start:stop' (e.g. '0:50')")
        return value

    @model_validator(mode="after")
    def _fraction(self) -> LeRobotConfig:
        if self.fraction is not None:
            lo, hi = self.fraction
            if not 0.0 <= lo < hi <= 1.0:
                raise ValueError(f"fraction must be [from, to) with 0 <= from < to <= 1, got {list(self.fraction)}")
        return self

    def select(self, available: list[int]) -> list[int]:
        """The episode indices to use, out of the dataset's ``available`` ones, in order."""
        chosen: list[int] = []
        if self.episodes is None:
            chosen = list(available)
        else:
            have = set(available)
            top = max(available, default=-1) + 1
            for item in self.episodes:
                if isinstance(item, int):
                    if item not in have:
                        raise LeRobotFormatError(
                            f"episodes: the dataset has no episode {item} (it has {len(available)}: "
                            f"{min(available, default=0)}..{top - 1})"
                        )
                    picks = [item]
                else:
                    start, stop = _RANGE.match(item).groups()  # type: ignore[union-attr]
                    picks = list(range(int(start or 0), int(stop) if stop else top))
                chosen.extend(i for i in picks if i in have and i not in chosen)
        if self.fraction is not None:
            lo, hi = self.fraction
            n = len(chosen)
            chosen = chosen[int(round(lo * n)) : int(round(hi * n))]
        return chosen
