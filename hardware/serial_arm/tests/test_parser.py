"""The streaming parsers: resynchronization, rejection of corrupt packets, fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from vlakit_serial_arm.protocol import dynamixel as dxl
from vlakit_serial_arm.protocol import feetech as ft
from vlakit_serial_arm.protocol.parser import DynamixelParser, FeetechParser


def test_dxl_resync_after_garbage_and_split_feeds():
    good = dxl.status(3, 0, b"\x10\x20\x30\x40")
    stream = b"\x00\xff\xff\xfd" + b"\x13\x37" + good + b"\xff" + good
    parser = DynamixelParser()
    out = []
    for byte in stream:  # one byte at a time
        out += parser.feed(bytes([byte]))
    assert [p.params for p in out] == [b"\x10\x20\x30\x40"] * 2


def test_dxl_bad_crc_rejected_then_next_packet_found():
    good = dxl.status(1, 0, b"\x01\x02\x03\x04")
    bad = bytearray(good)
    bad[9] ^= 0x01  # one flipped data bit
    parser = DynamixelParser()
    assert parser.feed(bytes(bad)) == []
    assert parser.rejected == 1
    (p,) = parser.feed(good)
    assert p.params == b"\x01\x02\x03\x04"


def test_dxl_wrong_length_and_wrong_direction_rejected():
    parser = DynamixelParser()
    # a length field of 0xFFFF is implausible: skipped without waiting for 64 KiB
    assert parser.feed(b"\xff\xff\xfd\x00\x01\xff\xff" + dxl.status(2)) [0].id == 2
    assert parser.rejected == 1
    # an instruction packet is not a status: the host's parser rejects it
    assert DynamixelParser().feed(dxl.ping(1)) == []
    assert DynamixelParser(status=False).feed(dxl.ping(1))[0].instruction == dxl.PING


def test_ft_resync_and_checksum():
    good = ft.status(2, 0, b"\x00\x08")
    bad = bytearray(good)
    bad[-2] ^= 0x40
    parser = FeetechParser()
    out = parser.feed(b"\xff\x00\xff" + bytes(bad) + b"\xff\xff\xff" + good)
    assert len(out) == 1 and out[0].id == 2 and out[0].params == b"\x00\x08"
    assert parser.rejected >= 1


def test_ft_partial_packet_waits():
    good = ft.status(5, 0, b"\x01\x02")
    parser = FeetechParser()
    assert parser.feed(good[:4]) == []
    assert parser.feed(good[4:])[0].id == 5


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["dxl", "ft"]), st.booleans())
def test_fuzz_random_bytes_never_crash_nor_yield_bad_packets(data, protocol, status):
    parser = DynamixelParser(status) if protocol == "dxl" else FeetechParser(status)
    for packet in parser.feed(data):
        raw = packet.raw
        if protocol == "dxl":
            assert dxl.crc16(raw[:-2]) == raw[-2] | raw[-1] << 8
            assert raw[5] | raw[6] << 8 == len(raw) - 7
        else:
            assert ft.checksum(raw[2:-1]) == raw[-1]
            assert raw[3] == len(raw) - 4
    assert len(parser.buffer) <= max(len(data), 0)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), st.integers(0, 252), st.binary(max_size=40))
def test_fuzz_a_valid_packet_survives_leading_garbage(garbage, dxl_id, data):
    good = dxl.status(dxl_id, 0, data)
    packets = DynamixelParser().feed(garbage + good)
    assert packets and packets[-1].id == dxl_id and packets[-1].params == data


def test_false_header_with_long_length_does_not_hide_a_reply():
    # garbage that looks like the start of a 256-byte packet, then a real reply
    good = dxl.status(4, 0, b"\x05\x06\x07\x08")
    (p,) = DynamixelParser().feed(b"\xff\xff\xfd\x00\x01\x00\x01\x55" + good)
    assert p.id == 4
    good_ft = ft.status(4, 0, b"\x05\x06")
    (q,) = FeetechParser().feed(b"\xff\xff\x01\xf0\x00" + good_ft)
    assert q.id == 4
