"""Camera streams as MP4 (PyAV): encoding an episode, joining episodes into one file without
re-encoding, and decoding single frames by timestamp.

Encoding: H.264 (``libx264``), ``yuv420p``, a keyframe every 2 frames and no B-frames, so that any
frame decodes after at most one other and files join by copying packets. Timestamps are in
seconds from the start of the file; a frame at ``t`` is the one whose presentation time is
nearest ``t``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: Encoder settings; recorded in info.json's ``video.*`` entries.
CODEC = "libx264"
CODEC_NAME = "h264"
PIX_FMT = "yuv420p"
GOP = 2
CRF = 18


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


class EpisodeEncoder:
    """Encodes frames ``uint8`` ``[H, W, 3]`` one by one into an MP4 at ``path``."""

    def __init__(self, path: Path, fps: float, height: int, width: int) -> None:
        if height % 2 or width % 2:
            raise ValueError(f"{PIX_FMT} video needs an even height and width, got {height}x{width}")
        self.path = Path(path)
        self.container = av.open(str(path), mode="w", format="mp4")
        self.stream = self.container.add_stream(CODEC, rate=_rate(fps))
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = PIX_FMT
        self.stream.codec_context.time_base = Fraction(1) / _rate(fps)
        self.stream.options = {"crf": str(CRF), "g": str(GOP), "bf": "0", "preset": "veryfast", "threads": "1"}
        self.frames = 0

    def add(self, image: np.ndarray) -> None:
        """Encode frame ``image`` (``uint8`` ``[H, W, 3]`` RGB)."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def encode_frames(path: Path, frames: np.ndarray, fps: float) -> None:
    """Encode ``frames`` ``uint8`` ``[T, H, W, 3]`` into an MP4 at ``path``."""
    encoder = EpisodeEncoder(path, fps, int(frames.shape[1]), int(frames.shape[2]))
    try:
        for image in frames:
            encoder.add(image)
    finally:
        encoder.close()


def join_videos(parts: list[tuple[Path, float]], out: Path) -> list[tuple[float, float]]:
    """Copy the packets of ``parts`` (each ``(path, seconds)``: its first ``seconds`` only) one after
    the other into ``out``, without re-encoding; returns each part's ``(from, to)`` seconds in ``out``.

    Every part must have the same codec and frame size (they come from :class:`EpisodeEncoder`).
    """
    spans = []
    with av.open(str(out), mode="w", format="mp4") as output:
        stream = None
        offset = 0.0
        for path, seconds in parts:
            with av.open(str(path)) as source:
                src = source.streams.video[0]
                if stream is None:
                    stream = output.add_stream_from_template(src)
                base = src.time_base
                step = Fraction(1) / (src.average_rate or src.guessed_rate)
                for packet in source.demux(src):
                    if packet.pts is None:
                        continue
                    t = float(packet.pts * base)
                    if t >= seconds - float(step) / 2:
                        continue
                    shift = round(Fraction(offset).limit_denominator(1 << 20) / base)
                    packet.pts += shift
                    packet.dts = packet.dts + shift if packet.dts is not None else packet.pts
                    packet.stream = stream
                    output.mux(packet)
            spans.append((offset, offset + seconds))
            offset += seconds
    return spans


def video_info(path: Path) -> dict[str, object]:
    """The ``info`` entry LeRobot's info.json gives a video feature, read from ``path``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {
            "video.height": stream.codec_context.height,
            "video.width": stream.codec_context.width,
            "video.codec": stream.codec_context.name,
            "video.pix_fmt": stream.codec_context.pix_fmt,
            "video.is_depth_map": False,
            "video.fps": float(stream.average_rate or stream.guessed_rate),
            "video.channels": 3,
            "has_audio": bool(container.streams.audio),
        }


class FrameReader:
    """Decodes single frames by timestamp from MP4 files, keeping a few files open.

    Safe to use from DataLoader workers: open files belong to the process that opened them.
    """

    def __init__(self, max_open: int = 8) -> None:
        self.max_open = max_open
        self._open: OrderedDict[str, av.container.InputContainer] = OrderedDict()
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, object]:
        return {"max_open": self.max_open}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(int(state["max_open"]))  # type: ignore[misc]

    def _container(self, path: Path) -> av.container.InputContainer:
        if os.getpid() != self._pid:
            self._open.clear()
            self._pid = os.getpid()
        key = str(path)
        container = self._open.pop(key, None)
        if container is None:
            container = av.open(key)
            container.streams.video[0].thread_type = "SLICE"
            while len(self._open) >= self.max_open:
                self._open.popitem(last=False)[1].close()
        self._open[key] = container
        return container

    def frame(self, path: Path, t: float) -> np.ndarray:
        """The frame of ``path`` nearest ``t`` seconds, ``uint8`` ``[H, W, 3]``."""
        container = self._container(path)
        stream = container.streams.video[0]
        base = stream.time_base
        container.seek(max(0, int((t - 1e-3) / base)), stream=stream, backward=True, any_frame=False)
        best, best_gap = None, float("inf")
        for frame in container.decode(stream):
            ft = float(frame.pts * base)
            gap = abs(ft - t)
            if gap < best_gap:
                best, best_gap = frame, gap
            if ft > t + 1e-6:
                break
        if best is None:
            raise ValueError(f"{path}: no frame near {t:.3f} s")
        return best.to_ndarray(format="rgb24")

    def frames(self, path: Path, start: float, count: int) -> np.ndarray:
        """``count`` consecutive frames from ``start`` seconds, ``uint8`` ``[count, H, W, 3]``."""
        container = self._container(path)
        stream = container.streams.video[0]
        base = stream.time_base
        container.seek(max(0, int((start - 1e-3) / base)), stream=stream, backward=True, any_frame=False)
        step = 1.0 / float(stream.average_rate or stream.guessed_rate)
        out = []
        for frame in container.decode(stream):
            if float(frame.pts * base) < start - step / 2:
                continue
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == count:
                break
        if len(out) != count:
            raise ValueError(f"{path}: {len(out)} frames from {start:.3f} s, expected {count}")
        return np.stack(out)

    def close(self) -> None:
        """Close every open file."""
        while self._open:
            self._open.popitem()[1].close()
