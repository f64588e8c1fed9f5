"""The plugin's CLI commands, added through ``register_commands``: ``vlakit emulate``,
``vlakit calibrate``, ``vlakit teleop`` and ``vlakit bench serial-arm``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def add_commands(cli: Any) -> None:
    import click

    @cli.command("emulate")
    @click.argument("profile")
    @click.option("--latency", type=click.FloatRange(min=0), default=0.0, help="Seconds before each reply.")
    @click.option("--silent", type=int, multiple=True, help="Id of a motor that never answers (repeatable).")
    @click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0, help="Probability a reply byte is lost.")
    @click.option("--flip-rate", type=click.FloatRange(0, 1), default=0.0, help="Probability a reply byte has a bit flipped.")
    @click.option("--error", "errors", multiple=True, metavar="ID=BITS", help="Error byte in a motor's status, e.g. 3=0x20.")
    @click.option("--echo", is_flag=True, help="Send every request back before replying (an echoing adapter).")
    @click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random faults.")
    @click.option(
        "--motion",
        type=click.Choice(["wave"]),
        help="Emulate a hand moving the joints along this scripted motion (a leader arm to teleoperate "
        "from); it advances while the arm is read.",
    )
    def emulate_command(
        profile: str,
        latency: float,
        silent: tuple[int, ...],
        drop_rate: float,
        flip_rate: float,
        errors: tuple[str, ...],
        echo: bool,
        seed: int,
        motion: str | None,
    ) -> None:
        """Emulate PROFILE's servos on a pseudo-terminal until interrupted.

        The first line printed is ``port: /dev/pts/N``: pass that port to the driver, to
        ``vlakit calibrate`` or to ``vlakit teleop``.
        """
        from vlakit_serial_arm.emulator.faults import Faults
        from vlakit_serial_arm.emulator.from_profile import emulator_for_profile
        from vlakit_serial_arm.profile import load_profile

        error_bits = {}
        for item in errors:
            key, _, value = item.partition("=")
            try:
                error_bits[int(key)] = int(value, 0)
            except ValueError:
                raise click.BadParameter(f"{item!r} is not ID=BITS (e.g. 3=0x20)", param_hint="--error") from None
        faults = Faults(latency, set(silent), drop_rate, flip_rate, error_bits, seed, echo)
        arm = load_profile(profile)
        emulator = emulator_for_profile(arm, faults=faults)
        if motion is not None:
            from vlakit_serial_arm.emulator.motion import ScriptedMotion

            emulator.motion = ScriptedMotion(arm, motion)
        port = emulator.start()
        click.echo(f"port: {port}")
        click.echo(f"emulating {profile} ({emulator.protocol}, ids {sorted(emulator.servos)}); Ctrl-C stops", err=True)
        try:
            emulator.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)

    @cli.command("calibrate")
    @click.option("--robot", "robot", required=True, metavar="PROFILE", help="Profile name or file.")
    @click.option("--port", required=True, help="Serial port of the arm.")
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Calibration file to write (default: where the driver looks).")
    @click.option("--non-interactive", is_flag=True, help="Take the present pose as zero and the profile's limits as ranges.")
    def calibrate_command(robot: str, port: str, output: Path | None, non_interactive: bool) -> None:
        """Record the zero pose and ranges of an arm's motors and write its calibration file."""
        from vlakit_serial_arm.calibrate import calibrate_from_limits, calibrate_interactive
        from vlakit_serial_arm.calibration import default_calibration_path, save_calibration
        from vlakit_serial_arm.driver import open_checked_bus
        from vlakit_serial_arm.profile import load_profile

        profile = load_profile(robot)
        bus = open_checked_bus(profile, port)
        try:
            if non_interactive:
                calibration = calibrate_from_limits(bus, profile)
            else:
                calibration = calibrate_interactive(bus, profile, click.echo, lambda: input())
        finally:
            bus.transport.close()
        path = output or default_calibration_path(profile)
        save_calibration(calibration, path)
        click.echo(f"calibration of {profile.name}: {path}")

    @cli.command("teleop")
    @click.option("--leader", required=True, metavar="PROFILE", help="Leader arm profile (name or file).")
    @click.option("--leader-port", required=True, help="Serial port of the leader arm.")
    @click.option("--follower", required=True, metavar="PROFILE", help="Follower arm profile (name or file).")
    @click.option("--follower-port", required=True, help="Serial port of the follower arm.")
    @click.option("--hz", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True, help="Control rate.")
    @click.option("--leader-calibration", type=click.Path(dir_okay=False), help="Leader calibration file.")
    @click.option("--follower-calibration", type=click.Path(dir_okay=False), help="Follower calibration file.")
    @click.option("--ticks", type=click.IntRange(min=1), help="Stop after this many ticks (default: until Ctrl-C).")
    @click.option(
        "--follower-cameras",
        metavar="YAML",
        help="The follower's cameras instead of its profile's, e.g. '{front: {source: 0}}' or, on an "
        "emulated arm, '{front: {source: emulated, height: 64, width: 64}}'.",
    )
    @click.option(
        "--record",
        type=click.Path(file_okay=False, path_type=Path),
        help="Record episodes (the follower's joints and cameras, the leader's positions as actions) into "
        "this dataset directory (appends when it exists).",
    )
    @click.option("--task", help="With --record: the instruction of the episodes (e.g. 'pick up the cube').")
    @click.option("--episodes", type=click.IntRange(min=1), default=1, show_default=True, help="With --record: episodes to record.")
    @click.option(
        "--episode-s",
        type=click.FloatRange(min=0, min_open=True),
        default=20.0,
        show_default=True,
        help="With --record: seconds per episode.",
    )
    @click.option(
        "--record-format",
        metavar="DATASET",
        help="With --record: dataset format to write (a dataset plugin that can write). Default: the only one installed.",
    )
    def teleop_command(
        leader: str,
        leader_port: str,
        follower: str,
        follower_port: str,
        hz: float,
        leader_calibration: str | None,
        follower_calibration: str | None,
        ticks: int | None,
        follower_cameras: str | None,
        record: Path | None,
        task: str | None,
        episodes: int,
        episode_s: float,
        record_format: str | None,
    ) -> None:
        """The follower arm mirrors the leader arm, through the follower's safety limits.

        With --record DIR, records --episodes episodes of --episode-s seconds each, of the
        instruction --task, into a dataset (the LeRobot format, with vlakit's lerobot plugin).
        """
        from vlakit_serial_arm.config import SerialArmConfig
        from vlakit_serial_arm.driver import SerialArmDriver
        from vlakit_serial_arm.teleop import teleoperate

        from vlakit.errors import VlakitError

        if record is not None and not task:
            raise VlakitError("--record needs --task: the instruction the recorded episodes carry")
        if record is not None and ticks is not None:
            raise VlakitError("--ticks does not apply with --record: episodes last --episode-s seconds")
        lead = SerialArmDriver(SerialArmConfig(profile=leader, port=leader_port, calibration=leader_calibration))
        follow = SerialArmDriver(
            SerialArmConfig(
                profile=follower,
                port=follower_port,
                calibration=follower_calibration,
                cameras=_cameras_option(follower_cameras),
            )
        )
        with lead, follow:
            click.echo(f"teleoperating {follow.profile.name} from {lead.profile.name} at {hz:g} Hz; Ctrl-C stops", err=True)
            try:
                if record is not None:
                    _record(lead, follow, record, str(task), episodes, max(1, round(episode_s * hz)), hz, record_format)
                    return
                result = teleoperate(lead, follow, hz, ticks)
            except KeyboardInterrupt:
                click.echo("stopped", err=True)
                return
        click.echo(f"{result.ticks} ticks in {result.seconds:.1f} s ({result.ticks / max(result.seconds, 1e-9):.1f} Hz)")

    group = cli.commands.get("bench") if hasattr(cli, "commands") else None
    target = group if isinstance(group, click.Group) else cli

    @target.command("serial-arm" if target is group else "bench-serial-arm")
    @click.option("--profile", "profiles", multiple=True, help="Profiles to emulate (default: so101-follower, koch-follower).")
    @click.option("--ticks", default=1000, show_default=True, help="Timed control ticks per profile.")
    def bench_serial_arm(profiles: tuple[str, ...], ticks: int) -> None:
        """Bytes and transactions per control tick vs the protocol minimum, driver CPU per tick,
        ticks/s through the emulator."""
        from vlakit_serial_arm.bench import bench_profile, format_result

        for name in profiles or ("so101-follower", "koch-follower"):
            click.echo(format_result(name, bench_profile(name, ticks)))


