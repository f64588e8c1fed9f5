"""One emulated servo: its control table in memory, EEPROM/RAM rules, motion toward the goal."""

from __future__ import annotations

from vlakit_serial_arm.control_table import ControlTable

#: Dynamixel status error numbers the emulator answers with.
ACCESS_ERROR = 7
DATA_RANGE_ERROR = 4
DATA_LENGTH_ERROR = 5


class EmulatedServo:
    """A servo of model ``table`` with ``servo_id``, starting at raw ``position``.

    With torque on, the present position moves toward the goal at ``speed`` encoder steps per
    second. Writes to EEPROM are refused while torque is on (Dynamixel answers an access error;
    this emulator does the same for Feetech by ignoring the write and flagging no error).
    """

    def __init__(self, table: ControlTable, servo_id: int, position: int = 2048, speed: float = 4000.0) -> None:
        self.table = table
        self.memory = bytearray(table.size)
        for name, spec in table.fields.items():
            if spec.default is not None:
                self.set(name, spec.default)
        self.set("model_number", table.model_number)
        self.set("id", servo_id)
        self.set("present_position", position)
        self.set("goal_position", position)
        self.speed = speed
        self._position = float(position)

    @property
    def id(self) -> int:
        return self.get("id")

    def get(self, name: str) -> int:
        spec = self.table.field(name)
        return spec.decode(bytes(self.memory[spec.address : spec.address + spec.size]))

    def set(self, name: str, value: int) -> None:
        spec = self.table.field(name)
        self.memory[spec.address : spec.address + spec.size] = spec.encode(value)

    def read(self, address: int, size: int) -> bytes | None:
        """Raw bytes of memory, or ``None`` when the range is outside the table."""
        if size <= 0 or address + size > len(self.memory):
            return None
        return bytes(self.memory[address : address + size])

    def write(self, address: int, data: bytes) -> int:
        """Store ``data`` at ``address``; returns 0 or a Dynamixel error number."""
        end = address + len(data)
        if not data or end > len(self.memory):
            return DATA_LENGTH_ERROR
        torque_on = self.get("torque_enable") != 0
        for spec in self.table.fields.values():
            if spec.address < end and address < spec.address + spec.size:
                if spec.access == "R" or (spec.area == "eeprom" and torque_on):
                    return ACCESS_ERROR
        self.memory[address:end] = data
        goal = self.table.fields["goal_position"]
        if address < goal.address + goal.size and goal.address < end and self.get("torque_enable"):
            self.set("moving", 1)
        return 0

    def step(self, dt: float) -> None:
        """Advance ``dt`` seconds: move toward the goal when torque is on."""
        if not self.get("torque_enable"):
            self.set("moving", 0)
            return
        goal = self.get("goal_position")
        lo, hi = self.get("min_position_limit"), self.get("max_position_limit")
        if lo < hi:
            goal = min(max(goal, lo), hi)
        delta = goal - self._position
        move = self.speed * dt
        self._position = float(goal) if abs(delta) <= move else self._position + (move if delta > 0 else -move)
        self.set("present_position", round(self._position))
        self.set("moving", int(round(self._position) != goal))

    def move_by_hand(self, position: int) -> None:
        """Set the present position as if a person moved the (torque-off) joint."""
        self._position = float(position)
        self.set("present_position", position)
