"""The routes a run tried: one Attempt per route, and the error that lists them all when none verified."""

from __future__ import annotations

from pathlib import Path

from torch2tf.errors import RoutesExhausted, Torch2TFError
from torch2tf.run.publish import publish_failure
from torch2tf.run.report import Attempt, Report


def attempt_of(report: Report) -> Attempt:
    error, verify = report.error or {}, report.verify
    return Attempt(route=report.route, status=report.status, seconds=report.seconds, failed_step=error.get("step"),
                   error_class=error.get("class"), hint=error.get("hint"), cause=error.get("cause"),
                   max_abs_diff=verify.max_abs_diff if verify else None,
                   latency_ms=verify.latency_ms if verify else None, transposes=(report.graph or {}).get("transposes"),
                   layout_share=verify.layout_share if verify else None)


def fail(report: Report, attempts: list[Attempt], exc: Torch2TFError, dest: Path, export_only: bool):
    """Record the failure (every attempt; with more than one, the error that lists them) and raise it."""
    report.attempts = attempts
    error = exc
    if len(attempts) > 1:
        lines = [f"  {i}. route {a.route} failed at {a.failed_step}: {a.error_class}: {a.cause or '-'}\n"
                 f"       what to do: {a.hint}" for i, a in enumerate(attempts, 1)]
        error = RoutesExhausted(f"no route of {report.target} verified {report.name}; {len(attempts)} tried:\n"
                                + "\n".join(lines), where=f"artifacts/{report.name}/report.json: attempts",
                                hint="read each attempt's hint above; `--route R` runs one route alone with its "
                                     "full error", log=exc.log, error_class="AllRoutesFailed", stage=exc.stage,
                                env=exc.env)
        report.error = {**error.as_dict(), "step": report.error.get("step")}
    if not export_only:
        publish_failure(dest, report)
    if error is exc:
        raise exc
    raise error from exc
