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
    raced = _race(verified, runner, echo)
    for attempt in attempts:
        attempt.latency_ms = raced.get(attempt.route, attempt.latency_ms)
    execution, report, _ = min(verified, key=lambda o: raced.get(o[1].route, o[1].verify.latency_ms))
    report.route_reason = _why(report, verified, len(outcomes), raced)
    report.attempts = attempts
    if not export_only:
        publish(dest, execution, report)
    return report


RACE_ROUNDS = 20


def _race(verified: list[Outcome], runner: StageRunner, echo: Callable[[str], None]) -> dict[str, float]:
    """route -> latency of its frozen graph, all timed in one process of the target runtime, interleaved
    (the routes' own figures were taken while the others ran). {} when there is nothing to race."""
    graphs = [(e, r) for e, r, _ in verified if r.primary == "model.pb"]
    if len(graphs) < 2:
        return {}
    first = graphs[0][0]
    step = first.plan.step("verify")
    feeds = {k: first.artifact(v) for k, v in step.inputs.items() if k.startswith("input.")}
    inputs = {f"graph.{r.route}": e.artifact(e.plan.step("verify").inputs["artifact"]) for e, r in graphs}
    # a timing is taken anew each time: a cached race would replay one busy moment's figures for good
    racer = StageRunner(runner.settings, fresh=True, timeout=runner.timeout, say=runner.say)
    try:
        run = racer.run("race", step.env, {**inputs, **feeds}, {"inputs": step.params["inputs"],
                        "outputs": step.params["outputs"], "rounds": RACE_ROUNDS}, label="race")
    except Torch2TFError as exc:      # the verified figures still stand
        echo(f"torch2tf: --best: the race failed ({exc.message.splitlines()[0]}); ranking by each route's own timing")
        return {}
    raced = run.metrics.get("latency_ms", {})
    echo("torch2tf: --best: raced in one process: " + ", ".join(f"{k} {v:.1f} ms" for k, v in
                                                               sorted(raced.items(), key=lambda kv: kv[1])))
    return raced


def _why(winner: Report, verified: list[Outcome], tried: int, raced: dict[str, float]) -> str:
    def latency(r: Report) -> float:
        return raced.get(r.route, r.verify.latency_ms)
    others = sorted((o[1] for o in verified if o[1] is not winner), key=latency)
    runner_up = f"; next {others[0].route} {latency(others[0]):.1f} ms" if others else ""
    how = ", raced in one process" if raced else ""
    return (f"--best: fastest of {len(verified)} verified out of {tried} routes{how}, "
            f"{latency(winner):.1f} ms{runner_up}")