def _cameras_option(text: str | None) -> dict | None:
    """``--follower-cameras YAML`` -> the robot block's ``cameras`` mapping (validated by the
    driver's config); ``None`` keeps the profile's."""
    if text is None:
        return None
    import yaml

    from vlakit.errors import VlakitError

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VlakitError(f"--follower-cameras: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise VlakitError("--follower-cameras: a mapping of camera name to settings, e.g. '{front: {source: 0}}'")
    from pydantic import ValidationError
    from vlakit_serial_arm.cameras import CameraSettings

    cameras = {}
    for name, settings in data.items():
        try:
            cameras[str(name)] = CameraSettings.model_validate(settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in (name, *first["loc"]))
            raise VlakitError(f"--follower-cameras: {where}: {first['msg']}") from None
    return cameras


def _record(lead, follow, root: Path, task: str, episodes: int, ticks: int, hz: float, fmt: str | None) -> None:
    """Record ``episodes`` teleoperated episodes of ``ticks`` ticks into the dataset at ``root``."""
    import click
    from vlakit_serial_arm.teleop import record_teleop

    from vlakit.data.recording import open_recording, robot_spec
    from vlakit.plugins import get_registry

    spec = robot_spec(follow, hz, robot_type=follow.profile.name)
    with open_recording(get_registry(), root, spec, fmt) as writer:
        record_teleop(
            lead, follow, writer, task, episodes, ticks, hz,
            on_episode=lambda i, r: click.echo(f"episode {i + 1}/{episodes}: {r.ticks} frames in {r.seconds:.1f} s"),
        )
    click.echo(f"recorded {episodes} episodes of {task!r} into {root}")
