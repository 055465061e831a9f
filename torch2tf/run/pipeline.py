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
from torch2tf.configs.config import load_config, no_target
from torch2tf.envs.extras import extended_spec, extension_locked
from torch2tf.errors import ConfigError, StageError, Torch2TFError, VerifyError
from torch2tf.model_ops import op_tokens
from torch2tf.run.attempts import attempt_of, fail
from torch2tf.run.best import run_best
from torch2tf.run.execute import Execution, execute, inputs_of, record
from torch2tf.run.plan import From, Plan, PlanOptions, build_plan, check_plan
from torch2tf.run.publish import check_destination, publish
from torch2tf.run.report import Attempt, Report
from torch2tf.run import stack_hint
from torch2tf.run.locate import locate
from torch2tf.run.locate import render as render_locate
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
    best: bool = False                     # run every route, keep the fastest verified (also `route: best`)
    locate: bool | None = None             # find the first divergent node: None after a wrong-numbers failure
                                           # in the target runtime, True also after onnx-check's, False never
    jobs: int = 2                          # routes in parallel with best
    optimize: bool = True                  # the optimize step on the frozen graph (--no-optimize: off)
    echo: Callable[[str], None] = print


BEST = "best"       # the route name that asks for every route, fastest verified kept


def make_plans(config_path: Path, settings: Settings, options: Options,
               model_ops: frozenset[str] | None = None) -> list[tuple[Plan, str]]:
    """The checked plan of every route this run may try, in order, each with why it stands there
    (ranked by the model's ops when they are known: an .onnx model's always, a PyTorch model's once
    exported)."""
    cfg = load_config(config_path)
    target = options.target or cfg.target
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    forced = None if wants_best(cfg.route, options) else options.route or cfg.route
    _check_choice(compat, cfg.path, target, forced, options)
    plans = []
    for route, reason in routing.candidates(compat, cfg, target, forced, settings, model_ops):
        plan = build_plan(cfg, target, route, compat, PlanOptions(opset=options.opset, latency_runs=options.latency_runs,
                                                                  export_only=options.export_only,
                                                                  optimize=options.optimize))
        check_plan(plan, settings.stages_dir)
        if plan.extension:
            extended_spec(plan.extension, settings)      # refuses a pin the export env holds, before any run
        plans.append((plan, reason))
    return plans


def wants_best(config_route: str | None, options: Options) -> bool:
    return options.best or (options.route or config_route) == BEST


def _check_choice(compat, config: Path, target: str, route: str | None, options: Options) -> None:
    """An unknown target or route is the config's (or the flag's) mistake: say where it was written."""
    if not target:
        raise no_target(str(config), compat.targets)
    if target not in compat.targets:
        raise ConfigError(f"unknown target {target!r}", where="--target" if options.target else f"{config}: target",
                          hint=f"targets: {', '.join(compat.targets)} (configs/compat.yaml)")
    names = [r.name for r in compat.routes(target)]
    if route and route not in names:
        raise ConfigError(f"target {target!r} has no route {route!r}",
                          where="--route" if options.route else f"{config}: route",
                          hint=f"routes of {target}: {', '.join(names)}")


def lock_requirements(config_path: Path, settings: Settings, options: Options) -> list[str]:
    """Lock the config's model.requirements for the export env of every route it may take (written
    beside the config, to commit), running no stage; the env names locked."""
    runner = StageRunner(settings, say=options.echo)
    plans = make_plans(config_path, settings, options)
    for plan, _ in plans:
        runner.extend(plan.extension)
    runner.lock_extensions()
    return sorted({plan.extension.name for plan, _ in plans if plan.extension})


