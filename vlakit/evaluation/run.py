"""``evaluate_bundle``: score a trained policy on a task environment and write the report."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from vlakit.errors import RecipeError, RobotError, VlakitError
from vlakit.evaluation.lockstep import EpisodeJob, EpisodeRecord, as_task_environment, run_lockstep
from vlakit.evaluation.report import EvalReport, failure_counts, write_report
from vlakit.evaluation.stats import ALL, summarize
from vlakit.interfaces.robot import RobotDriver, TaskEnvironment
from vlakit.plugins import get_registry
from vlakit.recipes.schema import EvalSection
from vlakit.runtime.loop import check_action_space
from vlakit.runtime.protocols import BatchPolicy
from vlakit.runtime.robots import build_robot
from vlakit.runtime.safety import MaxDelta

#: Most environments stepped in lockstep (the batch size of the policy calls).
DEFAULT_NUM_ENVS = 32

Echo = Callable[[str], None]


def resolve_eval_section(
    base: EvalSection | None,
    robot_block: Mapping[str, Any] | None = None,
    split: str | None = None,
    episodes: int | None = None,
    seed: int | None = None,
    max_steps: int | None = None,
    gifs: int | None = None,
) -> EvalSection:
    """``base`` (a recipe's eval block) with the given settings replacing its own.

    Without ``base`` a ``robot_block`` is required; the other settings then take
    :class:`EvalSection`'s defaults.
    """
    if base is None and robot_block is None:
        installed = ", ".join(get_registry().names("robot")) or "none installed"
        raise VlakitError(
            "no evaluation settings: the bundle's recipe has no eval block; name a robot with "
            f"--robot TYPE (installed robot types: {installed}) or --robot FILE.yaml holding the robot block"
        )
    data: dict[str, Any] = base.model_dump() if base is not None else {}
    given = {
        "robot": dict(robot_block) if robot_block is not None else None,
        "split": split,
        "episodes": episodes,
        "seed": seed,
        "max_steps": max_steps,
        "gifs": gifs,
    }
    data.update({k: v for k, v in given.items() if v is not None})
    try:
        return EvalSection.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RecipeError(f"invalid evaluation settings: {problems}") from None


def resolve_splits(split: str, env: TaskEnvironment) -> tuple[str, ...]:
    """``"all"`` -> every split ``env`` offers; otherwise ``(split,)`` if the env offers it."""
    offered = tuple(env.splits)
    if split == ALL:
        return offered
    if split not in offered:
        raise RobotError(f"{type(env).__name__} has no task split {split!r}; it offers {', '.join(offered)}")
    return (split,)


def plan_jobs(splits: tuple[str, ...], episodes: int, seed: int, gifs: int) -> list[EpisodeJob]:
    """``episodes`` per split with seeds ``seed .. seed + episodes - 1``; ``gifs`` of them,
    spread evenly over the list (so over the splits), are recorded."""
    total = len(splits) * episodes
    recorded = (
        set(np.linspace(0, total - 1, num=min(gifs, total)).round().astype(int).tolist()) if gifs else set()
    )
    return [
        EpisodeJob(index=k * episodes + i, split=split, seed=seed + i, record=(k * episodes + i) in recorded)
        for k, split in enumerate(splits)
        for i in range(episodes)
    ]


def _progress(total: int, enabled: bool | None) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="eval", unit="episode", disable=None if enabled is None else not enabled)


def scores_tasks(eval_section: EvalSection) -> bool:
    """Whether ``eval_section``'s robot sets up tasks and judges success (a
    :class:`TaskEnvironment`, which evaluation needs), e.g. a simulator but not a physical arm.
    The robot is built, not connected."""
    return isinstance(build_robot(eval_section.robot, where="eval.robot"), TaskEnvironment)


def evaluate_policy(
    policy: BatchPolicy,
    eval_section: EvalSection,
    out_dir: str | Path,
    bundle: str | Path | None = None,
    num_envs: int | None = None,
    max_delta: MaxDelta | None = None,
    progress: bool | None = None,
    echo: Echo | None = print,
    timings: dict[str, float] | None = None,
) -> EvalReport:
    """Run ``eval_section`` with ``policy`` (anything with ``action_space`` and ``act_batch``).

    Builds ``min(episodes, num_envs or 32)`` environments from ``eval_section.robot`` (each must
    be a :class:`TaskEnvironment`), runs every episode in lockstep, writes the report into
    ``out_dir`` and prints the table through ``echo`` (``None``: silent). ``progress``: a tqdm bar
    (``None``: only on a terminal).
    """
    out_dir = Path(out_dir)
    first = as_task_environment(
        build_robot(eval_section.robot, where="eval.robot"), name=str(eval_section.robot.get("type"))
    )
    who = f"the policy of {bundle}" if bundle else "the policy"
    check_action_space(policy.action_space, first.action_space, who=who)
    splits = resolve_splits(eval_section.split, first)
    jobs = plan_jobs(splits, eval_section.episodes, eval_section.seed, eval_section.gifs)
    n_envs = max(1, min(len(jobs), num_envs or DEFAULT_NUM_ENVS))
    robots: list[RobotDriver] = [first] + [
        build_robot(eval_section.robot, where="eval.robot") for _ in range(n_envs - 1)
    ]
    bar = _progress(len(jobs), progress)
    wins = 0

    def tick(record: EpisodeRecord) -> None:
        nonlocal wins
        wins += record.success
        bar.update(1)
        bar.set_postfix_str(f"success {wins}/{bar.n}")

    try:
        with ExitStack() as stack:
            for robot in robots:
                stack.enter_context(robot)  # connect; on exit safe_stop + disconnect
            records, lock = run_lockstep(
                robots, policy, jobs, max_steps=eval_section.max_steps, max_delta=max_delta, on_episode=tick
            )
    finally:
        bar.close()
    settings = {
        "robot": eval_section.robot,
        "splits": list(splits),
        "episodes": eval_section.episodes,
        "seed": eval_section.seed,
        "max_steps": eval_section.max_steps or first.max_steps,
        "gifs": eval_section.gifs,
        "num_envs": n_envs,
        "decoding": getattr(policy, "decoding", None),  # a vlakit Policy's; None for other policies
        "confidence": 0.95,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "vlakit": _vlakit_version(),
    }
    times = dict(timings or {})
    times.update(
        total_s=lock.total,
        policy_s=lock.policy,
        env_s=lock.env,
        steps=lock.steps,
        policy_calls=lock.policy_calls,
        steps_per_s=lock.steps / lock.total if lock.total else 0.0,
    )
    report = EvalReport(
        out_dir=out_dir,
        episodes=records,
        groups=summarize((r.split, r.family, r.success) for r in records),
        settings=settings,
        timings=times,
        bundle=str(bundle) if bundle is not None else None,
    )
    write_report(report)
    if echo is not None:
        echo(report.table())
        failures = failure_counts(records)
        if failures:
            echo("failures: " + ", ".join(f"{k} {v}" for k, v in failures.most_common()))
        echo(f"report: {out_dir / 'report.md'}")
    return report


def _vlakit_version() -> str:
    from vlakit import __version__

    return __version__


def evaluate_bundle(
    bundle_path: str | Path,
    eval_section: EvalSection | None,
    out_dir: str | Path,
    robot_block: Mapping[str, Any] | None = None,
    split: str | None = None,
    episodes: int | None = None,
    *,
    seed: int | None = None,
    max_steps: int | None = None,
    gifs: int | None = None,
    num_envs: int | None = None,
    device: str = "cpu",
    decoding: str | None = None,
    base: str | Path | None = None,
    trusted_keys: Sequence[str | Path] = (),
    progress: bool | None = None,
    echo: Echo | None = print,
) -> EvalReport:
    """Load the bundle's policy and evaluate it (see :func:`evaluate_policy`).

    ``eval_section`` ``None`` takes the bundle recipe's eval block; ``robot_block``, ``split``,
    ``episodes``, ``seed``, ``max_steps`` and ``gifs`` replace the block's own values;
    ``decoding`` the recipe's ``model.decoding``; ``base`` and ``trusted_keys`` go to
    :meth:`Policy.load`.
    """
    from vlakit.policy.policy import Policy

    start = time.perf_counter()
    policy = Policy.load(bundle_path, device=device, decoding=decoding, base=base, trusted_keys=trusted_keys)
    load_s = time.perf_counter() - start
    section = resolve_eval_section(
        eval_section if eval_section is not None else policy.recipe.eval,
        robot_block,
        split,
        episodes,
        seed,
        max_steps,
        gifs,
    )
    return evaluate_policy(
        policy,
        section,
        out_dir,
        bundle=bundle_path,
        num_envs=num_envs,
        progress=progress,
        echo=echo,
        timings={"load_s": load_s},
    )
