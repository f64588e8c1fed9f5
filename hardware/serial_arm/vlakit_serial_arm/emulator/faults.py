"""Faults the emulator can inject into its replies, changeable while it serves."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Faults:
    """``latency``: seconds before each reply; ``silent``: ids that never answer;
    ``drop_rate``: probability that a reply byte is lost; ``flip_rate``: probability that a
    reply byte has one bit flipped; ``error_bits``: id -> error byte put in its status packets;
    ``echo``: the bus sends every request back first, as some half-duplex adapters do.
    ``seed`` makes the random faults repeatable."""

    latency: float = 0.0
    silent: set[int] = field(default_factory=set)
    drop_rate: float = 0.0
    flip_rate: float = 0.0
    error_bits: dict[int, int] = field(default_factory=dict)
    seed: int = 0
    echo: bool = False

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def corrupt(self, data: bytes) -> bytes:
        """``data`` after byte drops and bit flips."""
        if not self.drop_rate and not self.flip_rate:
            return data
        out = bytearray()
        for byte in data:
            if self.drop_rate and self.rng.random() < self.drop_rate:
                continue
            if self.flip_rate and self.rng.random() < self.flip_rate:
                byte ^= 1 << self.rng.randrange(8)
            out.append(byte)
        return bytes(out)
