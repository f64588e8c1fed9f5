"""Training curves of several runs side by side: the mean of each logged training metric over a
few windows of steps, one line per run (from each run's ``logs/metrics.csv``).

Used to screen a change on the first ~2,000 steps of the main job before spending full runs on
it: a variant whose losses sit outside the spread of the default's seeds at steps 1,000 and
2,000 ended below it in every full run measured (see training-speed.md).

    python docs/experiments/compare_curves.py RUN_DIR [RUN_DIR ...] [--windows 900-1100,1900-2100]
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path


def window_mean(rows: list[dict[str, str]], low: int, high: int, key: str) -> float:
    """Mean of ``key`` over the rows logged at steps ``low <= step < high`` (nan if none)."""
    values = [float(r[key]) for r in rows if r.get(key) and low <= int(r["step"]) < high]
    return sum(values) / len(values) if values else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--windows", default="900-1100,1900-2100,3800-4000,7600-8000")
    args = parser.parse_args()
    tables = {run: list(csv.DictReader((run / "logs" / "metrics.csv").open())) for run in args.runs}
    keys = sorted({k for rows in tables.values() for k in rows[0] if k.startswith("train/")})
    for window in args.windows.split(","):
        low, high = (int(x) for x in window.split("-"))
        print(f"steps {low}-{high}")
        for run, rows in tables.items():
            means = " ".join(f"{k.removeprefix('train/')}={window_mean(rows, low, high, k):.3f}" for k in keys)
            print(f"  {run.name:24s} {means}")


if __name__ == "__main__":
    main()
