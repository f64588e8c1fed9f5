"""The bus against the emulator over a real pseudo-terminal: instructions, group transfers, faults."""

from __future__ import annotations

import os
import random
import select
import threading
import time
import tty

import pytest
import serial
from vlakit_serial_arm.bus import MotorBus
from vlakit_serial_arm.control_table import load_table
from vlakit_serial_arm.emulator import EmulatedServo, Emulator
from vlakit_serial_arm.errors import BusError, PortError
from vlakit_serial_arm.protocol import dynamixel as dxl
from vlakit_serial_arm.protocol import feetech as ft
from vlakit_serial_arm.protocol.parser import make_parser
from vlakit_serial_arm.transport import SerialTransport

IDS = range(1, 7)


def fields(bus: MotorBus, emulator: Emulator, name: str):
    return {i: emulator.servos[i].table.field(name) for i in IDS}


def test_ping_reports_model_number(bus, emulator):
    table = emulator.servos[1].table
    assert bus.ping(3, table.field("model_number")) == table.model_number


def test_read_write_single_motor(bus, emulator):
    table = emulator.servos[1].table
    assert bus.read(2, table.field("present_position")) == 1020
    bus.write(2, table.field("return_delay_time"), 7)
    assert emulator.servos[2].get("return_delay_time") == 7


def test_sync_read_and_write_one_transaction_each(bus, emulator):
    stats = bus.transport.stats
    stats.reset()
    assert bus.sync_read(fields(bus, emulator, "present_position")) == {i: 1000 + 10 * i for i in IDS}
    bus.sync_write(fields(bus, emulator, "torque_enable"), dict.fromkeys(IDS, 1))
    bus.sync_write(fields(bus, emulator, "goal_position"), {i: 1500 for i in IDS})
    assert stats.transactions == 3
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # present position moves toward the goal
        if all(v == 1500 for v in bus.sync_read(fields(bus, emulator, "present_position")).values()):
            break
        time.sleep(0.02)
    assert bus.sync_read(fields(bus, emulator, "present_position")) == dict.fromkeys(IDS, 1500)


def test_torque_off_does_not_move(bus, emulator):
    bus.sync_write(fields(bus, emulator, "goal_position"), {i: 3000 for i in IDS})
    time.sleep(0.1)
    assert bus.read(1, emulator.servos[1].table.field("present_position")) == 1010


def test_sync_read_replies_in_request_order(emulator):
    """Raw bytes: each servo answers a (non-fast) Sync Read with its own status, in order."""
    order = [5, 2, 6, 1]
    if emulator.protocol == "dynamixel":
        request = dxl.sync_read(132, 4, order)
    else:
        request = ft.sync_read(56, 2, order)
    with serial.Serial(emulator.port, 1_000_000, timeout=0.5) as port:
        port.write(request)
        parser = make_parser(emulator.protocol)
        packets = []
        deadline = time.monotonic() + 2
        while len(packets) < 4 and time.monotonic() < deadline:
            packets += parser.feed(port.read(max(1, port.in_waiting)))
    assert [p.id for p in packets] == order


def test_dynamixel_broadcast_ping_answers_in_id_order(emulator):
    if emulator.protocol != "dynamixel":
        pytest.skip("broadcast ping is answered by every servo on Protocol 2.0")
    with serial.Serial(emulator.port, 1_000_000, timeout=0.5) as port:
        port.write(dxl.ping(dxl.BROADCAST_ID))
        parser = make_parser("dynamixel")
        packets = []
        deadline = time.monotonic() + 2
        while len(packets) < 6 and time.monotonic() < deadline:
            packets += parser.feed(port.read(max(1, port.in_waiting)))
    assert [p.id for p in packets] == list(IDS)
    assert all(p.params[:2] == (1060).to_bytes(2, "little") for p in packets)


def test_dynamixel_eeprom_is_locked_while_torque_is_on(emulator, bus):
    if emulator.protocol != "dynamixel":
        pytest.skip("Feetech EEPROM lock differs")
    table = emulator.servos[1].table
    bus.write(1, table.field("torque_enable"), 1)
    with pytest.raises(BusError, match="access error"):
        bus.write(1, table.field("max_position_limit"), 3000)
    with pytest.raises(BusError, match="access error"):
        bus.write(1, table.field("present_position"), 5)  # read-only


def test_fast_sync_read_is_one_status_packet(emulator, bus):
    if emulator.protocol != "dynamixel":
        pytest.skip("Fast Sync Read is a Dynamixel instruction")
    bus.transport.stats.reset()
    assert bus.sync_read(fields(bus, emulator, "present_position")) == {i: 1000 + 10 * i for i in IDS}
    # one status: 10 bytes of framing + 6 x (ERR ID 4 bytes) + 5 inner CRCs
    assert bus.transport.stats.bytes_read == 10 + 6 * 6 + 5 * 2


def test_mixed_layout_uses_bulk_read(emulator):
    if emulator.protocol != "dynamixel":
        pytest.skip("bulk read is Dynamixel only")
    transport = SerialTransport(emulator.port, 1_000_000, "dynamixel")
    transport.open()
    try:
        bus = MotorBus(transport, "dynamixel")
        table = emulator.servos[1].table
        mixed = {1: table.field("present_position"), 2: table.field("present_temperature")}
        assert bus.sync_read(mixed) == {1: 1010, 2: 30}
    finally:
        transport.close()


# --- faults: every injected fault gives a retry or a clear error, never a wrong value ---