def run_pipeline(config_path: Path, settings: Settings, options: Options | None = None) -> Report:
    """Run the config end to end, trying its routes in ranked order until one verifies (only the
    forced one with --route); returns the report. Raises Torch2TFError when none verified, after
    recording every attempt in artifacts/<name>/report.json (the last good artifacts kept)."""
    options = options or Options()
    plans = make_plans(config_path, settings, options)
    dest = (options.artifacts_dir or settings.artifacts_dir) / plans[0][0].config.name
    if not options.export_only:
        check_destination(dest)
    settings.check_store()
    runner = StageRunner(settings, fresh=options.fresh, timeout=plans[0][0].config.timeout or settings.stage_timeout,
                         say=options.echo)
    for plan, _ in plans:
        runner.extend(plan.extension)
    runner.lock_extensions()        # a model's requirements that cannot resolve fail here, before any stage
    if _ranked_blind(plans, options):
        ops = _exported_ops(plans[0][0], runner, options.echo)
        if ops:
            plans = make_plans(config_path, settings, options, ops)
    if wants_best(plans[0][0].config.route, options):
        try:
            return run_best(plans, runner, dest, options.jobs, options.echo, options.export_only)
        finally:
            _warn_repaired(runner, options)
    attempts: list[Attempt] = []
    mismatched: Execution | None = None         # the last attempt whose numbers were wrong, for --locate
    for n, (plan, reason) in enumerate(plans):
        options.echo(f"torch2tf: {plan.config.name} -> {plan.target} via route {plan.route.name} ({reason})")
        execution = Execution(plan=plan, reason=reason)
        started = time.perf_counter()
        try:
            execute(execution, runner, options.echo)
        except Torch2TFError as exc:
            report = record(execution, time.perf_counter() - started, error=exc)
            attempts.append(attempt_of(report))
            if isinstance(exc, VerifyError) and _locatable(execution, options):
                mismatched = execution
            # a failure the stage declared route-independent (the model's own) would recur on every route
            if n + 1 < len(plans) and isinstance(exc, StageError) and not exc.route_independent:
                options.echo(f"route {plan.route.name} failed at {report.error['step']}: "
                             f"{report.error['class']}: {exc.cause}; trying {plans[n + 1][0].route.name}")
                continue
            if exc.error_class == "FactoryMissing":
                _name_the_stack_that_has_it(exc, report, plan, settings)
            if mismatched is not None and not options.export_only:
                report.locate = {"route": mismatched.plan.route.name, **locate(mismatched, runner, dest, options.echo)}
                for line in render_locate(report.locate):
                    options.echo(line)
            return fail(report, attempts, exc, dest, options.export_only)
        finally:
            _warn_repaired(runner, options)
        report = record(execution, time.perf_counter() - started)
        report.attempts = attempts + [attempt_of(report)]
        if not options.export_only:
            publish(dest, execution, report)
        return report
    raise AssertionError("unreachable: the last attempt returns or raises")


def _ranked_blind(plans: list[tuple[Plan, str]], options: Options) -> bool:
    """A PyTorch model with routes to choose among: its ops are known only once it is exported."""
    cfg = plans[0][0].config
    return (len(plans) > 1 and not cfg.model.onnx and not options.export_only
            and not wants_best(cfg.route, options))


def _exported_ops(plan: Plan, runner: StageRunner, echo: Callable[[str], None]) -> frozenset[str] | None:
    """The model's op tokens, from the first route's export (a stage-cache entry the routes of that opset
    reuse); None when the export fails here (the attempts then meet it and report it as usual)."""
    step = plan.steps[0]
    try:
        run = runner.run(step.stage, step.env, inputs_of(step, lambda ref: None), step.params, label=step.label)
    except Torch2TFError:
        return None
    ops = op_tokens(run.outputs["model"].path)
    echo(f"torch2tf: routes ranked by the model's {len(ops)} op kinds (read from its opset-{plan.opset} export)")
    return ops or None


def _locatable(execution: Execution, options: Options) -> bool:
    """Wrong numbers in the target runtime are located unless turned off; onnxruntime's (the export's
    own, against PyTorch) only when asked: the converter may still be exact there."""
    failed = execution.failed.label if execution.failed else None
    return options.locate is not False and (failed == "verify" or (failed == "onnx-check" and options.locate))


