"""The robot side of serving: asynchronous chunk execution, ``vlakit run --policy ws://...``,
a server that goes away mid-episode, and the ``vlakit serve`` command itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from child_signals import sigint_as_in_a_terminal

import vlakit.cli.commands.run  # noqa: F401  (registers `vlakit run`)
import vlakit.cli.commands.serve  # noqa: F401  (registers `vlakit serve`)
from vlakit.cli.main import main
from vlakit.interfaces.robot import RobotDriver
from vlakit.policy.policy import Policy
from vlakit.runtime import run_episode
from vlakit.runtime.chunks import ChunkPrefetcher
from vlakit.serve.client import RemotePolicy
from vlakit.serve.errors import PolicyServerLost
from vlakit.serve.server import PolicyServer, ServerThread
from vlakit.serve.spec import PolicySpec
from vlakit.types import ActionSpace, CameraSpec, Observation

pytest.importorskip("vlakit_tabletop")

TIMEOUT = 30.0
LINE = ActionSpace(names=("x", "y"), units=("m", "m"), low=(-1e4, -1e4), high=(1e4, 1e4))


class Counter(RobotDriver):
    """A robot whose state is the tick count; it keeps every command and records safe stops."""

    def __init__(self, space: ActionSpace = LINE, cameras: dict[str, CameraSpec] | None = None) -> None:
        self.space = space
        self.cams = cameras or {}
        self.tick = 0
        self.commands: list[np.ndarray] = []
        self.mode = "off"
        self.stops = 0

    @property
    def action_space(self) -> ActionSpace:
        return self.space

    @property
    def cameras(self) -> dict[str, CameraSpec]:
        return self.cams

    @property
    def control_hz(self) -> float:
        return 50.0

    @property
    def is_connected(self) -> bool:
        return self.mode != "off"

    def connect(self) -> None:
        self.mode = "on"

    def observe(self) -> Observation:
        images = {
            name: np.full((c.height, c.width, 3), self.tick % 256, np.uint8) for name, c in self.cams.items()
        }
        return Observation(
            images=images, state=np.array([self.tick, 0.0, 0.0], np.float32), timestamp=self.tick
        )

    def act(self, action: np.ndarray) -> None:
        assert self.mode == "on", "command after a safe stop"
        self.commands.append(np.array(action))
        self.tick += 1

    def safe_stop(self) -> None:
        self.mode = "stopped"
        self.stops += 1

    def disconnect(self) -> None:
        self.mode = "off"


class ChunkFromTick:
    """Chunks ``[H, 2]`` whose step ``j`` is ``(tick + j, tick)``: each value names its own tick."""

    action_space = LINE

    def __init__(self, horizon: int, delay: float = 0.0, fail_after: int | None = None) -> None:
        self.horizon, self.delay, self.fail_after = horizon, delay, fail_after
        self.asked: list[int] = []

    def act(self, observation: Observation, instruction: str) -> np.ndarray:
        tick = int(observation.state[0])
        self.asked.append(tick)
        if self.fail_after is not None and len(self.asked) > self.fail_after:
            raise PolicyServerLost("the policy server went away (test)")
        time.sleep(self.delay)
        return np.array([[tick + j, tick] for j in range(self.horizon)], np.float32)


@pytest.mark.parametrize("delay", [0.0, 0.03])
def test_prefetched_chunks_stay_aligned_with_the_ticks(delay: float) -> None:
    """Whenever the next chunk arrives, the robot executes tick t's action at tick t: no gap, no repeat."""
    policy = ChunkFromTick(horizon=6, delay=delay)
    robot = Counter()
    robot.connect()
    with ChunkPrefetcher(policy, refill=0.5) as prefetcher:
        result = run_episode(robot, prefetcher, "count", 40, hz=100)
    assert result.actions[:, 0].tolist() == list(range(40))
    assert policy.asked[1] == 3  # the next chunk was asked for with half of the first still queued
    assert min(np.diff(policy.asked)) >= 3  # not every tick: one request per half chunk


def test_chunk_of_one_asks_every_tick_like_a_local_policy() -> None:
    policy = ChunkFromTick(horizon=1)
    robot = Counter()
    robot.connect()
    with ChunkPrefetcher(policy) as prefetcher:
        result = run_episode(robot, prefetcher, "count", 10, hz=0)
    assert policy.asked == list(range(10)) and result.actions[:, 0].tolist() == list(range(10))


def test_an_error_while_prefetching_stops_the_robot() -> None:
    policy = ChunkFromTick(horizon=4, fail_after=2)
    robot = Counter()
    robot.connect()
    with ChunkPrefetcher(policy) as prefetcher, pytest.raises(PolicyServerLost):
        run_episode(robot, prefetcher, "count", 100, hz=0)
    assert robot.mode == "stopped" and len(robot.commands) < 12


def test_a_failing_check_stops_at_once_with_actions_still_queued() -> None:
    robot = Counter()
    robot.connect()

    def check() -> None:
        if robot.tick >= 3:
            raise PolicyServerLost("the policy server went away (test)")

    with (
        ChunkPrefetcher(ChunkFromTick(horizon=20), check=check) as prefetcher,
        pytest.raises(PolicyServerLost),
    ):
        run_episode(robot, prefetcher, "count", 100, hz=0)
    assert len(robot.commands) == 3 and robot.stops == 1


def _serve(bundle: Path, policy: Policy | None = None) -> ServerThread:
    policy = policy or Policy.load(bundle)
    return ServerThread(PolicyServer(policy, PolicySpec.from_bundle(bundle, policy), port=0))


