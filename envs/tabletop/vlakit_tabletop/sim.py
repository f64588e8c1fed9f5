"""The simulator's dynamics: a gripper that moves in the table plane, grasps, carries, releases.

One step applies an action ``[dx, dy, grip, terminate]`` (see :data:`ACTION_SPACE`):

1. the gripper moves by ``(dx, dy)`` (clipped to :data:`MAX_STEP` per axis and to the table); a
   carried object moves with it;
2. ``grip > 0.5`` closes the gripper: on closing, it grasps the nearest object whose centre lies
   within the object's radius + :data:`GRASP_TOL` of the gripper, and centres it under the gripper;
   ``grip <= 0.5`` opens it, releasing what it carries where it is;
3. ``terminate > 0.5`` ends the episode.
"""

from __future__ import annotations

import numpy as np
from vlakit_tabletop.render import Renderer
from vlakit_tabletop.scene import Scene
from vlakit_tabletop.tasks import TaskSpec, is_success

from vlakit.types import ActionSpace

#: Largest gripper displacement per step and axis, table units.
MAX_STEP = 0.1
#: Extra reach of a grasp beyond the object's radius, table units.
GRASP_TOL = 0.03

ACTION_SPACE = ActionSpace(
    names=("dx", "dy", "grip", "terminate"),
    units=("table", "table", "binary", "binary"),
    low=(-MAX_STEP, -MAX_STEP, 0.0, 0.0),
    high=(MAX_STEP, MAX_STEP, 1.0, 1.0),
    discrete=(False, False, True, True),  # grip and terminate are flags (> 0.5: on)
)
STATE_NAMES = ("x", "y", "grip")
#: Episode outcomes :meth:`TabletopSim.outcome` tells apart. "first" counts closings of the
#: gripper on an object; closing on empty table does not count. A wrong first grasp says which
#: object: the instruction's reference (the X of "next to the X" / "closest to the X"), a
#: look-alike of the target (same colour, or same shape), or another one.
OUTCOMES = (
    "success",
    "grasped nothing",
    "grasped the reference object first",
    "grasped a same-colour object first",
    "grasped a same-shape object first",
    "grasped another object first",
    "grasped the target, then failed",
)


class TabletopSim:
    """State, dynamics and rendering of one tabletop episode.

    :meth:`load` starts an episode from a scene and task; :meth:`step` applies one action;
    :meth:`render` and :meth:`state` give the observation; :meth:`success` judges the task.
    """

    def __init__(self, image_size: int = 64) -> None:
        self.renderer = Renderer(image_size)
        self.scene: Scene | None = None
        self.spec: TaskSpec | None = None
        self.steps = 0
        self.terminated = False
        self.first_grasped: int | None = None
        self._frame: np.ndarray | None = None

    def load(self, scene: Scene, spec: TaskSpec) -> None:
        """Start an episode (the scene is copied, so the caller's stays untouched)."""
        self.scene = scene.copy()
        self.spec = spec
        self.steps = 0
        self.terminated = False
        self.first_grasped = None
        self._frame = None

    def _require(self) -> Scene:
        if self.scene is None:
            raise RuntimeError("no episode loaded; call load() (or reset_task()) first")
        return self.scene

    def step(self, action: np.ndarray) -> None:
        """Apply one action ``[dx, dy, grip, terminate]`` (float, robot units)."""
        scene = self._require()
        dx = min(max(float(action[0]), -MAX_STEP), MAX_STEP)
        dy = min(max(float(action[1]), -MAX_STEP), MAX_STEP)
        x = min(max(scene.gripper_x + dx, 0.0), 1.0)
        y = min(max(scene.gripper_y + dy, 0.0), 1.0)
        scene.gripper_x, scene.gripper_y = x, y
        if scene.held is not None:
            obj = scene.objects[scene.held]
            obj.x, obj.y = x, y
        close = float(action[2]) > 0.5
        if close and not scene.closed:
            scene.closed = True
            scene.held = self._grasp_candidate(scene)
            if self.first_grasped is None:
                self.first_grasped = scene.held
            if scene.held is not None:
                obj = scene.objects[scene.held]
                obj.x, obj.y = x, y
        elif not close and scene.closed:
            scene.closed = False
            scene.held = None
        if float(action[3]) > 0.5:
            self.terminated = True
        self.steps += 1
        self._frame = None

    @staticmethod
    def _grasp_candidate(scene: Scene) -> int | None:
        """Index of the object a closing gripper grasps, or ``None``."""
        best, best_d = None, float("inf")
        for i, obj in enumerate(scene.objects):
            d = obj.distance(scene.gripper_x, scene.gripper_y)
            if d <= obj.radius + GRASP_TOL and d < best_d:
                best, best_d = i, d
        return best

    def render(self) -> np.ndarray:
        """The top camera image ``uint8`` ``[H, W, 3]`` (cached until the next step; do not modify)."""
        if self._frame is None:
            self._frame = self.renderer.render(self._require())
        return self._frame

    def state(self) -> np.ndarray:
        """Proprioceptive state ``[x, y, grip]`` ``float32`` (grip 1.0 when closed)."""
        scene = self._require()
        return np.array([scene.gripper_x, scene.gripper_y, float(scene.closed)], dtype=np.float32)

    def success(self) -> bool:
        """Whether the loaded task is accomplished."""
        scene = self._require()
        assert self.spec is not None
        return is_success(scene, self.spec)

    def outcome(self) -> str:
        """``"success"``, or which way the episode failed: :data:`OUTCOMES`."""
        if self.success():
            return "success"
        assert self.spec is not None
        if self.first_grasped is None:
            return "grasped nothing"
        if self.first_grasped == self.spec.target:
            return "grasped the target, then failed"
        if self.first_grasped == self.spec.anchor:
            return "grasped the reference object first"
        assert self.scene is not None
        wrong, target = self.scene.objects[self.first_grasped], self.scene.objects[self.spec.target]
        if wrong.colour == target.colour:
            return "grasped a same-colour object first"
        if wrong.shape == target.shape:
            return "grasped a same-shape object first"
        return "grasped another object first"