def test_latency_within_timeout_is_fine_beyond_it_is_an_error(emulator, bus):
    f = fields(bus, emulator, "present_position")
    emulator.faults.latency = 0.01
    assert bus.sync_read(f)[1] == 1010
    emulator.faults.latency = 0.2
    bus.retries = 0
    with pytest.raises(BusError, match="no reply"):
        bus.sync_read(f)


def test_silent_motor_is_named(emulator, bus):
    emulator.faults.silent = {4}
    with pytest.raises(BusError) as err:
        bus.sync_read(fields(bus, emulator, "present_position"))
    assert err.value.missing == {4: "no reply"}
    assert "motors [4]" in str(err.value)
    with pytest.raises(BusError, match=r"motors \[4\]"):
        bus.ping(4, emulator.servos[4].table.field("model_number"))


def test_corrupted_replies_are_retried_never_taken(emulator, bus):
    f = fields(bus, emulator, "present_position")
    expected = {i: 1000 + 10 * i for i in IDS}
    emulator.faults.flip_rate = 0.01
    emulator.faults.drop_rate = 0.005
    bus.retries = 5
    bus.timeout = 0.02
    ok = failed = 0
    for _ in range(25):
        try:
            assert bus.sync_read(f) == expected  # a value read is always the true value
            ok += 1
        except BusError as exc:
            failed += 1
            assert exc.missing
    assert ok > 0
    assert bus.transport.stats.rejected_packets > 0 or failed > 0


def test_status_error_bits(emulator, bus):
    f = fields(bus, emulator, "present_position")
    if emulator.protocol == "dynamixel":
        emulator.faults.error_bits = {2: 0x06}  # data limit error: the data is not a value
        with pytest.raises(BusError, match="id 2: status error: data limit error"):
            bus.sync_read(f)
        emulator.faults.error_bits = {2: 0x80}  # alert: data valid, warning kept
        assert bus.sync_read(f)[2] == 1020
        assert bus.alerts[2] == ["alert (hardware error)"]
    else:
        emulator.faults.error_bits = {2: 0x24}
        assert bus.sync_read(f)[2] == 1020
        assert bus.alerts[2] == ["overheating", "overload"]


def test_wrong_port_is_a_clear_error(tmp_path):
    transport = SerialTransport(str(tmp_path / "ttyNOPE"), 1_000_000, "feetech")
    with pytest.raises(PortError, match="cannot open serial port"):
        transport.open()


def test_other_motors_replies_are_not_taken(protocol):
    """A reply from an unexpected id is ignored: the expected motor is reported missing."""
    table = load_table("xl430-w250" if protocol == "dynamixel" else "sts3215")
    with Emulator(protocol, [EmulatedServo(table, 1), EmulatedServo(table, 2)]) as emu:
        transport = SerialTransport(emu.port, 1_000_000, protocol)
        transport.open()
        try:
            bus = MotorBus(transport, protocol, retries=1, fast_sync_read=False)
            emu.servos[2].set("id", 3)  # motor 2 now answers as id 3
            emu.servos = {s.id: s for s in emu.servos.values()}
            with pytest.raises(BusError) as err:
                bus.sync_read({1: table.field("present_position"), 2: table.field("present_position")})
            assert set(err.value.missing) == {2}
        finally:
            transport.close()


def test_reply_of_wrong_length_is_not_a_value():
    """A rogue device on a real pty answers every read with 2 data bytes instead of 4."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    stop = threading.Event()

    def rogue():
        parser = make_parser("dynamixel", status=False)
        while not stop.is_set():
            if select.select([master], [], [], 0.01)[0]:
                for p in parser.feed(os.read(master, 256)):
                    os.write(master, dxl.status(p.id, 0, b"\x01\x02"))

    thread = threading.Thread(target=rogue, daemon=True)
    thread.start()
    transport = SerialTransport(os.ttyname(slave), 1_000_000, "dynamixel")
    transport.open()
    try:
        bus = MotorBus(transport, "dynamixel", timeout=0.05, retries=1)
        with pytest.raises(BusError, match="id 1: reply of 2 bytes instead of 4"):
            bus.read(1, load_table("xl430-w250").field("present_position"))
    finally:
        transport.close()
        stop.set()
        thread.join(timeout=2)
        os.close(master)
        os.close(slave)


def test_a_port_that_goes_away_is_a_clear_error(emulator, bus):
    """The adapter unplugged mid-run: a PortError (exit status 2), not a traceback."""
    f = fields(bus, emulator, "present_position")
    bus.sync_read(f)
    emulator.stop()  # closes the pseudo-terminal
    with pytest.raises(PortError, match="failed while"):
        for _ in range(3):
            bus.sync_read(f)


def test_emulator_survives_garbage_and_still_answers(emulator, bus):
    rng = random.Random(7)
    garbage = bytes(rng.randrange(256) for _ in range(2000))
    with serial.Serial(emulator.port, 1_000_000, timeout=0.2) as port:
        port.write(garbage + b"\xff\xff\xfd\x00\x01" + b"\xff\xff")  # ends inside a false header
        port.read(4096)
    table = emulator.servos[1].table
    bus.retries = 3
    assert bus.ping(1, table.field("model_number")) == table.model_number


def test_an_echoing_adapter_is_not_read_as_a_reply(emulator, bus):
    """Some half-duplex boards send the request back first; a Feetech read echoed would parse as
    a status from the very motor asked (with the request's bytes as its data)."""
    emulator.faults.echo = True
    table = emulator.servos[1].table
    for motor in IDS:
        assert bus.read(motor, table.field("present_position")) == 1000 + 10 * motor
    assert bus.sync_read(fields(bus, emulator, "present_position")) == {i: 1000 + 10 * i for i in IDS}
    assert bus.ping(2, table.field("model_number")) == table.model_number
