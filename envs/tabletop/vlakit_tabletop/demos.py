"""The ``tabletop-demos`` dataset: scripted-expert demonstrations on the ``seen`` split.

Generated once per config (by one worker process per core from 2,000 episodes on, which gives the
same arrays as one process) and cached as one compressed ``.npz`` (no pickle) under ``cache_dir``;
processes that need the same missing file at once (DDP ranks) generate it once:

* ``images`` ``uint8`` ``[N, S, S, 3]``, ``states`` ``float32`` ``[N, 3]``, ``actions``
  ``float32`` ``[N, 4]`` (clean expert labels), ``aims`` and ``anchors`` ``float32`` ``[N, 2]``
  (see :data:`TARGETS`; anchors NaN where there is none), ``episode`` ``int32`` ``[N]``;
* per episode: ``starts`` ``int64`` ``[E + 1]`` (frame offsets), ``instructions`` and ``families``
  (unicode ``[E]``), ``seeds`` ``int64`` ``[E]``.

Sample ``i`` is frame ``i``; its action is the chunk ``[horizon, 4]`` starting there, padded with
the episode's last action (``terminate``); its targets are the frame's aim and anchor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm
from vlakit_tabletop.cameras import views
from vlakit_tabletop.config import TabletopDemosConfig
from vlakit_tabletop.expert import ScriptedExpert
from vlakit_tabletop.npy_stream import Parts, write_npy
from vlakit_tabletop.rollout_worker import block_rollouts, read_block
from vlakit_tabletop.sim import ACTION_SPACE, TabletopSim
from vlakit_tabletop.targets import TARGETS
from vlakit_tabletop.tasks import make_task

from vlakit import (
    ActionSpace,
    Dataset,
    Episode,
    Sample,
    TargetSpec,
    VlakitError,
    atomic_path,
    file_lock,
    usable_cores,
)

log = logging.getLogger(__name__)

#: Bump when generation changes, so old caches are not reused.
FORMAT_VERSION = 8
#: Demonstration task seeds start here; evaluate with seeds below it to never replay a demo.
DEMO_SEED_BASE = 1 << 40
def demo_task_seed(seed: int, episode: int) -> int:
    """Task seed of demonstration ``episode`` of a dataset with ``seed`` (always >= 2**40)."""
    return DEMO_SEED_BASE + (int(seed) % (1 << 16)) * (1 << 24) + int(episode)


def cache_key(config: TabletopDemosConfig) -> str:
    """Hash of everything that determines the generated data."""
    blob = json.dumps({"format": FORMAT_VERSION, **config.model_dump(exclude={"cameras"})}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: attempts (seeds) per block that a worker process rolls out (about a second)
BLOCK = 500
#: generation uses worker processes from this many episodes on (below, starting them costs more)
PARALLEL_FROM = 2000
#: deflate level of the cache file (numpy's ``savez_compressed`` uses 6: 3x slower to write for a
#: file 1.5x smaller)
COMPRESS_LEVEL = 3

#: one successful rollout: attempt, images, states, actions, aims, anchors, instruction, family, seed
Rollout = tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, str, int]


def rollouts(config: TabletopDemosConfig, attempts: Iterable[int]) -> Iterator[Rollout]:
    """The expert's successful episodes among ``attempts``, in their order. Each attempt depends
    only on its task seed, so attempts may be rolled out in any process and any order."""
    sim = TabletopSim(config.image_size)
    expert = ScriptedExpert(noise=config.noise, moves=config.moves, mistakes=config.mistakes)
    families = tuple(config.families)
    objects = (config.min_objects, config.max_objects)
    for attempt in attempts:
        task_seed = demo_task_seed(config.seed, attempt)
        scene, spec = make_task(task_seed, "seen", families, objects=objects)
        ep = expert.rollout(sim, scene, spec, np.random.default_rng([task_seed, 1]), config.max_steps)
        if ep.success:
            yield (attempt, ep.images, ep.states, ep.actions, ep.aims, ep.anchors, spec.instruction, spec.family,
                   task_seed)


def default_workers(episodes: int) -> int:
    """Processes for generating ``episodes``: one per usable core from :data:`PARALLEL_FROM` on."""
    if episodes < PARALLEL_FROM:
        return 1
    return max(1, min(usable_cores(), 8))


def widen_pipe(fd: int) -> None:
    """Let the pipe ``fd`` hold up to 1 MiB (Linux; 64 KiB by default): far fewer switches between
    a worker that writes a block of about 100 MB and the process that reads it."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