def _describe_source(plan: Plan) -> str:
    onnx = plan.config.model.onnx
    if onnx:
        renamed = ", ".join(f"{a} -> {b}" for a, b in onnx.renamed.items())
        return (f"model: {onnx.path.name} (opset {onnx.opset}, IR {onnx.ir_version}), taken in by "
                f"{plan.route.export.env}'s onnxruntime" + (f"; safe names: {renamed}" if renamed else ""))
    return (f"export stack: {plan.route.export.env} (torch {plan.export_torch})"
            + ("" if plan.config.model.torch else "; the default: set model.torch to choose another"))


def _name_the_stack_that_has_it(exc: Torch2TFError, report: Report, plan: Plan, settings: Settings) -> None:
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    where = stack_hint.factory_hint(compat, plan.config, plan.route.export.env, settings)
    if where:
        exc.hint = f"{where} (or check model.factory: 'module:callable' or 'file.py:callable')"
        report.error["hint"] = exc.hint


def _warn_repaired(runner: StageRunner, options: Options) -> None:
    while runner.repaired:
        options.echo(f"      warning: a damaged stage-cache entry was removed and its stage re-run: "
                     f"{runner.repaired.pop(0)}")


def describe_plan(config_path: Path, settings: Settings, options: Options) -> str:
    """`invoke pipeline --plan`: the steps, their envs and inputs, the cache hits expected, and what
    will be published, without running or building anything."""
    plans = make_plans(config_path, settings, options)
    plan, reason = plans[0]
    runner = StageRunner(settings, fresh=options.fresh)
    unlocked = plan.extension and not extension_locked(plan.extension, settings)
    if not unlocked:            # --plan writes nothing: an extension with no lock yet is only announced
        runner.extend(plan.extension)
    step = plan.steps[0]
    exported = None if unlocked or options.fresh or not _ranked_blind(plans, options) else \
        runner.cached(step.stage, step.env, inputs_of(step, lambda ref: None), step.params)
    if exported is not None:    # an earlier run's export is cached: the ranking the run will make
        plans = make_plans(config_path, settings, options, op_tokens(exported.outputs["model"].path) or None)
        plan, reason = plans[0]
    known: dict = {}              # label -> the cached run, while every step so far is a hit
    lines = [f"plan: {plan.config.name} -> {plan.target} via route {plan.route.name} ({reason}), opset {plan.opset}",
             _describe_source(plan)]
    for n, step in enumerate(plan.steps, 1):
        ready = all(v.step in known for v in step.inputs.values() if isinstance(v, From))
        hit = None
        if ready and not options.fresh and not (unlocked and step.env == plan.extension.name):
            hit = runner.cached(step.stage, step.env, inputs_of(step, lambda r: known[r.step].outputs[r.key]),
                                step.params)
        if hit:
            known[step.label] = hit
        state = "cached" if hit else "runs" if ready or options.fresh else "runs (an input is not cached)"
        ins = ", ".join(f"{k}<-{v.step}.{v.key}" if isinstance(v, From) else f"{k}={Path(v).name}"
                        for k, v in step.inputs.items()) or "-"
        lines.append(f"[{n}/{len(plan.steps)}] {step.label:<15} stages/{step.stage}.py in {step.env:<8} {state}")
        lines.append(f"      inputs: {ins}")
        if step.publishes:
            lines.append(f"      publishes: {', '.join(step.publishes.values())}")
    if unlocked:
        lines.append(f"model.requirements: env {plan.extension.name} ({plan.extension.base} + "
                     f"{', '.join(plan.extension.packages)}) is locked into {plan.extension.lock_dir} and built first")
    dest = (options.artifacts_dir or settings.artifacts_dir) / plan.config.name
    lines.append(f"artifacts/{plan.config.name}: {', '.join(plan.published())}, report.json, logs/ -> {dest}")
    if len(plans) > 1 and wants_best(plan.config.route, options):
        lines.append(f"--best: these run too, {options.jobs} at a time, and the fastest verified is kept:")
        lines += [f"  {p.route.name}" for p, _ in plans[1:]]
    elif len(plans) > 1:
        lines.append("if it fails, then (each until one verifies):")
        lines += [f"  {p.route.name}: {why}" for p, why in plans[1:]]
    return "\n".join(lines)
