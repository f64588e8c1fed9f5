"""``vlakit run``: one episode of a bundle's policy (local, or served: ``--policy ws://...``) on a
robot, through the safety layer."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click

from vlakit.cli.main import (
    FiniteFloatRange,
    bundle_load_options,
    cli,
    decoding_option,
    device_option,
    robot_option,
)
from vlakit.runtime.loop import DEFAULT_STALL_TIMEOUT


@cli.command("run")
@click.argument("bundle", type=click.Path(path_type=Path), required=False)
@click.option(
    "--policy",
    "policy_url",
    metavar="ws://HOST:PORT",
    help="Use the policy served there (vlakit serve) instead of a local BUNDLE.",
)
@click.option("--api-key", envvar="VLAKIT_API_KEY", help="API key of the policy server (or VLAKIT_API_KEY).")
@click.option(
    "--refill",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.5,
    show_default=True,
    help="With --policy: ask for the next action chunk when this fraction of the current one is left.",
)
@click.option(
    "--instruction", "-i", help="What to do. Default on a task environment: the instruction of its task."
)
@robot_option
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    help="Longest episode, in control ticks (default: the task's budget, else 100).",
)
@click.option(
    "--hz",
    type=FiniteFloatRange(min=0),
    help="Control rate in Hz (default: the robot's; 0: as fast as possible).",
)
@click.option(
    "--stall-timeout",
    type=FiniteFloatRange(min=0, min_open=True),
    default=DEFAULT_STALL_TIMEOUT,
    show_default=True,
    help="Seconds one policy call may take before the robot is stopped.",
)
@click.option(
    "--max-delta",
    type=click.FloatRange(min=0, min_open=True),
    help="Largest change of any action dimension per tick, robot units (default: unbounded).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Task seed, on a task environment.")
@click.option("--split", help="Task split, on a task environment (default: its first).")
@click.option(
    "--gif",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the episode's camera frames as an animated GIF.",
)
@click.option(
    "--record",
    type=click.Path(file_okay=False, path_type=Path),
    help="Record the episode (camera frames, state, commands sent) into this dataset directory "
    "(appends when it exists).",
)
@click.option(
    "--record-format",
    metavar="DATASET",
    help="Dataset format to record in (a dataset plugin that can write). Default: the only one installed.",
)
@device_option
@decoding_option
@bundle_load_options
def run_command(
    bundle: Path | None,
    policy_url: str | None,
    api_key: str | None,
    refill: float,
    instruction: str | None,
    robot: str | None,
    max_steps: int | None,
    hz: float | None,
    stall_timeout: float,
    max_delta: float | None,
    seed: int,
    split: str | None,
    gif: Path | None,
    record: Path | None,
    record_format: str | None,
    device: str,
    decoding: str | None,
    base: Path | None,
    trusted_keys: tuple[Path, ...],
) -> None:
    """Run BUNDLE's policy, or the one served at --policy ws://HOST:PORT, on a robot for one episode.

    The policy's action space is checked against the robot's before anything is sent; every
    command passes the safety layer; Ctrl-C, an error, a stalled policy or a lost server stops
    the robot safely. A served policy's action chunks are executed while the next is computed.
    """
    from vlakit.errors import VlakitError
    from vlakit.evaluation.media import save_gif
    from vlakit.evaluation.run import resolve_splits
    from vlakit.interfaces.robot import TaskEnvironment
    from vlakit.io import check_creatable_dir
    from vlakit.policy.policy import Policy
    from vlakit.runtime.loop import check_action_space, run_episode
    from vlakit.runtime.robots import build_robot, parse_robot_option

    if gif is not None:
        check_creatable_dir(gif.parent, "--gif")
    if (bundle is None) == (policy_url is None):
        raise VlakitError("give either a BUNDLE or --policy ws://HOST:PORT (a served policy), not both")
    stack = ExitStack()
    if policy_url is not None:
        if decoding is not None:
            raise VlakitError("--decoding applies to a local bundle; a served policy decodes as its server does")
        if not robot:
            raise VlakitError("--policy needs --robot TYPE or a YAML file (the server does not name a robot)")
        policy, source = _remote(stack, policy_url, api_key, stall_timeout, refill), policy_url
    else:
        policy = Policy.load(bundle, device=device, decoding=decoding, base=base, trusted_keys=trusted_keys)
        source = str(bundle)
    try:
        if robot:
            block = parse_robot_option(robot)
        elif policy.recipe.eval is not None:
            block = policy.recipe.eval.robot
        else:
            raise VlakitError(
                "the bundle's recipe names no robot (no eval block); pass --robot TYPE or a YAML file"
            )
        driver = build_robot(block, where="robot")
        check_action_space(policy.action_space, driver.action_space, who=f"the policy of {source}")
    except BaseException:
        stack.close()  # the connection to a policy server
        raise
    task = None
    with stack, driver:
        if isinstance(driver, TaskEnvironment):
            splits = resolve_splits(split, driver) if split else tuple(driver.splits[:1])
            if len(splits) != 1:
                raise VlakitError(f"--split {split}: vlakit run plays one split; choose one of {', '.join(driver.splits)}")
            task = driver.reset_task(seed, splits[0])
            click.echo(f"task ({task.split}, {task.family}, seed {seed}): {task.instruction}")
        elif split is not None:
            raise VlakitError(f"--split needs a task environment; {block['type']!r} is not one")
        text = instruction or (task.instruction if task is not None else None)
        if not text:
            raise VlakitError("--instruction is required for a robot that sets up no tasks")
        steps = max_steps or (driver.max_steps if isinstance(driver, TaskEnvironment) else 100)
        with ExitStack() as recording:
            on_step = None
            if record is not None:
                from vlakit.data.recording import open_recording, record_episode, robot_spec
                from vlakit.plugins import get_registry

                spec = robot_spec(driver, hz or None, robot_type=block["type"])
                writer = recording.enter_context(open_recording(get_registry(), record, spec, record_format))
                on_step = recording.enter_context(record_episode(writer, text))
            result = run_episode(
                driver, policy, text, steps, hz=hz, stall_timeout=stall_timeout, max_delta=max_delta,
                on_step=on_step,
            )
        if record is not None:
            click.echo(f"recorded {result.steps} frames into {record}")
        click.echo(
            f"{result.steps} steps in {result.seconds:.1f} s ({result.reason}); "
            f"policy {1000 * result.policy_seconds / max(1, result.steps):.0f} ms per step"
        )
        timing = result.timing()
        click.echo(
            f"rate {timing['hz']:.1f} Hz; loop time p50 {timing['p50_ms']:.1f} ms, p99 {timing['p99_ms']:.1f} ms; "
            f"overruns {timing['overruns']:.0f}"
        )
        if task is not None and text == task.instruction:
            click.echo(f"success: {'yes' if driver.task_success() else 'no'}")
    if gif is not None:
        if result.frames:
            save_gif(result.frames, gif, fps=driver.control_hz if hz is None or hz == 0 else hz)
            click.echo(f"gif: {gif}")
        else:
            click.echo("no camera frames to save", err=True)


def _remote(stack: ExitStack, url: str, api_key: str | None, timeout: float, refill: float):
    """The served policy at ``url``, its chunks executed while the next one is computed."""
    from vlakit.runtime.chunks import ChunkPrefetcher
    from vlakit.serve.client import RemotePolicy

    remote = stack.enter_context(RemotePolicy(url, api_key=api_key, timeout=timeout))
    click.echo(
        f"policy {remote.metadata.get('policy', '?')} at {url}: cameras {list(remote.cameras)}, "
        f"chunks of {remote.horizon}"
    )
    return stack.enter_context(ChunkPrefetcher(remote, refill=refill, check=remote.check_connection))
