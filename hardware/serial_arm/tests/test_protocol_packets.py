"""Packet bytes against the vendors' documented examples, CRC/checksum vectors, stuffing, signs."""

from __future__ import annotations

import pytest
from vlakit_serial_arm.protocol import dynamixel as dxl
from vlakit_serial_arm.protocol import feetech as ft
from vlakit_serial_arm.protocol.parser import DynamixelParser, FeetechParser


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# --- Dynamixel Protocol 2.0: examples of the ROBOTIS e-Manual (protocol 2.0 page) ---


def test_crc16_check_value():
    # CRC-16/BUYPASS (poly 0x8005, init 0, no reflection): check value of "123456789".
    assert dxl.crc16(b"123456789") == 0xFEE8


def test_dxl_ping():
    assert dxl.ping(1) == h("FF FF FD 00 01 03 00 01 19 4E")


def test_dxl_ping_status_parses():
    packets = DynamixelParser().feed(h("FF FF FD 00 01 07 00 55 00 06 04 26 65 5D"))
    assert len(packets) == 1 and packets[0].id == 1 and packets[0].error == 0
    assert packets[0].params == h("06 04 26")  # model 1030, firmware 0x26


def test_dxl_read_present_position():
    assert dxl.read(1, 132, 4) == h("FF FF FD 00 01 07 00 02 84 00 04 00 1D 15")
    (p,) = DynamixelParser().feed(h("FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0"))
    assert int.from_bytes(p.params, "little") == 166


def test_dxl_write_goal_position():
    assert dxl.write(1, 116, (512).to_bytes(4, "little")) == h("FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89")
    assert dxl.status(1) == h("FF FF FD 00 01 04 00 55 00 A1 0C")


def test_dxl_sync_read():
    assert dxl.sync_read(132, 4, [1, 2]) == h("FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA")
    assert dxl.status(2, 0, (2079).to_bytes(4, "little")) == h("FF FF FD 00 02 08 00 55 00 1F 08 00 00 BA BE")


def test_dxl_sync_write():
    data = {1: (150).to_bytes(4, "little"), 2: (170).to_bytes(4, "little")}
    assert dxl.sync_write(116, 4, data) == h(
        "FF FF FD 00 FE 11 00 83 74 00 04 00 01 96 00 00 00 02 AA 00 00 00 82 87"
    )


def test_dxl_broadcast_ping_and_action():
    assert dxl.ping(dxl.BROADCAST_ID) == h("FF FF FD 00 FE 03 00 01 31 42")
    assert dxl.status(2, 0, h("06 04 26")) == h("FF FF FD 00 02 07 00 55 00 06 04 26 6F 6D")
    assert dxl.packet(1, dxl.ACTION) == h("FF FF FD 00 01 03 00 05 02 CE")


def test_dxl_bulk_read():
    # ID1 present voltage (144, 2 bytes), ID2 present temperature (146, 1 byte)
    assert dxl.bulk_read([(1, 144, 2), (2, 146, 1)]) == h(
        "FF FF FD 00 FE 0D 00 92 01 90 00 02 00 02 92 00 01 00 1A 05"
    )
    assert dxl.status(1, 0, h("77 00")) == h("FF FF FD 00 01 06 00 55 00 77 00 C3 69")
    assert dxl.status(2, 0, h("24")) == h("FF FF FD 00 02 05 00 55 00 24 8B A9")


def test_dxl_bulk_write():
    # ID1 max voltage limit (32, 2 bytes) = 160, ID2 temperature limit (31, 1 byte) = 80
    assert dxl.bulk_write([(1, 32, h("A0 00")), (2, 31, h("50"))]) == h(
        "FF FF FD 00 FE 10 00 93 01 20 00 02 00 A0 00 02 1F 00 01 00 50 B7 68"
    )


def test_dxl_fast_sync_read_roundtrip():
    request = dxl.sync_read(132, 4, [1, 2], fast=True)
    assert request[7] == dxl.FAST_SYNC_READ and request[4] == dxl.BROADCAST_ID
    reply = dxl.fast_sync_status([(1, 0, (166).to_bytes(4, "little")), (2, 0x80, (2079).to_bytes(4, "little"))])
    # length = instruction + 2 * (ERR ID DATA) + one inner CRC + the packet CRC
    assert reply[5] | reply[6] << 8 == 1 + 2 * 6 + 2 + 2
    (p,) = DynamixelParser().feed(reply)
    assert p.id == dxl.BROADCAST_ID and p.error == 0
    parts = dxl.split_fast_sync(bytes([p.error]) + p.params, 4)
    assert parts == [(1, 0, (166).to_bytes(4, "little")), (2, 0x80, (2079).to_bytes(4, "little"))]
    with pytest.raises(ValueError):
        dxl.split_fast_sync(bytes([p.error]) + p.params, 2)


