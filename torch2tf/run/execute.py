"""Running a plan step by step through the stage runner, and recording what happened as a Report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch2tf import catalogue, proc
from torch2tf.errors import StageError, Torch2TFError, VerifyError
from torch2tf.run.plan import From, Plan, Step
from torch2tf.run.report import Report, Status, StepRecord, Verification
from torch2tf.run.stagerun import Artifact, StageRun, StageRunner


@dataclass
class Execution:
    plan: Plan
    reason: str                   # why this route
    runs: dict[str, StageRun] = field(default_factory=dict)   # label -> run, in plan order
    failed: Step | None = None

    def artifact(self, ref: From) -> Artifact:
        return self.runs[ref.step].outputs[ref.key]


def inputs_of(step: Step, outputs: Callable[[From], Artifact]) -> dict:
    return {k: outputs(v) if isinstance(v, From) else Path(v) for k, v in step.inputs.items()}


def execute(execution: Execution, runner: StageRunner, echo: Callable[[str], None]) -> None:
    """Run every step in order; raises the first failure (a verify step that did not pass included)."""
    steps = execution.plan.steps
    for n, step in enumerate(steps, 1):
        echo(f"[{n}/{len(steps)}] {step.label:<9} ({step.env}) ...")
        try:
            run = runner.run(step.stage, step.env, inputs_of(step, execution.artifact), step.params, label=step.label)
        except Torch2TFError:
            execution.failed = step
            raise
        execution.runs[step.label] = run
        echo(f"[{n}/{len(steps)}] {step.label:<9} ({step.env}) {'cached' if run.cached else 'done'} "
             f"in {run.seconds:.1f}s")
        for w in run.warnings:
            echo(f"      warning: {w}")
        if step.check and not run.metrics.get("passed"):
            execution.failed = step
            raise _mismatch(step, run, execution)


GROSS = 0.01     # a difference above 1% of the output's scale is a wrong conversion, not rounding


def _gross(output: dict, atol: float) -> bool:
    diff = output.get("max_abs_diff")
    return diff is not None and diff > GROSS * max(output.get("ref_scale") or 0.0, 10 * atol)


def _mismatch(step: Step, run: StageRun, execution: Execution) -> VerifyError:
    """The failed comparison, explained by a known warning in `explain_with`'s log when there is one."""
    cfg = execution.plan.config
    explain = execution.runs.get(step.check.explain_with) if step.check.explain_with else None
    known = catalogue.match(proc.tail(explain.log, 200)) if explain else None
    bad = [o for o in run.metrics.get("outputs", []) if not o.get("passed")]
    detail = "; ".join(
        f"{o['name']}: {o['problem']}" if o.get("problem") else
        f"{o['name']}: max abs diff {o['max_abs_diff']:.3g}, max rel diff {o['max_rel_diff']:.3g}"
        for o in bad)
    hint = step.check.hint
    if any(_gross(o, cfg.atol) for o in bad):
        hint = ("the numbers are wrong, not a little off (more than 1% of the output's scale): no tolerance will "
                "fix that; take another route (leave route: out, or --best), and keep this log for a report")
    return VerifyError(f"verification failed in {step.check.hop}: {detail} (atol {cfg.atol}, rtol {cfg.rtol})",
                       where=f"stage {step.label}, env {step.env}",
                       hint=f"{known.cause}: {known.fix}" if known else hint, log=run.log,
                       error_class=known.error_class if known else "VerifyMismatch", stage=step.label, env=step.env)


def record(execution: Execution, seconds: float, error: Torch2TFError | None = None) -> Report:
    """The run as a typed report: steps, a verification per checked artifact, and the recorded blocks."""
    plan, runs = execution.plan, execution.runs
    report = Report(name=plan.config.name, config=str(plan.config.path), target=plan.target,
                    route=plan.route.name, route_reason=execution.reason, opset=plan.opset, layout=plan.route.layout,
                    primary=plan.primary, status=Status.FAILED if error else Status.PASSED, seconds=round(seconds, 3),
                    created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), export_stack=plan.route.export.env,
                    tensor_names=dict(plan.config.model.onnx.renamed) if plan.config.model.onnx else None)
    sensitivity = next((r.metrics.get("input_sensitivity", {}) for label, r in runs.items()
                        if plan.step(label).records == "export"), {})
    for step in plan.steps:
        run = runs.get(step.label)
        failed = execution.failed is step
        if run is None and not failed:
            continue
        report.steps.append(StepRecord(
            label=step.label, stage=step.stage, env=step.env, status="failed" if failed else "ok",
            seconds=round(run.seconds, 3) if run else None, cached=bool(run and run.cached),
            process_seconds=round(run.stage_wall, 3) if run else 0.0,
            env_note=run.env_note if run and all(s.env != step.env for s in report.steps) else ""))
        if run and step.check:
            checked = Verification.from_metrics(step.check.artifact, step.label, step.env, run.metrics)
            checked.mark_insensitive(sensitivity)
            report.verifications.append(checked)
        if run and step.records == "export":
            report.versions = {"torch": run.metrics.get("torch")}
            report.pytorch_latency_ms = run.metrics.get("latency_ms")
            report.export_shims = list(run.metrics.get("shims", []))
            report.references = run.metrics.get("references", "")
        elif run and step.records in ("graph", "downgrade", "optimize"):
            setattr(report, step.records, run.metrics)
    if error is not None:
        report.error = {**error.as_dict(), "step": execution.failed.label if execution.failed else
                        (error.stage if isinstance(error, StageError) else None)}
        failed = execution.failed
        if failed is not None and failed.check and failed.label in runs:    # it ran, and did not match
            report.error["artifact"] = str(execution.artifact(failed.inputs["artifact"]).path)
            report.error["artifact_name"] = failed.check.artifact
    return report
