"""Teleoperation: a follower arm mirrors a leader arm, through the follower's safety layer;
optionally recorded, episode by episode, into a dataset (``vlakit teleop --record DIR``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from vlakit_serial_arm.driver import SerialArmDriver

from vlakit import Observation, RobotError
from vlakit.data.recording import record_episode
from vlakit.interfaces.writer import EpisodeWriter

log = logging.getLogger(__name__)


@dataclass
class TeleopResult:
    """Ticks run and seconds taken."""

    ticks: int
    seconds: float


def teleoperate(
    leader: SerialArmDriver,
    follower: SerialArmDriver,
    hz: float,
    max_ticks: int | None = None,
    on_step: Callable[[Observation, np.ndarray], None] | None = None,
) -> TeleopResult:
    """Each tick: read the leader, read the follower, command the follower to the leader's
    positions (bounded by the follower's profile limits and per-tick step). Both arms must be
    connected and have the same motor names and units. Runs ``max_ticks`` ticks (``None``:
    until interrupted); any error or Ctrl-C stops the follower safely and re-raises.
    ``on_step(observation, action)``: called each tick with what the follower saw (its joints
    and cameras) and the leader's positions ``[M]`` it was commanded to (e.g. to record)."""
    problem = leader.action_space.mismatch(follower.action_space)
    if problem is not None:
        raise RobotError(f"leader {leader.profile.name} cannot drive follower {follower.profile.name}: {problem}")
    period = 1.0 / hz if hz > 0 else 0.0
    ticks = 0
    start = next_tick = time.monotonic()
    try:
        while max_ticks is None or ticks < max_ticks:
            target = leader.observe().state
            seen = follower.observe()
            follower.act(target)
            if on_step is not None:
                on_step(seen, target)
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


def record_teleop(
    leader: SerialArmDriver,
    follower: SerialArmDriver,
    writer: EpisodeWriter,
    task: str,
    episodes: int,
    ticks_per_episode: int,
    hz: float,
    on_episode: Callable[[int, TeleopResult], None] | None = None,
) -> int:
    """Teleoperate ``episodes`` episodes of ``ticks_per_episode`` ticks, each recorded by
    ``writer`` as an episode of ``task`` (the follower's joints and cameras as the observation,
    the leader's positions as the action). An interrupted episode (Ctrl-C, an error) is
    discarded and the episodes before it are kept. Returns the episodes recorded."""
    done = 0
    for index in range(episodes):
        with record_episode(writer, task) as recorder:
            result = teleoperate(leader, follower, hz, ticks_per_episode, on_step=recorder)
        done += 1
        if on_episode is not None:
            on_episode(index, result)
    return done
