"""A bus of servos: ping, read, write, and one group read / group write per control tick.

Every reply is checked before its value is used: checksum/CRC (the parser), the id it came
from, its length, and its error byte. Missing or bad replies are retried (only the motors that
failed); after the last retry a :class:`~vlakit_serial_arm.errors.BusError` names the motors
and what their status said. A corrupted reply is never taken as a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vlakit_serial_arm.control_table import FieldSpec
from vlakit_serial_arm.errors import BusError
from vlakit_serial_arm.protocol import dynamixel as dxl
from vlakit_serial_arm.protocol import feetech as ft
from vlakit_serial_arm.protocol.packet import Packet
from vlakit_serial_arm.transport import SerialTransport

#: Default seconds to wait for the replies of one transaction.
DEFAULT_TIMEOUT = 0.05


class MotorBus:
    """Servos of one ``protocol`` (``dynamixel`` or ``feetech``) behind a :class:`SerialTransport`.

    ``timeout``: seconds per transaction; ``retries``: extra attempts for the motors that did
    not answer; ``fast_sync_read``: use Dynamixel's Fast Sync Read (one status packet for all).
    """

    def __init__(
        self,
        transport: SerialTransport,
        protocol: str,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 2,
        fast_sync_read: bool = True,
    ) -> None:
        if protocol not in ("dynamixel", "feetech"):
            raise ValueError(f"unknown protocol {protocol!r}")
        self.transport = transport
        self.protocol = protocol
        self.timeout = timeout
        self.retries = retries
        self.fast_sync_read = fast_sync_read and protocol == "dynamixel"
        self.alerts: dict[int, list[str]] = {}

    # -- replies -----------------------------------------------------------------------------

    def _error_words(self, error: int) -> list[str]:
        return dxl.describe_error(error) if self.protocol == "dynamixel" else ft.describe_error(error)

    def _check(self, motor_id: int, error: int, data: bytes, size: int) -> tuple[bytes | None, str]:
        """``(data, "")`` when the reply holds a usable value, else ``(None, problem)``.

        A Dynamixel error number (bits 0-6) voids the data; the alert bit and Feetech's error
        bits (voltage, temperature, load) are hardware warnings: the value is used and the
        warning kept in :attr:`alerts`.
        """
        if len(data) != size:
            return None, f"reply of {len(data)} bytes instead of {size}"
        if self.protocol == "dynamixel" and error & 0x7F:
            return None, "status error: " + ", ".join(self._error_words(error))
        if error:
            self.alerts[motor_id] = self._error_words(error)
        return data, ""

    def _transact(self, request: bytes, replies: int) -> list[Packet]:
        self.transport.send(request)
        if replies == 0:
            return []
        return self.transport.receive(replies, self.timeout)

    @staticmethod
    def _fail(what: str, problems: Mapping[int, str]) -> BusError:
        detail = "; ".join(f"id {i}: {p}" for i, p in sorted(problems.items()))
        return BusError(f"{what} failed: motors {sorted(problems)} did not answer correctly ({detail})", dict(problems))

    def _collect(self, packets: Sequence[Packet], sizes: Mapping[int, int], got: dict[int, bytes], problems: dict[int, str]) -> None:
        for p in packets:
            if p.id not in sizes or p.id in got or p.error is None:
                continue  # another motor's reply, a duplicate: never taken as a value
            data, problem = self._check(p.id, p.error, p.params, sizes[p.id])
            if data is None:
                problems[p.id] = problem
            else:
                got[p.id] = data
                problems.pop(p.id, None)

    # -- single motors ----------------------------------------------------------------------

    def ping(self, motor_id: int, model_field: FieldSpec | None = None) -> int:
        """Ping ``motor_id`` and return its model number (Feetech: read from ``model_field``)."""
        if self.protocol == "feetech":
            if model_field is None:
                raise ValueError("a Feetech ping needs the model_number field to read the model")
            self._exchange(motor_id, ft.ping(motor_id), 0, "ping")
            return self.read(motor_id, model_field)
        data = self._exchange(motor_id, dxl.ping(motor_id), 3, "ping")
        return data[0] | data[1] << 8

    def _exchange(self, motor_id: int, request: bytes, size: int, what: str) -> bytes:
        problems = {motor_id: "no reply"}
        got: dict[int, bytes] = {}
        for _ in range(self.retries + 1):
            self._collect(self._transact(request, 1), {motor_id: size}, got, problems)
            if motor_id in got:
                return got[motor_id]
        raise self._fail(what, problems)

    def read(self, motor_id: int, field: FieldSpec) -> int:
        """The value of ``field`` of one motor."""
        if self.protocol == "dynamixel":
            request = dxl.read(motor_id, field.address, field.size)
        else:
            request = ft.read(motor_id, field.address, field.size)
        return field.decode(self._exchange(motor_id, request, field.size, f"read at address {field.address}"))

    def write(self, motor_id: int, field: FieldSpec, value: int) -> None:
        """Write ``field`` of one motor and wait for its status."""
        data = field.encode(value)
        if self.protocol == "dynamixel":
            request = dxl.write(motor_id, field.address, data)
        else:
            request = ft.write(motor_id, field.address, data)
        self._exchange(motor_id, request, 0, f"write at address {field.address}")

    def take_alerts(self, hardware_status: Mapping[int, FieldSpec] | None = None) -> dict[int, list[str]]:
        """The hardware warnings seen since the last call, in words, and forget them.

        On Dynamixel, the alert bit only says "something is wrong": with ``hardware_status``
        (each motor's Hardware Error Status field) the register is read to say what.
        """
        alerts, self.alerts = self.alerts, {}
        if self.protocol == "dynamixel" and hardware_status:
            for motor_id in alerts:
                if motor_id in hardware_status:
                    try:
                        bits = self.read(motor_id, hardware_status[motor_id])
                    except BusError:
                        continue
                    alerts[motor_id] = dxl.describe_error(dxl.ALERT_BIT, bits)
        return alerts

    # -- groups (one transaction per tick) --------------------------------------------------

    def sync_read(self, fields: Mapping[int, FieldSpec]) -> dict[int, int]:
        """``{id: value}`` of each motor's field, in one group transaction (plus retries).

        Motors whose fields share address and size use Sync Read (Dynamixel: Fast Sync Read);
        a Dynamixel bus of models with different layouts uses Bulk Read.
        """
        ids = list(fields)
        layouts = {(f.address, f.size) for f in fields.values()}
        got: dict[int, bytes] = {}
        problems = dict.fromkeys(ids, "no reply")
        for attempt in range(self.retries + 1):
            pending = [i for i in ids if i not in got]
            if len(layouts) == 1:
                address, size = next(iter(layouts))
                if self.fast_sync_read and attempt == 0:
                    self._fast_sync_read(address, size, pending, got, problems)
                else:
                    request = (dxl.sync_read if self.protocol == "dynamixel" else ft.sync_read)(address, size, pending)
                    self._collect(self._transact(request, len(pending)), dict.fromkeys(pending, size), got, problems)
            elif self.protocol == "dynamixel":
                request = dxl.bulk_read([(i, fields[i].address, fields[i].size) for i in pending])
                self._collect(self._transact(request, len(pending)), {i: fields[i].size for i in pending}, got, problems)
            else:
                raise BusError("a Feetech bus needs the same field layout on every motor (no bulk read)")
            if len(got) == len(ids):
                return {i: fields[i].decode(got[i]) for i in ids}
        raise self._fail("group read", {i: problems[i] for i in ids if i not in got})

    def _fast_sync_read(self, address: int, size: int, ids: list[int], got: dict[int, bytes], problems: dict[int, str]) -> None:
        packets = self._transact(dxl.sync_read(address, size, ids, fast=True), 1)
        for p in packets:
            if p.id != dxl.BROADCAST_ID or p.error is None:
                continue
            try:
                parts = dxl.split_fast_sync(bytes([p.error]) + p.params, size)
            except ValueError:
                continue
            self._collect(
                [Packet(i, data, error=err) for i, err, data in parts], dict.fromkeys(ids, size), got, problems
            )

    def sync_write(self, fields: Mapping[int, FieldSpec], values: Mapping[int, int]) -> None:
        """Write each motor's field in one transaction (Sync Write; Bulk Write on a mixed bus)."""
        layouts = {(f.address, f.size) for f in fields.values()}
        if len(layouts) == 1:
            address, size = next(iter(layouts))
            data = {i: fields[i].encode(values[i]) for i in fields}
            request = (dxl.sync_write if self.protocol == "dynamixel" else ft.sync_write)(address, size, data)
        elif self.protocol == "dynamixel":
            request = dxl.bulk_write([(i, fields[i].address, fields[i].encode(values[i])) for i in fields])
        else:
            raise BusError("a Feetech bus needs the same field layout on every motor (no bulk write)")
        self._transact(request, 0)
