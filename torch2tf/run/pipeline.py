"""One config to a verified artifact: pick the route, build the plan, run it, publish.

    config ──► route (routing) ──► plan (plan) ──► execute (execute) ──► report + artifacts/<name>/ (publish)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch2tf import routing
from torch2tf.configs.compat import load_compat
from torch2tf.configs.config import load_config
from torch2tf.errors import Torch2TFError
from torch2tf.run.execute import Execution, execute, inputs_of, record
from torch2tf.run.plan import Plan, PlanOptions, build_plan, check_plan
from torch2tf.run.publish import publish, publish_failure
from torch2tf.run.report import Report
from torch2tf.run.stagerun import StageRunner
from torch2tf.settings import Settings


@dataclass
class Options:
    target: str | None = None
    route: str | None = None
    opset: int | None = None
    fresh: bool = False
    artifacts_dir: Path | None = None      # default: <project>/artifacts
    latency_runs: int = 10                 # timed runs (after 3 warm-up) per artifact and for PyTorch
    export_only: bool = False              # stop after the export (warms the stage cache; nothing published)
    echo: Callable[[str], None] = print


def make_plan(config_path: Path, settings: Settings, options: Options) -> tuple[Plan, str]:
    """The checked plan for this config and the reason its route was taken."""
    cfg = load_config(config_path)
    target = options.target or cfg.target
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    route, reason = routing.pick_route(compat, cfg, target, options.route or cfg.route, settings)
    plan = build_plan(cfg, target, route, compat, PlanOptions(opset=options.opset, latency_runs=options.latency_runs,
                                                              export_only=options.export_only))
    check_plan(plan, settings.stages_dir)
    return plan, reason


def run_pipeline(config_path: Path, settings: Settings, options: Options | None = None) -> Report:
    """Run the config end to end; returns the report. Raises Torch2TFError on failure (after
    recording it in artifacts/<name>/report.json, the last good artifacts kept)."""
    options = options or Options()
    plan, reason = make_plan(config_path, settings, options)
    dest = (options.artifacts_dir or settings.artifacts_dir) / plan.config.name
    options.echo(f"torch2tf: {plan.config.name} -> {plan.target} via route {plan.route.name} ({reason})")
    execution = Execution(plan=plan, reason=reason)
    runner = StageRunner(settings, fresh=options.fresh)
    started = time.perf_counter()
    try:
        execute(execution, runner, options.echo)
    except Torch2TFError as exc:
        report = record(execution, time.perf_counter() - started, error=exc)
        if not options.export_only:
            publish_failure(dest, report)
        raise
    finally:
        for entry in runner.repaired:
            options.echo(f"      warning: a damaged stage-cache entry was removed and its stage re-run: {entry}")
    report = record(execution, time.perf_counter() - started)
    if not options.export_only:
        publish(dest, execution, report)
    return report


def describe_plan(config_path: Path, settings: Settings, options: Options) -> str:
    """`invoke pipeline --plan`: the steps, their envs and inputs, the cache hits expected, and what
    will be published, without running or building anything."""
    plan, reason = make_plan(config_path, settings, options)
    runner = StageRunner(settings, fresh=options.fresh)
    known: dict = {}              # label -> the cached run, while every step so far is a hit
    lines = [f"plan: {plan.config.name} -> {plan.target} via route {plan.route.name} ({reason}), opset {plan.opset}"]
    for n, step in enumerate(plan.steps, 1):
        ready = all(v.step in known for v in step.inputs.values() if hasattr(v, "step"))
        hit = None
        if ready and not options.fresh:
            hit = runner.cached(step.stage, step.env, inputs_of(step, lambda r: known[r.step].outputs[r.key]),
                                step.params)
        if hit:
            known[step.label] = hit
        state = "cached" if hit else "runs" if ready or options.fresh else "runs (an input is not cached)"
        ins = ", ".join(f"{k}<-{v.step}.{v.key}" if hasattr(v, "step") else f"{k}={Path(v).name}"
                        for k, v in step.inputs.items()) or "-"
        lines.append(f"[{n}/{len(plan.steps)}] {step.label:<15} stages/{step.stage}.py in {step.env:<8} {state}")
        lines.append(f"      inputs: {ins}")
        if step.publishes:
            lines.append(f"      publishes: {', '.join(step.publishes.values())}")
    dest = (options.artifacts_dir or settings.artifacts_dir) / plan.config.name
    lines.append(f"artifacts/{plan.config.name}: {', '.join(plan.published())}, report.json, logs/ -> {dest}")
    return "\n".join(lines)
