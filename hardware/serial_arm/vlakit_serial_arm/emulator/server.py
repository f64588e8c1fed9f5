"""The emulator: servos behind a real pseudo-terminal (``os.openpty``), served by a thread."""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Iterable

from vlakit_serial_arm.emulator import handlers
from vlakit_serial_arm.emulator.faults import Faults
from vlakit_serial_arm.emulator.motion import ScriptedMotion
from vlakit_serial_arm.emulator.servo import EmulatedServo
from vlakit_serial_arm.protocol.parser import make_parser


class Emulator:
    """A bus of ``servos`` speaking ``protocol`` on a pseudo-terminal.

    ``with Emulator(...) as emu:`` starts serving; :attr:`port` is the path a host opens
    (``/dev/pts/N``). :attr:`faults` may be changed while it serves. The servos move in real
    time (their positions are advanced whenever a packet arrives and every few milliseconds).
    :attr:`motion` (a :class:`~vlakit_serial_arm.emulator.motion.ScriptedMotion`, optional)
    moves the joints by hand before each packet is answered.
    """

    def __init__(self, protocol: str, servos: Iterable[EmulatedServo], faults: Faults | None = None) -> None:
        self.protocol = protocol
        self.servos = {s.id: s for s in servos}
        self.faults = faults or Faults()
        self.parser = make_parser(protocol, status=False)
        self._handler = handlers.dynamixel if protocol == "dynamixel" else handlers.feetech
        self.lock = threading.Lock()
        self.port = ""
        self.instructions = 0
        self._master = self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = time.monotonic()
        self.motion: ScriptedMotion | None = None

    def start(self) -> str:
        """Open the pseudo-terminal and serve in a daemon thread; returns the port path."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self._master)
        self.port = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="servo-emulator", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop serving and close the pseudo-terminal."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl-C), then stop."""
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self.stop()

    def advance(self) -> None:
        """Move every servo by the time passed since the last call."""
        now = time.monotonic()
        dt, self._last = now - self._last, now
        for servo in self.servos.values():
            servo.step(dt)

    def _error_of(self, servo_id: int) -> int:
        return self.faults.error_bits.get(servo_id, 0)

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.005)
            with self.lock:
                self.advance()
                if not ready:
                    continue
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    return
                if self.motion is not None:
                    self.motion.advance(self.servos)
                out = bytearray(data if self.faults.echo else b"")
                for packet in self.parser.feed(data):
                    self.instructions += 1
                    replies = self._handler(packet, self.servos, self._error_of, self.faults.silent)
                    out += self._apply_silence(replies)
            if out:
                if self.faults.latency:
                    time.sleep(self.faults.latency)
                try:
                    os.write(self._master, self.faults.corrupt(bytes(out)))
                except OSError:
                    return

    def _apply_silence(self, replies: list[tuple[int, bytes]]) -> bytes:
        """Drop the replies of silent servos (a Fast Sync Read status was already cut short)."""
        return b"".join(data for servo_id, data in replies if servo_id not in self.faults.silent)