def test_dxl_byte_stuffing():
    data = h("FF FF FD 10")
    pkt = dxl.write(1, 10, data)
    assert h("FF FF FD FD 10") in pkt
    assert pkt[5] | pkt[6] << 8 == 1 + 2 + 5 + 2  # the length counts the stuffed byte
    (p,) = DynamixelParser(status=False).feed(pkt)
    assert p.params == h("0A 00") + data
    assert dxl.unstuff(dxl.stuff(h("FF FF FD FF FF FD FD"))) == h("FF FF FD FF FF FD FD")


def test_dxl_error_words():
    assert dxl.describe_error(0) == []
    assert dxl.describe_error(0x03) == ["CRC error"]
    assert dxl.describe_error(0x80, hardware_status=0b100100) == ["alert (hardware error)", "overheating", "overload"]


# --- Feetech SCS/STS: examples of Feetech's protocol manual ---


def test_ft_ping():
    assert ft.ping(1) == h("FF FF 01 02 01 FB")
    (p,) = FeetechParser().feed(h("FF FF 01 02 00 FC"))
    assert p.id == 1 and p.error == 0 and p.params == b""


def test_ft_read():
    # read 2 bytes at 0x38 (present position) of id 1
    assert ft.read(1, 0x38, 2) == h("FF FF 01 04 02 38 02 BE")


def test_ft_write():
    # write goal position 0x0800 (2048) at 0x2A of id 1
    assert ft.write(1, 0x2A, h("00 08")) == h("FF FF 01 05 03 2A 00 08 C4")
    # the manual's example: position 2048, time 0, speed 1000 from 0x2A
    assert ft.write(1, 0x2A, h("00 08 00 00 E8 03")) == h("FF FF 01 09 03 2A 00 08 00 00 E8 03 D5")


def test_ft_sync_write_and_read():
    pkt = ft.sync_write(0x2A, 2, {1: h("00 08"), 2: h("00 04")})
    assert pkt == h("FF FF FE 0A 83 2A 02 01 00 08 02 00 04") + bytes([ft.checksum(pkt[2:-1])])
    assert pkt[-1] == 0x39  # ~(0x1C6) & 0xFF
    assert ft.sync_read(0x38, 2, [1, 2]) == h("FF FF FE 06 82 38 02 01 02 3C")


def test_ft_manual_examples():
    # Feetech's protocol manual, examples 1, 2, 6, 7 and 8
    assert ft.write(ft.BROADCAST_ID, 0x05, h("01")) == h("FF FF FE 04 03 05 01 F4")  # set id 1
    (p,) = FeetechParser().feed(h("FF FF 01 04 00 18 05 DD"))  # read reply: position 1304
    assert int.from_bytes(p.params, "little") == 1304
    assert ft.packet(ft.BROADCAST_ID, ft.ACTION) == h("FF FF FE 02 05 FA")
    block = h("00 08 00 00 E8 03")  # position 2048, time 0, speed 1000
    assert ft.sync_write(0x2A, 6, {i: block for i in (1, 2, 3, 4)}) == h(
        "FF FF FE 20 83 2A 06 01 00 08 00 00 E8 03 02 00 08 00 00 E8 03 "
        "03 00 08 00 00 E8 03 04 00 08 00 00 E8 03 58"
    )
    assert ft.sync_read(0x38, 8, [1, 2]) == h("FF FF FE 06 82 38 08 01 02 36")
    replies = FeetechParser().feed(
        h("FF FF 01 0A 00 00 08 00 00 00 00 79 1E 55 FF FF 02 0A 00 FF 07 00 00 00 00 77 23 53")
    )
    assert [(r.id, r.params[:2]) for r in replies] == [(1, h("00 08")), (2, h("FF 07"))]
    assert ft.packet(1, ft.RESET) == h("FF FF 01 02 06 F6")


def test_ft_checksum_and_errors():
    assert ft.checksum(h("01 02 01")) == 0xFB
    assert ft.describe_error(0b100101) == ["input voltage error", "overheating", "overload"]


@pytest.mark.parametrize(
    ("value", "bit", "raw"),
    [(0, 15, 0), (100, 15, 100), (-100, 15, 0x8064), (-2047, 11, 0x0FFF), (2047, 11, 0x07FF), (-1, 11, 0x0801)],
)
def test_sign_magnitude(value, bit, raw):
    assert ft.encode_sign_magnitude(value, bit) == raw
    assert ft.decode_sign_magnitude(raw, bit) == value


def test_sign_magnitude_overflow():
    with pytest.raises(ValueError):
        ft.encode_sign_magnitude(2048, 11)
