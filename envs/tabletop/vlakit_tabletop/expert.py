"""The scripted expert: move to the target, grip, carry it to the goal, release, terminate.

It reads the simulator state (never the image). Its label is the clean action; the executed
action adds Gaussian noise to the motion (DART-style), so demonstrations visit slightly-off
states and show how to correct them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vlakit_tabletop.scene import Scene
from vlakit_tabletop.sim import MAX_STEP, TabletopSim
from vlakit_tabletop.tasks import PICK_FAMILIES, TaskSpec, drop_point


@dataclass
class ExpertEpisode:
    """One expert rollout of ``T`` steps: what was seen and the clean action labels.

    ``images`` ``uint8`` ``[T, H, W, 3]``; ``states`` ``float32`` ``[T, 3]``; ``actions``
    ``float32`` ``[T, 4]`` (clean labels); ``aims`` ``float32`` ``[T, 2]`` (where the expert is
    heading, table units: see :meth:`ScriptedExpert.aim`); ``anchors`` ``float32`` ``[T, 2]``
    (where the reference the instruction names is: :func:`anchor_point`; NaN where there is
    none); ``success`` judged by the simulator at the end.
    """

    images: np.ndarray
    states: np.ndarray
    actions: np.ndarray
    aims: np.ndarray
    anchors: np.ndarray
    success: bool


def anchor_point(scene: Scene, spec: TaskSpec) -> tuple[float, float] | None:
    """Where the reference the instruction names is, ``(x, y)`` table units: the object in
    "closest to the X" (always) and, once the target is held, the object in "next to the X", the
    digit pad in "on the number 3", the named place in "to the top left corner"; ``None`` in the
    pick and pick-size families and while a place family's target is not yet held (the reference
    then only distracts from the object to pick up)."""
    if spec.family not in PICK_FAMILIES and scene.held != spec.target:
        return None
    if spec.anchor is not None:
        return scene.objects[spec.anchor].position
    if spec.marker is not None:
        return scene.markers[spec.marker].position
    return spec.goal


#: How the expert moves each axis: ``sign`` steps by exactly ``-MAX_STEP``, ``0`` or ``+MAX_STEP``
#: (a dead zone of ``MAX_STEP / 2``; three action levels, the easiest to learn), ``clipped`` by
#: ``clip(goal - position, +-MAX_STEP)`` (continuous values, lands exactly).
MOVES = ("sign", "clipped")


class ScriptedExpert:
    """A closed-loop scripted policy that solves every task family.

    ``noise`` is the standard deviation (table units) added to executed motion; ``moves`` one
    of :data:`MOVES`; ``mistakes`` the probability per step that a random action is executed
    instead (a random move, half the time with the gripper toggled; never terminate), so that
    demonstrations show how to recover: open an empty grip, drop a wrong object, pick up again;
    the labels stay the clean actions throughout. The gripper counts as arrived when it is within the dead zone on both
    axes (``MAX_STEP / 2`` for ``sign``, ``0.02`` for ``clipped``).
    """

    def __init__(self, noise: float = 0.01, moves: str = "sign", mistakes: float = 0.0) -> None:
        if moves not in MOVES:
            raise ValueError(f"unknown expert moves {moves!r}; choose from {', '.join(MOVES)}")
        if not 0.0 <= mistakes < 1.0:
            raise ValueError(f"mistakes is a probability in [0, 1), got {mistakes}")
        self.noise = noise
        self.moves = moves
        self.mistakes = mistakes
        self.arrive_tol = MAX_STEP / 2 if moves == "sign" else 0.02

    def _toward(self, scene: Scene, x: float, y: float, grip: float) -> np.ndarray | None:
        dx, dy = x - scene.gripper_x, y - scene.gripper_y
        tol = self.arrive_tol
        if abs(dx) <= tol and abs(dy) <= tol:
            return None
        if self.moves == "sign":
            step = [MAX_STEP * np.sign(v) if abs(v) > tol else 0.0 for v in (dx, dy)]
        else:
            step = np.clip([dx, dy], -MAX_STEP, MAX_STEP)
        return np.array([step[0], step[1], grip, 0.0], dtype=np.float32)

    def action(self, scene: Scene, spec: TaskSpec) -> np.ndarray:
        """The clean action ``[dx, dy, grip, terminate]`` ``float32`` for the current state."""
        if scene.held is None:
            if scene.closed:  # closed on nothing: open first
                return np.zeros(4, dtype=np.float32)
            target = scene.objects[spec.target]
            move = self._toward(scene, target.x, target.y, grip=0.0)
            return move if move is not None else np.array([0, 0, 1, 0], dtype=np.float32)
        if scene.held != spec.target:  # holding the wrong object: put it down
            return np.zeros(4, dtype=np.float32)
        goal = drop_point(scene, spec)
        if goal is None:  # pick families: done while holding
            return np.array([0, 0, 1, 1], dtype=np.float32)
        move = self._toward(scene, goal[0], goal[1], grip=1.0)
        return move if move is not None else np.array([0, 0, 0, 1], dtype=np.float32)

    def aim(self, scene: Scene, spec: TaskSpec) -> tuple[float, float]:
        """Where the expert is heading, ``(x, y)`` in table units (= fractions of the image): the
        target until it holds it, then the drop point (the target itself for pick families)."""
        target = scene.objects[spec.target]
        goal = drop_point(scene, spec) if scene.held == spec.target else None
        return goal if goal is not None else (target.x, target.y)

    def perturb(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The action actually executed: sometimes a mistake; motion steps get noise."""
        if self.mistakes > 0 and rng.random() < self.mistakes and action[3] == 0:
            grip = 1.0 - action[2] if rng.random() < 0.5 else action[2]
            dx, dy = rng.uniform(-MAX_STEP, MAX_STEP, size=2)
            return np.array([dx, dy, grip, 0.0], dtype=np.float32)
        if self.noise <= 0 or (action[0] == 0 and action[1] == 0):
            return action
        out = action.copy()
        out[:2] = np.clip(out[:2] + rng.normal(0.0, self.noise, size=2), -MAX_STEP, MAX_STEP)
        return out

    def rollout(
        self, sim: TabletopSim, scene: Scene, spec: TaskSpec, rng: np.random.Generator, max_steps: int = 40
    ) -> ExpertEpisode:
        """Run one episode from ``scene`` in ``sim``, recording observations and clean labels."""
        sim.load(scene, spec)
        images, states, actions, aims, anchors = [], [], [], [], []
        while not sim.terminated and sim.steps < max_steps:
            images.append(sim.render())
            states.append(sim.state())
            assert sim.scene is not None
            label = self.action(sim.scene, spec)
            actions.append(label)
            aims.append(self.aim(sim.scene, spec))
            anchors.append(anchor_point(sim.scene, spec) or (np.nan, np.nan))
            sim.step(self.perturb(label, rng))
        return ExpertEpisode(
            images=np.stack(images),
            states=np.stack(states),
            actions=np.stack(actions),
            aims=np.asarray(aims, dtype=np.float32),
            anchors=np.asarray(anchors, dtype=np.float32),
            success=sim.success(),
        )
