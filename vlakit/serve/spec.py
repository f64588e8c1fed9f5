"""What a served policy expects and answers: cameras, state width, action space, chunk length."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlakit import __version__
from vlakit.types import ActionSpace

#: Name of the wire protocol in the metadata (openpi's websocket + msgpack-numpy).
PROTOCOL = "openpi-msgpack-numpy"


@dataclass(frozen=True)
class PolicySpec:
    """The inputs a bundle's policy needs and the shape of what it returns.

    ``cameras``: camera names, each sent as a ``uint8`` ``[H, W, 3]`` image; ``state_dim``: width
    ``S`` of the ``float32`` state (0: no state); ``horizon``: ``H`` of the action chunk
    ``[H, D]`` in robot units; ``codec``: the action codec's type name; ``state_names``: the
    state's dimensions when the bundle records them (else empty).
    """

    action_space: ActionSpace
    cameras: tuple[str, ...]
    state_dim: int
    horizon: int
    codec: str
    name: str = ""
    state_names: tuple[str, ...] = ()

    @property
    def image_keys(self) -> list[str]:
        """The openpi request keys of the camera images."""
        return [f"observation/{cam}" for cam in self.cameras]

    @classmethod
    def from_bundle(
        cls, bundle: str | Path, policy: Any, trusted_keys: Sequence[str | Path] = ()
    ) -> PolicySpec:
        """The spec of ``policy`` loaded from ``bundle``; the state width comes from the bundle's
        robot.json, as :meth:`Policy.load` read it (verified then), else read through
        :func:`read_bundle` (with ``trusted_keys``)."""
        robot = getattr(policy, "robot", None)
        if robot is None:
            from vlakit.policy.bundle import read_bundle

            robot = read_bundle(bundle, trusted_keys=trusted_keys).robot
        codec = policy.recipe.model.codec
        return cls(
            action_space=policy.action_space,
            cameras=tuple(policy.vla.cameras),
            state_dim=int(robot.get("state_dim", 0)),
            horizon=int(policy.horizon),
            codec=str(codec.get("type", "")) if isinstance(codec, dict) else str(codec),
            name=str(getattr(policy.recipe, "name", "") or Path(bundle).name),
            state_names=tuple(str(n) for n in robot.get("state_names", ())),
        )

    def metadata(self, **extra: Any) -> dict[str, Any]:
        """What the server sends on connect and at ``GET /metadata`` (plain msgpack/JSON types)."""
        return {
            "vlakit_version": __version__,
            "protocol": PROTOCOL,
            "policy": self.name,
            "action_space": self.action_space.to_dict(),
            "action_shape": [self.horizon, self.action_space.dim],
            "horizon": self.horizon,
            "cameras": list(self.cameras),
            "image_keys": self.image_keys,
            "state_dim": self.state_dim,
            "state_names": list(self.state_names),
            "state_key": "observation/state" if self.state_dim else None,
            "prompt_key": "prompt",
            "codec": self.codec,
            **extra,
        }
