"""Evaluation: Wilson intervals, aggregation, lockstep episodes on the tabletop simulator, report files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlakit.errors import RobotError, UnknownComponentError, VlakitError
from vlakit.evaluation import (
    EpisodeJob,
    evaluate_policy,
    resolve_eval_section,
    run_lockstep,
    summarize,
    wilson_interval,
)
from vlakit.evaluation.run import plan_jobs, resolve_splits
from vlakit.evaluation.stats import format_table
from vlakit.recipes.schema import EvalSection
from vlakit.runtime.robots import build_robot, parse_robot_option
from vlakit.types import ActionSpace, Observation

vlakit_tabletop = pytest.importorskip("vlakit_tabletop")
from vlakit_tabletop.config import TabletopConfig  # noqa: E402
from vlakit_tabletop.driver import TabletopDriver  # noqa: E402
from vlakit_tabletop.expert import ScriptedExpert  # noqa: E402
from vlakit_tabletop.sim import ACTION_SPACE  # noqa: E402

# -- statistics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        # reference values: Wilson score interval, z = 1.959964 (e.g. statsmodels proportion_confint(method="wilson"))
        (8, 10, 0.4901625, 0.9433178),
        (0, 10, 0.0, 0.2775328),
        (10, 10, 0.7224672, 1.0),
        (50, 100, 0.4038315, 0.5961685),
        (1, 20, 0.0088815, 0.2361311),
    ],
)
def test_wilson_interval_known_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-6) and hi == pytest.approx(high, abs=1e-6)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(5, 10, confidence=0.99)
    assert lo < wilson_interval(5, 10)[0] and hi > wilson_interval(5, 10)[1]
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_summarize_groups_by_split_and_family() -> None:
    outcomes = [("seen", "pick", True)] * 3 + [("seen", "pick", False)] + [("seen", "place", False)] * 2
    outcomes += [("unseen", "pick", True), ("unseen", "place", True)]
    rows = {(r.split, r.family): r for r in summarize(outcomes)}
    assert [(k, r.successes, r.episodes) for k, r in rows.items()] == [
        (("seen", "pick"), 3, 4),
        (("seen", "place"), 0, 2),
        (("seen", "all"), 3, 6),
        (("unseen", "pick"), 1, 1),
        (("unseen", "place"), 1, 1),
        (("unseen", "all"), 2, 2),
        (("all", "pick"), 4, 5),
        (("all", "place"), 1, 3),
        (("all", "all"), 5, 8),
    ]
    assert rows[("seen", "pick")].rate == 0.75
    assert (rows[("seen", "pick")].ci_low, rows[("seen", "pick")].ci_high) == wilson_interval(3, 4)
    single = summarize([("seen", "pick", True)])
    assert [(r.split, r.family) for r in single] == [("seen", "pick"), ("seen", "all")]


def test_table_is_aligned_text() -> None:
    table = format_table(summarize([("seen", "pick", True), ("unseen", "place-next-to", False)]))
    lines = [line for line in table.splitlines() if line]
    assert lines[0].split() == ["split", "family", "episodes", "success", "rate", "95%", "CI"]
    assert "100.0%" in table and "[" in table
    # right-aligned numeric columns end at the same character
    ends = {line.index("%") for line in lines[2:]}
    assert len(ends) == 1


def test_plan_jobs_spreads_gifs_over_splits() -> None:
    jobs = plan_jobs(("seen", "unseen"), episodes=5, seed=100, gifs=3)
    assert [(j.split, j.seed) for j in jobs[:2]] == [("seen", 100), ("seen", 101)]
    assert [j.seed for j in jobs[5:]] == [100, 101, 102, 103, 104]
    recorded = [j for j in jobs if j.record]
    assert len(recorded) == 3 and {j.split for j in recorded} == {"seen", "unseen"}
    assert not any(j.record for j in plan_jobs(("seen",), 4, 0, gifs=0))


# -- settings and robots ----------------------------------------------------------------------


def test_resolve_eval_section() -> None:
    base = EvalSection(robot={"type": "tabletop"}, episodes=7, split="unseen")
    merged = resolve_eval_section(base, episodes=3, seed=5)
    assert (merged.episodes, merged.split, merged.seed, merged.robot) == (
        3,
        "unseen",
        5,
        {"type": "tabletop"},
    )
    assert resolve_eval_section(None, {"type": "tabletop"}).episodes == 100
    # names what is installed (the core knows no robot by name)
    with pytest.raises(VlakitError, match=r"--robot TYPE \(installed robot types: [^)]*tabletop"):
        resolve_eval_section(None)
    # any split name is accepted here; the robot says which it offers (resolve_splits)
    assert resolve_eval_section(base, split="vqa-only").split == "vqa-only"


def test_robot_option_and_build(tmp_path: Path) -> None:
    assert parse_robot_option("tabletop") == {"type": "tabletop"}
    f = tmp_path / "robot.yaml"
    f.write_text("type: tabletop\nmax_steps: 12\n")
    assert parse_robot_option(str(f)) == {"type": "tabletop", "max_steps": 12}
    f.write_text("robot: {type: tabletop, image_size: 32}\nepisodes: 3\n")
    assert parse_robot_option(str(f)) == {"type": "tabletop", "image_size": 32}
    with pytest.raises(RobotError, match="not found"):
        parse_robot_option(str(tmp_path / "missing.yaml"))
    robot = build_robot({"type": "tabletop", "max_steps": 12})
    assert isinstance(robot, TabletopDriver) and robot.max_steps == 12
    with pytest.raises(RobotError, match="eval.robot.max_step"):
        build_robot({"type": "tabletop", "max_step": 12}, where="eval.robot")
    with pytest.raises(UnknownComponentError, match="tabletop"):
        build_robot({"type": "tabletopp"})


# -- lockstep episodes on the simulator --------------------------------------------------------


class ExpertPolicy:
    """A policy-like object that answers with the scripted expert of the simulator it observes.

    It holds the environments (privileged state, as an oracle) and matches each observation to
    the environment showing exactly that image and state, so it relies on no ordering. Records
    every batch size it was called with.
    """

    def __init__(self, robots: Sequence[TabletopDriver], corrupt: int | None = None) -> None:
        self.robots = robots
        self.expert = ScriptedExpert(noise=0.0)
        self.action_space = ACTION_SPACE
        self.batches: list[int] = []
        self.corrupt = corrupt

    def act_batch(self, observations: Sequence[Observation], instructions: Sequence[str]) -> np.ndarray:
        self.batches.append(len(observations))
        out = []
        for obs, text in zip(observations, instructions):
            matches = [
                r
                for r in self.robots
                if np.array_equal(r.observe().state, obs.state)
                and np.array_equal(r.observe().images["top"], obs.images["top"])
            ]
            assert matches, "observation matches no running environment"
            robot = matches[0]
            assert robot.task is not None and robot.task.instruction == text
            action = self.expert.action(robot.scene, robot.spec)
            if self.corrupt is not None and robot.task.seed == self.corrupt:
                action = np.full(4, np.nan, dtype=np.float32)
            out.append(action)
        return np.stack(out)


def _connected(n: int, **config) -> list[TabletopDriver]:
    robots = [TabletopDriver(TabletopConfig(**config)) for _ in range(n)]
    for r in robots:
        r.connect()
    return robots


def test_lockstep_expert_reaches_high_success() -> None:
    robots = _connected(4, image_size=32)
    policy = ExpertPolicy(robots)
    jobs = [
        EpisodeJob(i, split, 500 + i % 9, record=i == 0)
        for i, split in enumerate(["seen"] * 9 + ["unseen"] * 9)
    ]
    records, timings = run_lockstep(robots, policy, jobs)
    assert [r.index for r in records] == list(range(18))
    assert {r.split for r in records} == {"seen", "unseen"}
    rate = np.mean([r.success for r in records])
    assert rate >= 0.9, [(r.family, r.instruction, r.success) for r in records]
    assert max(policy.batches) == 4
    assert len(policy.batches) == timings.policy_calls
    assert timings.steps == sum(r.steps for r in records)
    assert all(r.steps <= robots[0].max_steps for r in records)
    rec0 = records[0]
    assert len(rec0.frames) == rec0.steps + 1 and rec0.frames[0].shape == (32, 32, 3)
    assert not records[1].frames
    # the same seed and split set up the same task, whichever environment ran it
    again, _ = run_lockstep(robots[:1], ExpertPolicy(robots[:1]), jobs[:3])
    assert [(r.instruction, r.success, r.steps) for r in again] == [
        (r.instruction, r.success, r.steps) for r in records[:3]
    ]


def test_lockstep_respects_max_steps_and_unsafe_actions() -> None:
    robots = _connected(2)
    jobs = [EpisodeJob(i, "seen", 40 + i) for i in range(4)]
    records, _ = run_lockstep(robots, ExpertPolicy(robots, corrupt=42), jobs, max_steps=3)
    assert all(r.steps <= 3 for r in records)
    bad = records[2]
    assert bad.ended == "unsafe" and not bad.success and bad.steps == 0 and "non-finite" in bad.error
    assert [r.ended for r in records if r.index != 2] == ["max_steps"] * 3


def test_lockstep_refuses_wrong_action_space_before_acting() -> None:
    robots = _connected(1)
    policy = ExpertPolicy(robots)
    policy.action_space = ActionSpace(
        ("dx", "dy", "grip"), ("table", "table", "binary"), (-1, -1, 0), (1, 1, 1)
    )
    with pytest.raises(RobotError, match="action space"):
        run_lockstep(robots, policy, [EpisodeJob(0, "seen", 0)])
    assert robots[0].steps == 0 and policy.batches == []


def test_lockstep_rejects_bad_batch_shape() -> None:
    class Wrong:
        action_space = ACTION_SPACE

        def act_batch(self, observations, instructions):
            return np.zeros((len(observations), 3), dtype=np.float32)

    robots = _connected(1)
    with pytest.raises(RobotError, match="act_batch returned shape"):
        run_lockstep(robots, Wrong(), [EpisodeJob(0, "seen", 0)])


def test_lockstep_executes_action_chunks() -> None:
    class Chunky:
        """Always the same chunk of 3 tiny moves; counts its calls."""

        action_space = ACTION_SPACE
        calls = 0

        def act_batch(self, observations, instructions):
            self.calls += 1
            chunk = np.array([[0.01, 0, 0, 0], [0, 0.01, 0, 0], [-0.01, 0, 0, 0]], dtype=np.float32)
            return np.repeat(chunk[None], len(observations), axis=0)

    robots = _connected(2)
    policy = Chunky()
    records, timings = run_lockstep(robots, policy, [EpisodeJob(i, "seen", i) for i in range(2)], max_steps=7)
    assert [r.steps for r in records] == [7, 7] and policy.calls == 3 == timings.policy_calls


def test_non_task_environment_is_refused(tmp_path: Path) -> None:
    from test_runtime import SPACE, PointArm

    class Oracle:
        action_space = SPACE

    with pytest.raises(RobotError, match="PointArm is not a TaskEnvironment"):
        run_lockstep([PointArm()], Oracle(), [EpisodeJob(0, "seen", 0)])
    eval_section = EvalSection(robot={"type": "serial-arm", "port": str(tmp_path / "no-such-port")})
    with pytest.raises(RobotError, match=r"robot 'serial-arm' \(\w+\) is not a TaskEnvironment"):
        evaluate_policy(Oracle(), eval_section, tmp_path / "out", echo=None)
    assert not (tmp_path / "out").exists()


# -- the whole evaluation, report files ------------------------------------------------------


@pytest.fixture
def recorded_robots(monkeypatch: pytest.MonkeyPatch) -> list[TabletopDriver]:
    """Every robot that ``build_robot`` builds during the test, in order."""
    import vlakit.evaluation.run as run_module

    built: list[TabletopDriver] = []
    real = run_module.build_robot

    def build(block, registry=None, where="robot"):
        robot = real(block, registry, where)
        built.append(robot)
        return robot

    monkeypatch.setattr(run_module, "build_robot", build)
    return built


def test_evaluate_policy_writes_report(tmp_path: Path, recorded_robots: list[TabletopDriver]) -> None:
    policy = ExpertPolicy(recorded_robots)
    section = EvalSection(
        robot={"type": "tabletop", "image_size": 32}, episodes=6, split="all", seed=7, gifs=2
    )
    printed: list[str] = []
    report = evaluate_policy(
        policy, section, tmp_path / "eval", num_envs=4, progress=False, echo=printed.append
    )
    assert len(recorded_robots) == 4 and all(not r.is_connected for r in recorded_robots)
    splits = TabletopDriver().splits
    assert report.settings["splits"] == list(splits) and len(report.episodes) == 6 * len(splits)
    assert report.success_rate >= 0.85
    out = tmp_path / "eval"
    data = json.loads((out / "results.json").read_text())
    assert len(data["episodes"]) == 6 * len(splits)
    assert data["overall"]["episodes"] == 6 * len(splits)
    assert {g["split"] for g in data["groups"]} == {*splits, "all"}
    assert {"success", "instruction", "family", "split", "seed", "steps", "ended"} <= set(data["episodes"][0])
    with Image.open(out / "success_rate.png") as png:
        assert png.format == "PNG" and png.size[0] > 300
    gifs = sorted((out / "gifs").glob("*.gif"))
    assert len(gifs) == 2 and len(report.files["gifs"]) == 2
    for gif in gifs:
        assert "success" in gif.name or "failure" in gif.name
        with Image.open(gif) as im:
            assert im.format == "GIF" and im.n_frames > 1 and im.size == (256, 256)
    md = (out / "report.md").read_text()
    assert "success_rate.png" in md and "gifs/" in md and "| split | family |" in md and "Timings" in md
    assert printed[0] == report.table() and printed[-1].endswith("report.md")
    assert not list(out.rglob("*.tmp"))


def test_evaluate_policy_errors(tmp_path: Path) -> None:
    from test_runtime import ScriptedPolicy

    with pytest.raises(RobotError, match="no task split 'bogus'.*seen"):
        resolve_splits("bogus", TabletopDriver())
    assert resolve_splits("all", TabletopDriver()) == TabletopDriver().splits
    section = EvalSection(robot={"type": "tabletop"}, episodes=1)
    wrong = ScriptedPolicy(lambda t, obs: [0, 0])
    with pytest.raises(RobotError, match="action space"):
        evaluate_policy(wrong, section, tmp_path / "x", echo=None)
    assert not (tmp_path / "x").exists()


def test_wilson_interval_always_contains_the_rate() -> None:
    """Regression: rounding put 100 % just above its interval and the CI plot refused it."""
    from vlakit.evaluation.stats import wilson_interval

    for n in range(1, 400):
        for k in (0, 1, n // 2, n - 1, n):
            low, high = wilson_interval(k, n)
            assert low <= k / n <= high, (k, n, low, high)
