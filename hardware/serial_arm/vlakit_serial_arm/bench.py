"""Benchmark of one control tick (one group read + one group write) through the emulator.

Prints, per tick, bytes written and read and transactions next to the protocol's minimum for
that tick, the driver's own CPU time (``time.thread_time`` of the calling thread: packet
building, parsing, normalization, safety; not the waiting), and ticks per second.
"""

from __future__ import annotations

import time

import numpy as np
from vlakit_serial_arm.config import SerialArmConfig
from vlakit_serial_arm.driver import SerialArmDriver
from vlakit_serial_arm.profile import load_profile


def protocol_minimum(protocol: str, motors: int, size: int) -> dict[str, int]:
    """Bytes and transactions of the leanest tick the protocol allows for ``motors`` motors
    reading and writing a ``size``-byte position: Fast Sync Read + Sync Write (Dynamixel),
    Sync Read + Sync Write (Feetech)."""
    if protocol == "dynamixel":
        request = 10 + 4 + motors  # header..instruction, address+size, ids, CRC
        reply = 10 + motors * (2 + size) + 2 * (motors - 1)  # one status, inner CRCs
        write = 10 + 4 + motors * (1 + size)
    else:
        request = 6 + 2 + motors
        reply = motors * (6 + size)
        write = 6 + 2 + motors * (1 + size)
    return {"bytes_written": request + write, "bytes_read": reply, "transactions": 2}


def bench_profile(profile_name: str, ticks: int = 500) -> dict[str, float]:
    """Run ``ticks`` observe+act ticks on an emulated ``profile_name`` as fast as possible."""
    profile = load_profile(profile_name)
    driver = SerialArmDriver(SerialArmConfig(profile=profile_name, emulate=True))
    size = profile.table(next(iter(profile.motors))).field("present_position").size
    rng = np.random.default_rng(0)
    low, high = driver.action_space.low_array, driver.action_space.high_array
    targets = rng.uniform(low / 4, high / 4, size=(ticks, len(low))).astype(np.float32)
    with driver:
        assert driver.bus is not None
        stats = driver.bus.transport.stats
        for k in range(10):  # warm up
            driver.observe()
            driver.act(targets[k])
        stats.reset()
        cpu = 0.0
        start = time.perf_counter()
        for k in range(ticks):
            t0 = time.thread_time()
            driver.observe()
            driver.act(targets[k])
            cpu += time.thread_time() - t0
        wall = time.perf_counter() - start
        minimum = protocol_minimum(profile.protocol, len(profile.motors), size)
        return {
            "motors": len(profile.motors),
            "bytes_written": stats.bytes_written / ticks,
            "bytes_read": stats.bytes_read / ticks,
            "transactions": stats.transactions / ticks,
            "min_bytes_written": minimum["bytes_written"],
            "min_bytes_read": minimum["bytes_read"],
            "min_transactions": minimum["transactions"],
            "cpu_ms_per_tick": 1000 * cpu / ticks,
            "ticks_per_s": ticks / wall,
        }


def format_result(name: str, r: dict[str, float]) -> str:
    """One block of text per profile."""
    return (
        f"{name} ({r['motors']:.0f} motors), per control tick:\n"
        f"  bytes written  {r['bytes_written']:.1f} (protocol minimum {r['min_bytes_written']})\n"
        f"  bytes read     {r['bytes_read']:.1f} (protocol minimum {r['min_bytes_read']})\n"
        f"  transactions   {r['transactions']:.2f} (protocol minimum {r['min_transactions']})\n"
        f"  driver CPU     {r['cpu_ms_per_tick']:.3f} ms per tick (target < 0.3 ms)\n"
        f"  through the emulator: {r['ticks_per_s']:.0f} ticks/s"
    )
