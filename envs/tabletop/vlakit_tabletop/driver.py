"""The ``tabletop`` robot driver: the embedded simulator as a :class:`vlakit.RobotDriver` and
:class:`vlakit.TaskEnvironment`.

Evaluation::

    with TabletopDriver(TabletopConfig(split="unseen")) as robot:
        task = robot.reset_task(seed, "unseen")      # task.instruction, task.family, task.info
        while not robot.task_done():                   # terminate flag or max_steps
            robot.act(policy(robot.observe(), task.instruction))
        ok = robot.task_success()
"""

from __future__ import annotations

import numpy as np
from vlakit_tabletop.cameras import views
from vlakit_tabletop.config import TabletopConfig
from vlakit_tabletop.scene import Scene
from vlakit_tabletop.sim import ACTION_SPACE, STATE_NAMES, TabletopSim
from vlakit_tabletop.splits import VQA_ONLY_CONCEPTS, check_split
from vlakit_tabletop.tasks import TaskSpec, families_for, make_task
from vlakit_tabletop.vocab import SPLITS

from vlakit import ActionSpace, CameraSpec, Observation, RobotDriver, RobotError, Task, TaskEnvironment


class TabletopDriver(RobotDriver, TaskEnvironment):
    """A simulated top-down gripper over a table of coloured shapes, with language tasks.

    Action ``[dx, dy, grip, terminate]`` (table units per step, binary, binary); observation
    images ``{camera: uint8 [S, S, 3]}`` for ``config.cameras`` (``top``; ``wrist``, the quarter
    of the table around the gripper: :func:`~vlakit_tabletop.cameras.wrist_view`) and state ``[x, y, grip]`` ``float32``. :meth:`connect`
    sets up the task of ``config.seed`` in ``config.split``; :meth:`reset_task` any other.
    An episode ends when an action's terminate flag is set or after :attr:`max_steps` actions;
    later actions are ignored until the next :meth:`reset_task`.
    """

    #: Words that only the VQA data teaches (split ``vqa-only`` tests them).
    vqa_only_concepts: tuple[str, ...] = VQA_ONLY_CONCEPTS

    def __init__(self, config: TabletopConfig | None = None) -> None:
        self.config = config or TabletopConfig()
        self._sim: TabletopSim | None = None
        self._task: Task | None = None

    # ------------------------------------------------------------------ RobotDriver
    @property
    def action_space(self) -> ActionSpace:
        return ACTION_SPACE

    @property
    def cameras(self) -> dict[str, CameraSpec]:
        size = self.config.image_size
        return {name: CameraSpec(name, size, size) for name in self.config.cameras}

    @property
    def state_names(self) -> tuple[str, ...]:
        return STATE_NAMES

    @property
    def is_connected(self) -> bool:
        return self._sim is not None

    def connect(self) -> None:
        """Start the simulator and set up the task of ``config.seed`` in ``config.split``."""
        if self._sim is None:
            self._sim = TabletopSim(self.config.image_size)
            self.reset_task(self.config.seed, self.config.split)

    def _running(self) -> TabletopSim:
        if self._sim is None:
            raise RobotError("the tabletop simulator is not connected; call connect() first")
        return self._sim

    def observe(self) -> Observation:
        """Each camera's image ``uint8`` ``[S, S, 3]`` and state ``[x, y, grip]``; timestamp in sim seconds."""
        sim = self._running()
        return Observation(
            images=views(self.config.cameras, sim.render().copy(), sim.state()),
            state=sim.state(),
            timestamp=sim.steps / self.control_hz,
        )

    def act(self, action: np.ndarray) -> None:
        """Apply one action ``[dx, dy, grip, terminate]``; clamped to the action space."""
        sim = self._running()
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if a.shape != (ACTION_SPACE.dim,):
            raise RobotError(f"tabletop expects an action of {ACTION_SPACE.dim} values, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise RobotError(f"tabletop refuses a non-finite action {a.tolist()}")
        if self.done:
            return
        sim.step(np.clip(a, ACTION_SPACE.low_array, ACTION_SPACE.high_array))

    def safe_stop(self) -> None:
        """Stop: the simulated gripper has no momentum, so it just holds pose and grip (idempotent)."""

    def disconnect(self) -> None:
        """Shut the simulator down (idempotent)."""
        self._sim = None

    # -------------------------------------------------------------- TaskEnvironment
    @property
    def splits(self) -> tuple[str, ...]:
        return SPLITS

    @property
    def families(self) -> tuple[str, ...]:
        """Task families :meth:`reset_task` draws from."""
        return tuple(self.config.families)

    @property
    def max_steps(self) -> int:
        return self.config.max_steps

    def reset_task(self, seed: int, split: str | None = None, family: str | None = None) -> Task:
        """Set up the task of ``seed`` in ``split`` (default ``config.split``); deterministic.

        ``family`` forces one family (default: drawn from ``config.families`` by the seed). In
        split ``vqa-only`` only families that name an object are drawn.
        """
        sim = self._running()
        split = check_split(split or self.config.split)
        families = families_for(split, self.families) if family is None else (family,)
        scene, spec = make_task(
            seed, split, families, objects=(self.config.min_objects, self.config.max_objects)
        )
        sim.load(scene, spec)
        self._task = Task(
            instruction=spec.instruction,
            family=spec.family,
            split=split,
            seed=int(seed),
            info=spec.info(scene),
        )
        return self._task

    def task_success(self) -> bool:
        """Whether the current task is accomplished, judged from simulator state."""
        return self._running().success()

    def task_done(self) -> bool:
        """Whether the episode ended: the terminate flag was sent or :attr:`max_steps` actions ran."""
        return self.done

    def task_outcome(self) -> str:
        """``"success"`` or how the episode failed (see :data:`vlakit_tabletop.sim.OUTCOMES`):
        whether the gripper first closed on the target, on another object or on nothing."""
        return self._running().outcome()

    # ------------------------------------------------------------------- extras
    @property
    def task(self) -> Task | None:
        """The current task."""
        return self._task

    @property
    def steps(self) -> int:
        """Actions applied in the current episode."""
        return self._running().steps

    @property
    def done(self) -> bool:
        """Whether the episode ended (terminate flag set, or :attr:`max_steps` actions)."""
        sim = self._running()
        return sim.terminated or sim.steps >= self.config.max_steps

    @property
    def scene(self) -> Scene:
        """The live simulator scene (for tests and debugging; do not modify)."""
        sim = self._running()
        assert sim.scene is not None
        return sim.scene

    @property
    def spec(self) -> TaskSpec:
        """The live task spec (target, anchor, goal ...)."""
        sim = self._running()
        assert sim.spec is not None
        return sim.spec
