"""Scoring policies on task environments: lockstep episodes, Wilson intervals, reports."""

from vlakit.evaluation.lockstep import EpisodeJob, EpisodeRecord, LockstepTimings, run_lockstep
from vlakit.evaluation.report import EvalReport, write_report
from vlakit.evaluation.run import evaluate_bundle, evaluate_policy, resolve_eval_section
from vlakit.evaluation.stats import GroupStats, format_table, summarize, wilson_interval

__all__ = [
    "EpisodeJob",
    "EpisodeRecord",
    "EvalReport",
    "GroupStats",
    "LockstepTimings",
    "evaluate_bundle",
    "evaluate_policy",
    "format_table",
    "resolve_eval_section",
    "run_lockstep",
    "summarize",
    "wilson_interval",
    "write_report",
]
