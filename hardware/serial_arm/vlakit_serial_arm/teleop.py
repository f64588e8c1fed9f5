"""Teleoperation: a follower arm mirrors a leader arm, through the follower's safety layer."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from vlakit_serial_arm.driver import SerialArmDriver

from vlakit import RobotError

log = logging.getLogger(__name__)


@dataclass
class TeleopResult:
    """Ticks run and seconds taken."""

    ticks: int
    seconds: float


def teleoperate(leader: SerialArmDriver, follower: SerialArmDriver, hz: float, max_ticks: int | None = None) -> TeleopResult:
    """Each tick: read the leader, read the follower, command the follower to the leader's
    positions (bounded by the follower's profile limits and per-tick step). Both arms must be
    connected and have the same motor names and units. Runs ``max_ticks`` ticks (``None``:
    until interrupted); any error or Ctrl-C stops the follower safely and re-raises."""
    problem = leader.action_space.mismatch(follower.action_space)
    if problem is not None:
        raise RobotError(f"leader {leader.profile.name} cannot drive follower {follower.profile.name}: {problem}")
    period = 1.0 / hz if hz > 0 else 0.0
    ticks = 0
    start = next_tick = time.monotonic()
    try:
        while max_ticks is None or ticks < max_ticks:
            target = leader.observe().state
            follower.observe()
            follower.act(target)
            ticks += 1
            next_tick += period
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_tick = time.monotonic()
    except BaseException:
        try:
            follower.safe_stop()
        except Exception:  # the error that stopped teleoperation matters more; still reported
            log.exception("safe_stop() of %s failed", follower.profile.name)
        raise
    return TeleopResult(ticks, time.monotonic() - start)