def successful_rollouts(config: TabletopDemosConfig, workers: int) -> Iterator[Rollout]:
    """:func:`rollouts` of the attempts from 0 on, in order, made here (``workers`` 1) or by
    ``workers`` processes (:mod:`vlakit_tabletop.rollout_worker`), worker ``w`` rolling out blocks
    ``w, w + workers, ...`` of :data:`BLOCK` attempts; closing the generator stops them."""
    attempts = range(2 * config.episodes + 101)  # the expert fails far less often than this
    if workers <= 1:
        yield from rollouts(config, attempts)
        return
    blocks = [(a, min(a + BLOCK, len(attempts))) for a in range(0, len(attempts), BLOCK)]
    procs = []
    try:
        for w in range(workers):
            proc = subprocess.Popen([sys.executable, "-m", "vlakit_tabletop.rollout_worker"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            procs.append(proc)
            widen_pipe(proc.stdout.fileno())
            request = {"config": config.model_dump(mode="json"), "blocks": blocks[w::workers]}
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.close()
            except BrokenPipeError:  # it ended at once: reported below, where its output ends
                pass
        for k in range(len(blocks)):
            proc = procs[k % workers]
            arrays = read_block(proc.stdout)
            if arrays is None:
                raise RuntimeError(f"a demonstration worker ended early (exit code {proc.wait()})")
            yield from block_rollouts(arrays)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
            proc.stdout.close()


def generate_parts(
    config: TabletopDemosConfig, progress: bool = True, workers: int | None = None
) -> dict[str, Parts]:
    """:func:`generate`'s arrays, those of one row per frame as their per-episode parts (joining
    2 GB costs seconds of fresh memory; :func:`save_atomic` writes the parts one after the other)."""
    workers = default_workers(config.episodes) if workers is None else workers
    episodes: list[Rollout] = []
    with tqdm(total=config.episodes, desc="tabletop-demos", unit="ep", disable=not progress) as bar:
        made = successful_rollouts(config, workers)
        for episode in made:
            episodes.append(episode)
            bar.update(1)
            if len(episodes) == config.episodes:
                made.close()  # the worker processes stop
                break
    if len(episodes) < config.episodes:
        raise RuntimeError("the tabletop expert keeps failing; this is a bug")
    _, images, states, actions, aims, anchors, instructions, fams, seeds = (list(c) for c in zip(*episodes))
    lengths = np.asarray([len(a) for a in actions], dtype=np.int64)

    def float32(parts: list[np.ndarray]) -> list[np.ndarray]:
        return [part.astype(np.float32, copy=False) for part in parts]

    return {
        "images": images,
        "states": float32(states),
        "actions": float32(actions),
        "aims": float32(aims),
        "anchors": float32(anchors),
        "episode": np.repeat(np.arange(len(lengths), dtype=np.int32), lengths),
        "starts": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "instructions": np.asarray(instructions, dtype=np.str_),
        "families": np.asarray(fams, dtype=np.str_),
        "seeds": np.asarray(seeds, dtype=np.int64),
        "config": np.asarray(json.dumps({"format": FORMAT_VERSION, **config.model_dump(exclude={"cameras"})})),
    }


def generate(config: TabletopDemosConfig, progress: bool = True, workers: int | None = None) -> dict[str, np.ndarray]:
    """Roll out the expert for ``config.episodes`` successful seen-split episodes (failures skipped):
    the first ones by attempt, the same whatever ``workers`` (processes; default
    :func:`default_workers`)."""
    return {name: joined(value) for name, value in generate_parts(config, progress, workers).items()}


def joined(value: Parts) -> np.ndarray:
    """An array, or its parts joined along the first axis."""
    return np.concatenate(value) if isinstance(value, list) else value


def save_atomic(path: Path, arrays: dict[str, Parts]) -> None:
    """Write ``arrays`` (arrays or their parts, :func:`write_npy`) to ``path`` as ``.npz``
    (deflated at :data:`COMPRESS_LEVEL`, no pickle) via a temporary file and a rename."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as z:
        for name, value in arrays.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                write_npy(f, value)


#: arrays every cache file holds (see the module docstring)
CACHE_KEYS = ("images", "states", "actions", "aims", "anchors", "episode", "starts", "instructions", "families",
              "seeds", "config")


def load_cache(path: Path) -> dict[str, np.ndarray]:
    """Read a cache file written by :func:`save_atomic`; :class:`VlakitError` when it is unreadable
    (truncated, not an ``.npz``, arrays missing or of inconsistent lengths)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except Exception as exc:  # noqa: BLE001  (zip, zlib, format and I/O errors alike)
        raise VlakitError(f"demonstration cache {path} is unreadable: {type(exc).__name__}: {exc}") from None
    missing = [k for k in CACHE_KEYS if k not in data]
    if missing:
        raise VlakitError(f"demonstration cache {path} lacks arrays {missing}")
    n, starts = len(data["actions"]), data["starts"]
    if starts.ndim != 1 or len(starts) < 2 or int(starts[-1]) != n or len(data["episode"]) != n:
        raise VlakitError(f"demonstration cache {path} is inconsistent (episode offsets do not fit {n} frames)")
    return data


def read_cache_if_there(path: Path, quiet: bool = False) -> dict[str, np.ndarray] | None:
    """:func:`load_cache`, or ``None`` when ``path`` is missing or unreadable (a warning unless
    ``quiet``: it is read again under the lock before anything is generated)."""
    if not path.exists():
        return None
    try:
        return load_cache(path)
    except VlakitError as exc:
        if not quiet:
            log.warning("%s; generating it again", exc)
        return None


class TabletopDemos(Dataset):
    """Expert demonstrations of the tabletop tasks (seen split), one sample per step."""

    def __init__(self, config: TabletopDemosConfig | None = None) -> None:
        self.config = config or TabletopDemosConfig()
        self.cache_path: Path | None = None
        self.loaded_from_cache = False
        self._data: dict[str, np.ndarray] | None = None

    @property
    def action_space(self) -> ActionSpace:
        return ACTION_SPACE

    @property
    def targets(self) -> dict[str, TargetSpec]:
        return TARGETS

    def prepare(self, cache_dir: Path) -> None:
        """Load the cached demonstrations for this config, generating them first if missing.

        An unreadable cache file (truncated, overwritten) is reported as a warning and generated
        again; only a freshly generated file that still cannot be read is an error.
        """
        path = Path(cache_dir) / f"tabletop-demos-{cache_key(self.config)}.npz"
        self.cache_path = path
        data = read_cache_if_there(path, quiet=True)
        self.loaded_from_cache = data is not None
        if data is None:
            # one process generates; another that needs the same file (a DDP rank) waits here and reads it
            with file_lock(path.with_name(f".{path.name}.lock")):
                data = read_cache_if_there(path)
                self.loaded_from_cache = data is not None
                if data is None:
                    save_atomic(path, generate_parts(self.config))
            if data is None:
                data = load_cache(path)
        data["ends"] = data["starts"][1:][data["episode"]]
        self._data = data

    def _require(self) -> dict[str, np.ndarray]:
        if self._data is None:
            raise RuntimeError("tabletop-demos: call prepare(cache_dir) before reading samples")
        return self._data

    def __len__(self) -> int:
        return int(self._require()["actions"].shape[0])

    @property
    def num_episodes(self) -> int:
        """Number of demonstrations ``E``."""
        return int(self._require()["instructions"].shape[0])

    def _chunk_index(self, index: np.ndarray) -> np.ndarray:
        """Frame indices ``[..., H]`` of the chunks starting at ``index``, clipped to each episode."""
        data = self._require()
        steps = np.arange(self.horizon)
        return np.minimum(index[..., None] + steps, data["ends"][index][..., None] - 1)

    def __getitem__(self, index: int) -> Sample:
        data = self._require()
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"tabletop-demos index {index} out of range for {n} samples")
        i = int(index) % n
        chunk = data["actions"][self._chunk_index(np.asarray(i))]
        targets = {"aim": data["aims"][i]}
        if not np.isnan(data["anchors"][i, 0]):
            targets["anchor"] = data["anchors"][i]
        return Sample(
            images=views(self.config.cameras, data["images"][i], data["states"][i]),
            text=str(data["instructions"][data["episode"][i]]),
            action=chunk,
            state=data["states"][i],
            targets=targets,
        )

    def actions(self) -> np.ndarray:
        """All action chunks ``[N, horizon, 4]`` ``float32``."""
        data = self._require()
        return data["actions"][self._chunk_index(np.arange(len(self)))]

    def texts(self) -> Iterator[str]:
        """The instruction of every demonstration (one per episode)."""
        yield from (str(text) for text in self._require()["instructions"])

    def episode(self, e: int) -> Episode:
        """Demonstration ``e`` as a :class:`vlakit.Episode`."""
        data = self._require()
        lo, hi = int(data["starts"][e]), int(data["starts"][e + 1])
        meta: dict[str, Any] = {"seed": int(data["seeds"][e]), "split": "seen", "success": True}
        frames = [views(self.config.cameras, data["images"][t], data["states"][t]) for t in range(lo, hi)]
        return Episode(
            images={cam: np.stack([f[cam] for f in frames]) for cam in self.config.cameras},
            actions=data["actions"][lo:hi],
            instruction=str(data["instructions"][e]),
            states=data["states"][lo:hi],
            task=str(data["families"][e]),
            metadata=meta,
        )
