"""The safety layer every command passes before it reaches a robot.

Three checks, in this order, vectorized over any leading batch dimensions:

1. **finite**: a command holding NaN or infinity is *rejected* with :class:`UnsafeAction`. It is
   not replaced by the last safe command: a non-finite output means the policy is broken, and
   quietly holding position would hide that. The control loop answers the error with
   ``robot.safe_stop()`` and re-raises it;
2. **rate**: when ``max_delta`` is set, each dimension moves at most ``max_delta`` (robot units
   per tick) from the previous command that passed the layer;
3. **limits**: every dimension is clamped to the action space's ``[low, high]`` (applied last,
   so the limits always hold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from vlakit.errors import RobotError
from vlakit.types import ActionSpace

MaxDelta = float | Sequence[float] | Mapping[str, float] | np.ndarray


class UnsafeAction(RobotError):
    """A command the safety layer refuses to send (non-finite values or a wrong shape)."""


def delta_array(action_space: ActionSpace, max_delta: MaxDelta | None) -> np.ndarray | None:
    """``max_delta`` as a ``float32`` array ``[D]`` (``inf`` where unbounded), or ``None``.

    Accepts one number for every dimension, one number per dimension, or a mapping from
    dimension name to number (dimensions it does not name are unbounded).
    """
    if max_delta is None:
        return None
    d = action_space.dim
    if isinstance(max_delta, Mapping):
        unknown = sorted(set(max_delta) - set(action_space.names))
        if unknown:
            raise RobotError(
                f"max_delta names unknown action dimensions {unknown}; "
                f"the action space has {list(action_space.names)}"
            )
        out = np.full(d, np.inf, dtype=np.float32)
        for i, name in enumerate(action_space.names):
            if name in max_delta:
                out[i] = float(max_delta[name])
    else:
        out = np.asarray(max_delta, dtype=np.float32)
        if out.ndim == 0:
            out = np.full(d, float(out), dtype=np.float32)
        if out.shape != (d,):
            raise RobotError(
                f"max_delta needs one value or {d} values (one per dimension), got shape {out.shape}"
            )
    if np.isnan(out).any() or (out <= 0).any():
        raise RobotError(f"max_delta must be positive (got {out.tolist()})")
    return out


class SafetyLayer:
    """Reject non-finite commands, clamp to limits, bound the change per tick.

    ``action_space`` is the *robot's* space (its limits win); ``max_delta`` see
    :func:`delta_array`. :meth:`__call__` is the stateful form for one command stream (it
    remembers the last command it passed); :meth:`filter` is the stateless, batched form.
    """

    def __init__(self, action_space: ActionSpace, max_delta: MaxDelta | None = None) -> None:
        self.action_space = action_space
        self.low = action_space.low_array
        self.high = action_space.high_array
        self.max_delta = delta_array(action_space, max_delta)
        self.last: np.ndarray | None = None

    def reset(self, last: np.ndarray | None = None) -> None:
        """Forget the previous command, or set it (``[D]``; e.g. an arm's current joint targets)."""
        self.last = None if last is None else self.filter(last)

    def filter(self, action: np.ndarray, last: np.ndarray | None = None) -> np.ndarray:
        """Check ``action`` ``[..., D]`` against ``last`` (same shape, or ``None`` for no rate bound).

        Returns a new ``float32`` array of the same shape; raises :class:`UnsafeAction` when any
        value is NaN or infinite, or the last dimension is not ``D``.
        """
        a = np.asarray(action)
        d = self.action_space.dim
        if a.ndim == 0 or a.shape[-1] != d or not np.issubdtype(a.dtype, np.number):
            raise UnsafeAction(
                f"refused action of shape {a.shape} and dtype {a.dtype}: the robot takes {d} numbers "
                f"({', '.join(self.action_space.names)})"
            )
        a = a.astype(np.float32, copy=True)
        finite = np.isfinite(a)
        if not finite.all():
            bad = sorted({self.action_space.names[i] for i in np.nonzero(~finite)[-1]})
            raise UnsafeAction(
                f"refused non-finite action (NaN or infinity in {', '.join(bad)}): {a.tolist()}"
            )
        if self.max_delta is not None and last is not None:
            prev = np.asarray(last, dtype=np.float32)
            np.clip(a, prev - self.max_delta, prev + self.max_delta, out=a)
        np.clip(a, self.low, self.high, out=a)  # last, so the limits hold even if ``last`` broke them
        return a

    def __call__(self, action: np.ndarray) -> np.ndarray:
        """Check one command ``[D]`` against the previous one passed, and remember it."""
        if np.ndim(action) != 1:
            raise UnsafeAction(
                f"refused action of shape {np.shape(action)}: one command is [{self.action_space.dim}]"
            )
        safe = self.filter(action, self.last)
        self.last = safe
        return safe
