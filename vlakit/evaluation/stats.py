"""Success rates with Wilson score intervals, grouped by split and task family."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

#: Label of the group that pools every split or every family.
ALL = "all"


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` for ``successes`` out of ``n`` Bernoulli trials.

    Unlike the normal approximation it stays inside ``[0, 1]`` and is sensible at 0 % and
    100 %; ``n == 0`` gives the uninformative ``(0, 1)``.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    # mathematically p is always inside; rounding at 0 % and 100 % must not push it out
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


@dataclass(frozen=True)
class GroupStats:
    """Success of one group of episodes: ``rate`` in ``[0, 1]`` with its Wilson interval."""

    split: str
    family: str
    episodes: int
    successes: int
    rate: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def group_stats(split: str, family: str, outcomes: list[bool], confidence: float = 0.95) -> GroupStats:
    """Stats of one group from its per-episode successes."""
    n, k = len(outcomes), int(sum(outcomes))
    low, high = wilson_interval(k, n, confidence)
    return GroupStats(split, family, n, k, k / n if n else 0.0, low, high)


def summarize(outcomes: Iterable[tuple[str, str, bool]], confidence: float = 0.95) -> list[GroupStats]:
    """Group ``(split, family, success)`` triples.

    Returns, for each split in first-seen order: one row per family (sorted), then the split's
    pooled row (family ``"all"``); when there is more than one split, pooled rows per family
    across splits (split ``"all"``) and the grand total last.
    """
    by: dict[tuple[str, str], list[bool]] = {}
    splits: list[str] = []
    for split, family, ok in outcomes:
        if split not in splits:
            splits.append(split)
        by.setdefault((split, family), []).append(bool(ok))
    families = sorted({f for _, f in by})
    rows: list[GroupStats] = []
    for split in splits:
        pooled: list[bool] = []
        for family in families:
            if (split, family) in by:
                rows.append(group_stats(split, family, by[(split, family)], confidence))
                pooled += by[(split, family)]
        rows.append(group_stats(split, ALL, pooled, confidence))
    if len(splits) > 1:
        for family in families:
            pooled = [ok for s in splits for ok in by.get((s, family), [])]
            rows.append(group_stats(ALL, family, pooled, confidence))
        rows.append(group_stats(ALL, ALL, [ok for v in by.values() for ok in v], confidence))
    return rows


def format_table(rows: list[GroupStats], confidence: float = 0.95) -> str:
    """Plain aligned text: split, family, episodes, successes, rate and interval in percent."""
    ci = f"{confidence:.0%} CI"
    header = ("split", "family", "episodes", "success", "rate", ci)
    body = [
        (
            r.split,
            r.family,
            str(r.episodes),
            str(r.successes),
            f"{r.rate:.1%}",
            f"[{r.ci_low:.1%}, {r.ci_high:.1%}]",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    right = {2, 3, 4}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    out = [line(header), "  ".join("-" * w for w in widths)]
    previous = None
    for row, cells in zip(rows, body):
        if previous is not None and row.split != previous:
            out.append("")
        previous = row.split
        out.append(line(cells))
    return "\n".join(s.rstrip() for s in out)


def format_markdown_table(rows: list[GroupStats], confidence: float = 0.95) -> str:
    """The same table as GitHub-flavoured Markdown; pooled rows in bold."""
    out = [
        f"| split | family | episodes | successes | success rate | {confidence:.0%} CI |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        rate = f"{r.rate:.1%}"
        if ALL in (r.split, r.family):
            rate = f"**{rate}**"
        out.append(
            f"| {r.split} | {r.family} | {r.episodes} | {r.successes} | {rate} "
            f"| [{r.ci_low:.1%}, {r.ci_high:.1%}] |"
        )
    return "\n".join(out)
