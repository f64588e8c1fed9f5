"""The ``serial-arm`` robot driver: a profile's motors on one serial bus.

Per tick, :meth:`observe` is one group read of present positions and :meth:`act` one group
write of goal positions. Commands pass vlakit's safety layer with the profile's limits,
bounded per tick around the positions read that tick, so an arm never jumps.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from vlakit_serial_arm.bus import MotorBus
from vlakit_serial_arm.calibration import (
    Calibration,
    Normalizer,
    default_calibration_path,
    load_calibration,
    nominal_calibration,
)
from vlakit_serial_arm.cameras import Camera, make_camera
from vlakit_serial_arm.config import SerialArmConfig
from vlakit_serial_arm.control_table import FieldSpec
from vlakit_serial_arm.emulator.from_profile import emulator_for_profile
from vlakit_serial_arm.emulator.server import Emulator
from vlakit_serial_arm.errors import BusError
from vlakit_serial_arm.profile import ArmProfile, load_profile
from vlakit_serial_arm.transport import SerialTransport

from vlakit import ActionSpace, CameraSpec, Observation, RobotDriver, RobotError, SafetyLayer

log = logging.getLogger(__name__)


def open_checked_bus(profile: ArmProfile, port: str) -> MotorBus:
    """Open ``port`` for ``profile``'s bus, ping every motor and check its model number.

    Raises :class:`BusError` naming every motor that did not answer or is of another model.
    """
    transport = SerialTransport(port, profile.baudrate, profile.protocol)
    transport.open()
    bus = MotorBus(transport, profile.protocol, profile.timeout_s, profile.retries)
    problems: dict[int, str] = {}
    for name, motor in profile.motors.items():
        table = profile.table(name)
        try:
            number = bus.ping(motor.id, table.field("model_number"))
        except BusError as exc:
            problems[motor.id] = f"{name} (id {motor.id}): {exc.missing.get(motor.id, 'no reply')}"
            continue
        if number != table.model_number:
            problems[motor.id] = (
                f"{name} (id {motor.id}): model number {number}, expected {table.model_number} ({motor.model})"
            )
    if problems:
        transport.close()
        raise BusError(f"robot {profile.name} on {port}: " + "; ".join(problems.values()), problems)
    return bus


def motor_fields(profile: ArmProfile, name: str) -> dict[int, FieldSpec]:
    """``{id: field}`` of the control-table field ``name`` of every motor of ``profile``."""
    return {m.id: profile.table(n).field(name) for n, m in profile.motors.items()}


class SerialArmDriver(RobotDriver):
    """A serial-bus arm described by a profile (see :class:`SerialArmConfig`).

    Actions and states are ``float32`` ``[M]`` in the profile's units (degrees for joints,
    0..100 for a gripper), in the profile's motor order. A ``leader`` arm is observed only.
    """

    def __init__(self, config: SerialArmConfig, profile: ArmProfile | None = None) -> None:
        self.config = config
        self.profile = profile or load_profile(config.profile)
        if config.cameras is not None:
            self.profile = self.profile.model_copy(update={"cameras": config.cameras})
        if config.port is None and not config.emulate:
            raise RobotError(
                f"robot {self.profile.name}: give the serial port (port: /dev/ttyUSB0) or emulate: true"
            )
        names = tuple(self.profile.motors)
        motors = list(self.profile.motors.values())
        self._space = ActionSpace(
            names=names,
            units=tuple(m.unit for m in motors),
            low=tuple(float(m.limits[0]) for m in motors),
            high=tuple(float(m.limits[1]) for m in motors),
        )
        self.safety = SafetyLayer(self._space, self.profile.max_steps())
        self.ids = [m.id for m in motors]
        self._present_field = motor_fields(self.profile, "present_position")
        self._goal_field = motor_fields(self.profile, "goal_position")
        self._torque_field = motor_fields(self.profile, "torque_enable")
        self._hardware_status = {
            m.id: self.profile.table(n).fields["hardware_error_status"]
            for n, m in self.profile.motors.items()
            if "hardware_error_status" in self.profile.table(n).fields
        }
        self._names = {m.id: n for n, m in self.profile.motors.items()}
        #: hardware warnings of the motors (overload, overheating, ...) by motor name, latest first seen
        self.alerts: dict[str, list[str]] = {}
        self.cameras_open: dict[str, Camera] = {}
        self.emulator: Emulator | None = None
        self.bus: MotorBus | None = None
        self.normalizer: Normalizer | None = None
        self.calibration: Calibration | None = None
        self.present: np.ndarray | None = None  # normalized positions read this tick
        self._torque_on = False
        self._lock = threading.RLock()
        self._last_act = 0.0
        self._watchdog: threading.Thread | None = None
        self._stop_watchdog = threading.Event()

    # -- description --------------------------------------------------------------------------

    @property
    def action_space(self) -> ActionSpace:
        return self._space

    @property
    def cameras(self) -> dict[str, CameraSpec]:
        return {n: CameraSpec(n, c.height, c.width) for n, c in self.profile.cameras.items()}

    @property
    def state_names(self) -> tuple[str, ...]:
        return self._space.names

    @property
    def control_hz(self) -> float:
        return self.config.control_hz or self.profile.control_hz

    @property
    def is_connected(self) -> bool:
        return self.bus is not None

    # -- connection ---------------------------------------------------------------------------

    def _load_calibration(self) -> Calibration:
        if self.config.calibration is None and self.config.emulate:
            return nominal_calibration(self.profile)
        path = self.config.calibration or default_calibration_path(self.profile)
        return load_calibration(path, self.profile)

    def connect(self) -> None:
        """Open the port, ping every motor and check its model, load the calibration, and (a
        follower) enable torque holding the present pose."""
        if self.is_connected:
            return
        self.calibration = self._load_calibration()
        self.normalizer = Normalizer(self.profile, self.calibration)
        port = self.config.port
        if self.config.emulate:
            self.emulator = emulator_for_profile(self.profile)
            port = self.emulator.start()
        bus = None
        try:
            for name, settings in self.profile.cameras.items():
                camera = make_camera(name, settings, self._space.units, lambda: self.present)
                camera.open()
                self.cameras_open[name] = camera
            bus = open_checked_bus(self.profile, str(port))
            self.bus = bus
            self.observe()
            if self.profile.role == "follower":
                self._hold_present()
                self._set_torque(True)
                self._start_watchdog()
        except BaseException:
            self.bus = None
            if bus is not None:
                bus.transport.close()
            self._close_cameras()
            self._stop_emulator()
            raise

    def disconnect(self) -> None:
        self._stop_watchdog.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=2.0)
            self._watchdog = None
        with self._lock:
            if self.bus is not None:
                self.bus.transport.close()
                self.bus = None
        self._close_cameras()
        self._stop_emulator()

    def _close_cameras(self) -> None:
        for camera in self.cameras_open.values():
            camera.close()
        self.cameras_open = {}

    def _stop_emulator(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def _bus(self) -> MotorBus:
        if self.bus is None:
            raise RobotError(f"robot {self.profile.name} is not connected")
        return self.bus

    # -- the control tick ---------------------------------------------------------------------

    def read_raw(self) -> np.ndarray:
        """Present positions, raw encoder values ``[M]`` (one group read)."""
        with self._lock:
            bus = self._bus()
            values = bus.sync_read(self._present_field)
            if bus.alerts:
                self._report_alerts(bus.take_alerts(self._hardware_status))
        return np.array([values[i] for i in self.ids], dtype=np.int64)

    def _report_alerts(self, alerts: dict[int, list[str]]) -> None:
        for motor_id, words in alerts.items():
            name = self._names.get(motor_id, str(motor_id))
            if self.alerts.get(name) != words:
                log.warning("robot %s: motor %s (id %d) reports %s", self.profile.name, name, motor_id, ", ".join(words))
            self.alerts[name] = words

    def observe(self) -> Observation:
        """Normalized present positions as the state ``[M]`` and the newest frame of each camera."""
        raw = self.read_raw()
        assert self.normalizer is not None
        self.present = self.normalizer.to_units(raw)
        images = {name: camera.read() for name, camera in self.cameras_open.items()}
        return Observation(images=images, state=self.present.copy(), timestamp=time.time())

    def act(self, action: np.ndarray) -> None:
        """Send goal positions ``[M]`` (normalized units) through the safety layer: clamped to
        the profile's limits and to ``max_step`` around the positions read this tick (read now
        when :meth:`observe` was not called since the last command). After :meth:`safe_stop`,
        a command first re-enables torque holding the present pose."""
        if self.profile.role != "follower":
            raise RobotError(f"robot {self.profile.name} is a leader arm: it is moved by hand, not commanded")
        if self.present is None:
            self.observe()
        assert self.normalizer is not None
        safe = self.safety.filter(action, last=self.present)
        raw = self.normalizer.to_raw(safe)
        goals = dict(zip(self.ids, raw.tolist()))
        with self._lock:
            if not self._torque_on:
                self._hold_present()
                self._set_torque(True)
            self._bus().sync_write(self._goal_field, goals)
            self._last_act = time.monotonic()
        self.present = None  # the next command is bounded around the next reading

    def _hold_present(self) -> None:
        """Goal := present position on every motor (one read, one write)."""
        raw = self.read_raw()
        self._bus().sync_write(self._goal_field, dict(zip(self.ids, raw.tolist())))

    def safe_stop(self) -> None:
        """Hold the present position, then disable torque. Does nothing when already safe."""
        with self._lock:
            if self.bus is None or not self._torque_on:
                return
            try:
                self._hold_present()
            finally:
                self._set_torque(False)

    def _set_torque(self, on: bool) -> None:
        """Enable or disable torque on every motor and read it back (a Sync Write has no
        reply); raises :class:`BusError` naming the motors that did not take it."""
        bus = self._bus()
        wanted = int(on)
        for _ in range(bus.retries + 1):
            bus.sync_write(self._torque_field, dict.fromkeys(self.ids, wanted))
            state = bus.sync_read(self._torque_field)
            wrong = {i: f"torque_enable is {v}" for i, v in state.items() if v != wanted}
            if not wrong:
                self._torque_on = on
                return
        raise BusError(f"robot {self.profile.name}: torque {'on' if on else 'off'} did not take", wrong)

    # -- watchdog -----------------------------------------------------------------------------

    def _start_watchdog(self) -> None:
        self._stop_watchdog.clear()
        self._last_act = time.monotonic()
        self._watchdog = threading.Thread(target=self._watch, name="serial-arm-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        """When no command came for ``watchdog_s`` after one did, hold the present position."""
        timeout = self.profile.safety.watchdog_s
        held_at = 0.0
        while not self._stop_watchdog.wait(timeout / 4):
            last = self._last_act
            if time.monotonic() - last > timeout and held_at != last:
                held_at = last
                try:
                    with self._lock:
                        if self.bus is not None and self._torque_on:
                            self._hold_present()
                except Exception:  # the control loop reports bus errors; the watchdog only holds
                    continue
