"""`--best` (or `route: best`): run every route of the target, in parallel, and keep the fastest verified.

Every route's plan runs to the end through one shared stage runner (an export several routes share
runs once: the others wait on its cache lock and reuse it). The winner is the verified route with
the lowest median latency of the primary artifact in the target runtime; all of them are reported.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from torch2tf import parallel
from torch2tf.errors import Torch2TFError
from torch2tf.run.attempts import attempt_of, fail
from torch2tf.run.execute import Execution, execute, record
from torch2tf.run.plan import Plan
from torch2tf.run.publish import publish
from torch2tf.run.report import Report
from torch2tf.run.stagerun import StageRunner

Outcome = tuple[Execution, Report, "Torch2TFError | None"]


def run_best(plans: list[tuple[Plan, str]], runner: StageRunner, dest: Path, jobs: int,
             echo: Callable[[str], None], export_only: bool = False) -> Report:
    """Run every plan; publish the fastest verified one. Raises when none verified."""
    echo(f"torch2tf: --best: {len(plans)} routes of {plans[0][0].target}, {jobs} at a time")

    def one(item: tuple[Plan, str]) -> Outcome:
        plan, reason = item
        execution, started = Execution(plan=plan, reason=reason), time.perf_counter()
        try:
            execute(execution, runner, lambda line: None)    # interleaved step lines would be unreadable
        except Torch2TFError as exc:
            return execution, record(execution, time.perf_counter() - started, error=exc), exc
        return execution, record(execution, time.perf_counter() - started), None

    def done(n: int, item, outcome: Outcome) -> None:
        report = outcome[1]
        state = f"verified, {report.verify.latency_ms:.1f} ms" if report.passed and report.verify else \
            f"failed at {(report.error or {}).get('step')}: {(report.error or {}).get('class')}"
        echo(f"[{n}/{len(plans)}] {report.route:<26} {state} ({report.seconds:.0f}s)")

    outcomes = parallel.run_all(plans, one, jobs, done)
    attempts = [attempt_of(report) for _, report, _ in outcomes]
    verified = [o for o in outcomes if o[2] is None and o[1].verify and o[1].verify.latency_ms is not None]
    if not verified:
        last = [o for o in outcomes if o[2] is not None][-1]
        return fail(last[1], attempts, last[2], dest, export_only)
    execution, report, _ = min(verified, key=lambda o: o[1].verify.latency_ms)
    report.route_reason = _why(report, verified, len(outcomes))
    report.attempts = attempts
    if not export_only:
        publish(dest, execution, report)
    return report


def _why(winner: Report, verified: list[Outcome], tried: int) -> str:
    others = sorted((o[1] for o in verified if o[1] is not winner), key=lambda r: r.verify.latency_ms)
    runner_up = f"; next {others[0].route} {others[0].verify.latency_ms:.1f} ms" if others else ""
    return (f"--best: fastest of {len(verified)} verified out of {tried} routes, "
            f"{winner.verify.latency_ms:.1f} ms{runner_up}")