def test_server_shutdown_mid_episode_leaves_the_robot_safe(serve_bundles) -> None:
    from vlakit_tabletop.sim import ACTION_SPACE

    robot = Counter(ACTION_SPACE, {"top": CameraSpec("top", 64, 64)})
    server = _serve(serve_bundles["chunks"]).start()
    try:
        sent_when_stopped: list[int] = []

        def stop_server() -> None:
            _wait_for(lambda: len(robot.commands) >= 6)
            server.stop()
            sent_when_stopped.append(len(robot.commands))

        with (
            RemotePolicy(server.url, timeout=TIMEOUT) as remote,
            ChunkPrefetcher(remote, check=remote.check_connection) as policy,
        ):
            stopper = threading.Thread(target=stop_server, daemon=True)
            stopper.start()
            robot.connect()
            with pytest.raises(PolicyServerLost, match="went away"):
                run_episode(robot, policy, "pick up the red star", 2000, hz=100)
            stopper.join(TIMEOUT)
    finally:
        server.stop()
    assert robot.stops == 1 and robot.mode == "stopped"  # and no command after it (Counter.act checks)
    assert len(robot.commands) <= sent_when_stopped[0] + 2  # queued actions are not executed


def _wait_for(condition, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.005)


@pytest.mark.parametrize("name, refill", [("plain", 0.5), ("chunks", 0.0)])
def test_remote_episode_sends_the_same_commands_as_a_local_one(
    serve_bundles, name: str, refill: float
) -> None:
    """A robot driven by the served bundle and by the bundle loaded locally gets the same
    commands: for single actions, and for chunks with ``refill=0`` (no prefetching)."""
    from vlakit_tabletop.sim import ACTION_SPACE

    policy = Policy.load(serve_bundles[name])
    sent = {}
    with _serve(serve_bundles[name], policy) as server:
        for where in ("local", "remote"):
            robot = Counter(
                ACTION_SPACE, {"top": CameraSpec("top", 64, 64)}
            )  # what it sees changes every tick
            with (
                robot,
                RemotePolicy(server.url, timeout=TIMEOUT) as remote,
                ChunkPrefetcher(remote, refill=refill) as prefetcher,
            ):
                sent[where] = run_episode(
                    robot, policy if where == "local" else prefetcher, "go", 10, hz=0
                ).actions
    assert sent["local"].shape == (10, 4)
    np.testing.assert_array_equal(sent["remote"], sent["local"])


def test_remote_episode_on_the_simulator_scores_like_a_local_one(serve_bundles) -> None:
    from vlakit_tabletop.config import TabletopConfig
    from vlakit_tabletop.driver import TabletopDriver

    policy = Policy.load(serve_bundles["plain"])
    runs = {}
    with (
        _serve(serve_bundles["plain"], policy) as server,
        RemotePolicy(server.url, timeout=TIMEOUT) as remote,
    ):
        for where, acting in (("local", policy), ("remote", ChunkPrefetcher(remote))):
            robot = TabletopDriver(TabletopConfig(max_steps=6))
            with robot:
                task = robot.reset_task(5, "seen")
                result = run_episode(robot, acting, task.instruction, 6, hz=0)
                runs[where] = (result.actions, result.reason, robot.task_success())
    np.testing.assert_array_equal(runs["remote"][0], runs["local"][0])
    assert runs["remote"][1:] == runs["local"][1:]


def test_vlakit_run_with_a_served_policy(serve_bundles, capsys) -> None:
    with _serve(serve_bundles["chunks"]) as server:
        argv = [
            "run",
            "--policy",
            server.url,
            "--robot",
            "tabletop",
            "--hz",
            "0",
            "--max-steps",
            "6",
            "--seed",
            "2",
        ]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "chunks of 4" in out and " steps in " in out and "success:" in out
        assert main(["run", str(serve_bundles["chunks"]), "--policy", server.url, "--robot", "tabletop"]) == 2
        assert "not both" in capsys.readouterr().err
        assert main(["run", "--policy", server.url, "--robot", "tabletop", "--decoding", "argmax"]) == 2
        assert main(["run", "--policy", server.url]) == 2
        assert "needs --robot" in capsys.readouterr().err
    assert (
        main(["run", "--policy", server.url, "--robot", "tabletop", "--hz", "0"]) == 2
    )  # the server is gone
    assert "cannot reach the policy server" in capsys.readouterr().err
    assert main(["run", "--policy", "http://127.0.0.1:1", "--robot", "tabletop"]) == 2
    assert "websocket address" in capsys.readouterr().err


def test_vlakit_serve_port_in_use_is_a_clear_error(serve_bundles, capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", str(serve_bundles["plain"]), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter importing torch and loading the bundle: ~10-25 s
def test_vlakit_serve_command_serves_until_interrupted(serve_bundles) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlakit", "serve", str(serve_bundles["plain"]), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=sigint_as_in_a_terminal,
    )
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(60)
        assert lines and lines[0].startswith("serving"), (
            proc.stderr.read() if proc.poll() is not None else lines
        )
        url = lines[0].split(" on ")[1].split()[0]
        with urllib.request.urlopen(url.replace("ws://", "http://") + "/healthz", timeout=TIMEOUT) as r:
            assert r.read() == b"OK\n"
        with RemotePolicy(url, timeout=TIMEOUT) as remote:
            assert remote.act(Observation(images={"top": np.zeros((64, 64, 3), np.uint8)}), "go").shape == (
                1,
                4,
            )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
