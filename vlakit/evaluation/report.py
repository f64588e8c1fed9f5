"""The evaluation report: aggregates, and the files written for it (JSON, PNG, Markdown, GIFs)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlakit.evaluation.lockstep import EpisodeRecord
from vlakit.evaluation.media import save_gif, save_success_plot, slug
from vlakit.evaluation.stats import ALL, GroupStats, format_markdown_table, format_table
from vlakit.io import atomic_write_text

RESULTS = "results.json"
REPORT = "report.md"
PLOT = "success_rate.png"
GIF_DIR = "gifs"


@dataclass
class EvalReport:
    """Everything one evaluation measured.

    ``groups``: success per (split, family) with pooled rows (see
    :func:`vlakit.evaluation.stats.summarize`); ``timings`` in seconds; ``files``: paths written,
    relative to ``out_dir``.
    """

    out_dir: Path
    episodes: list[EpisodeRecord]
    groups: list[GroupStats]
    settings: dict[str, Any]
    timings: dict[str, float]
    bundle: str | None = None
    files: dict[str, Any] = field(default_factory=dict)

    @property
    def overall(self) -> GroupStats:
        """The pooled row over every episode."""
        pooled = [g for g in self.groups if g.family == ALL]
        return next((g for g in pooled if g.split == ALL), pooled[-1])

    @property
    def success_rate(self) -> float:
        """Fraction of successful episodes, in ``[0, 1]``."""
        return self.overall.rate

    def table(self) -> str:
        """The plain-text table printed on the terminal."""
        return format_table(self.groups, self.settings.get("confidence", 0.95))

    def to_dict(self) -> dict[str, Any]:
        """The content of ``results.json``."""
        return {
            "bundle": self.bundle,
            "settings": self.settings,
            "timings": self.timings,
            "overall": self.overall.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "episodes": [e.to_dict() for e in self.episodes],
            "files": self.files,
        }


def write_gifs(report: EvalReport, fps: float = 5.0) -> list[str]:
    """Save the recorded episodes as GIFs named after split, family, result and instruction."""
    written = []
    for rec in report.episodes:
        if not rec.frames:
            continue
        outcome = "success" if rec.success else "failure"
        name = f"{rec.index:04d}-{rec.split}-{rec.family}-{outcome}-{slug(rec.instruction)}.gif"
        save_gif(rec.frames, report.out_dir / GIF_DIR / name, fps=fps)
        rec.gif = f"{GIF_DIR}/{name}"
        written.append(rec.gif)
    return written


def failure_counts(episodes: list[EpisodeRecord]) -> Counter[str]:
    """Failed episodes per kind of failure the environment told apart (``task_outcome``); empty
    when it only tells success from (plain) failure."""
    counts = Counter(e.outcome for e in episodes if e.outcome not in ("", "success"))
    return Counter() if set(counts) <= {"failure"} else counts


def outcome_table(episodes: list[EpisodeRecord]) -> list[str]:
    """Markdown lines: episodes per family and outcome (the environment's ``task_outcome``);
    nothing when the environment only tells success from failure."""
    outcomes = sorted(failure_counts(episodes))
    if not outcomes:
        return []
    families = sorted({e.family for e in episodes})
    counts = Counter((e.family, e.outcome) for e in episodes)
    columns = ["success", *outcomes]
    lines = [
        "## Outcomes",
        "",
        "How each episode went, as the environment tells it (all splits together):",
        "",
        "| family | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for family in [*families, ALL]:
        row = [sum(counts[(f, c)] for f in families) if family == ALL else counts[(family, c)] for c in columns]
        lines.append(f"| {family} | " + " | ".join(str(n) for n in row) + " |")
    return [*lines, ""]


def markdown(report: EvalReport) -> str:
    """The text of ``report.md``."""
    s, t = report.settings, report.timings
    confidence = s.get("confidence", 0.95)
    overall = report.overall
    lines = [
        f"# Evaluation{f' of `{report.bundle}`' if report.bundle else ''}",
        "",
        f"Success rate **{overall.rate:.1%}** ({overall.successes}/{overall.episodes} episodes, "
        f"{confidence:.0%} Wilson CI [{overall.ci_low:.1%}, {overall.ci_high:.1%}]).",
        "",
        "## Settings",
        "",
        f"- bundle: `{report.bundle}`" if report.bundle else "- bundle: (in-memory policy)",
        f"- robot: `{json.dumps(s.get('robot'))}`",
        f"- splits: {', '.join(s.get('splits', []))}; {s.get('episodes')} episodes per split",
        f"- task seeds: {s.get('seed')} .. {s.get('seed', 0) + s.get('episodes', 1) - 1} (the same seeds in every split)",
        f"- step budget: {s.get('max_steps')} steps per episode",
        f"- environments in lockstep: {s.get('num_envs')}",
        f"- written: {s.get('date', '')} by vlakit {s.get('vlakit', '')}",
        "",
        "## Success rate",
        "",
        format_markdown_table(report.groups, confidence),
        "",
    ]
    for plot in report.files.get("plots", []):
        lines += [f"![success rate by family and split]({plot})", ""]
    ended = Counter(e.ended for e in report.episodes)
    lines += [
        "Episodes ended by: " + ", ".join(f"{k} {v}" for k, v in sorted(ended.items())) + ".",
        "",
    ]
    lines += outcome_table(report.episodes)
    unsafe = [e for e in report.episodes if e.ended == "unsafe"]
    if unsafe:
        lines += [
            f"**{len(unsafe)} episode(s) were stopped by the safety layer**, e.g.: `{unsafe[0].error}`",
            "",
        ]
    gifs = [e for e in report.episodes if e.gif]
    if gifs:
        lines += [
            "## Episodes",
            "",
            "| episode | split | family | instruction | result | steps | GIF |",
            "|---:|---|---|---|---|---:|---|",
        ]
        for e in gifs:
            result = "success" if e.success else "failure"
            lines.append(
                f"| {e.index} | {e.split} | {e.family} | {e.instruction} | {result} | {e.steps} | ![{result}]({e.gif}) |"
            )
        lines.append("")
    steps, total = t.get("steps", 0), t.get("total_s", 0.0)
    calls = t.get("policy_calls", 0)
    lines += [
        "## Timings",
        "",
        f"- total: {total:.1f} s ({steps / total if total else 0:.0f} env steps/s)",
        f"- policy: {t.get('policy_s', 0.0):.1f} s in {calls} batched calls "
        f"({1000 * t.get('policy_s', 0.0) / max(1, calls):.1f} ms per call)",
        f"- environments: {t.get('env_s', 0.0):.1f} s",
    ]
    if "load_s" in t:
        lines.append(f"- bundle load: {t['load_s']:.1f} s")
    lines += ["", f"Per-episode records: [{RESULTS}]({RESULTS}).", ""]
    return "\n".join(lines)


def write_report(report: EvalReport) -> EvalReport:
    """Write GIFs, the plot, ``results.json`` and ``report.md`` into ``report.out_dir`` (atomically)."""
    out = report.out_dir
    out.mkdir(parents=True, exist_ok=True)
    report.files["gifs"] = write_gifs(report)
    save_success_plot(report.groups, out / PLOT, title=f"success rate ({report.overall.episodes} episodes)")
    report.files["plots"] = [PLOT]
    report.files["results"] = RESULTS
    report.files["report"] = REPORT
    atomic_write_text(out / RESULTS, json.dumps(report.to_dict(), indent=2) + "\n")
    atomic_write_text(out / REPORT, markdown(report))
    return report
