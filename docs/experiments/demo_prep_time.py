"""Time of making the tabletop demonstration cache: generation, compressed save, reading back.

    python docs/experiments/demo_prep_time.py [--episodes 20000] [--workers 1 2]

For each worker count: generates ``--episodes`` episodes of the default recipe's first source,
saves them as the cache file (``save_atomic``) and reads them back (``load_cache``) in a temporary
directory beside this script, and prints the seconds of each phase and the file's size. With
``--old-save`` it also times numpy's ``savez_compressed`` (deflate level 6, the writer before
``9ae950d``) on the joined arrays. Run it alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from vlakit_tabletop.config import TabletopDemosConfig
from vlakit_tabletop.demos import generate_parts, joined, load_cache, save_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=20000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--old-save", action="store_true")
    args = parser.parse_args()
    config = TabletopDemosConfig(episodes=args.episodes)
    for workers in args.workers:
        scratch = Path(tempfile.mkdtemp(dir=Path(__file__).parent))
        try:
            start = time.perf_counter()
            parts = generate_parts(config, progress=False, workers=workers)
            generated = time.perf_counter()
            save_atomic(scratch / "cache.npz", parts)
            saved = time.perf_counter()
            load_cache(scratch / "cache.npz")
            read = time.perf_counter()
            size = (scratch / "cache.npz").stat().st_size / 1e6
            print(f"{args.episodes} episodes, {workers} worker(s): generation {generated - start:.1f} s, "
                  f"save {saved - generated:.1f} s ({size:.0f} MB), reading back {read - saved:.1f} s; "
                  f"in all {read - start:.1f} s", flush=True)
            if args.old_save:
                arrays = {name: joined(value) for name, value in parts.items()}
                start = time.perf_counter()
                np.savez_compressed(scratch / "old.npz", **arrays)
                size = (scratch / "old.npz").stat().st_size / 1e6
                print(f"  numpy savez_compressed of the joined arrays: {time.perf_counter() - start:.1f} s ({size:.0f} MB)")
        finally:
            shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
