"""`invoke conformance`: every node test x every route of the chosen targets, each converted and
verified exactly as `invoke pipeline` would (the same plan: opset step, adapt, convert, downgrade, optimize,
verify in the target runtime), against the test's own expected outputs instead of onnxruntime's.

Batched by round: the next step of every (test, route) chain is gathered, grouped by stage and env,
and each group is served by one stage process (torch2tf/run/stagebatch.py), `jobs` at a time. Steps
with the same cache key (a shared route's convert serves three targets) run once.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from torch2tf import parallel
from torch2tf.configs.compat import Compat
from torch2tf.configs.config import onnx_file_config
from torch2tf.conformance.suite import NodeTest
from torch2tf.errors import ConfigError, Torch2TFError, first_line
from torch2tf.run.plan import SOURCE, From, build_plan
from torch2tf.run.stagebatch import Request, run_batch
from torch2tf.run.stagerun import StageRunner

SKIPPED = {SOURCE, "onnx-check", "inspect"}     # the references are the test's; no report to fill
# the ONNX backend test runner's own tolerance (onnx.backend.test.runner: rtol 1e-3, atol 1e-7)
ATOL, RTOL = 1e-7, 1e-3
MIN_CHUNK = 20            # requests per stage process at least: a process start is a TF import


@dataclass
class Cell:
    """One test on one route: passed, or where and why not."""
    test: str
    target: str
    route: str
    passed: bool = False
    weak: bool = False
    error_class: str = ""
    cause: str = ""
    step: str = ""
    max_abs: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None, False) or k == "passed"}


@dataclass
class _Chain:
    cell: Cell
    steps: list
    outputs: dict = field(default_factory=dict)      # step label -> StageRun
    sources: dict = field(default_factory=dict)      # the skipped source step's keys -> test files

    def next_step(self):
        return self.steps[len(self.outputs)] if not self.finished and len(self.outputs) < len(self.steps) else None

    @property
    def finished(self) -> bool:
        return bool(self.cell.error_class) or self.cell.passed


def _sources(test: NodeTest, cfg) -> dict:
    """What the pipeline's import step would give: the model and the test's tensors as references."""
    files = {"model": test.model}
    files.update({f"input.{n}": p for n, p in test.inputs})
    files.update({f"ref.{n}": p for n, p in test.outputs})
    return files


def _ablate(step, without: tuple[str, ...], adapt_rewrites: set[str]):
    """A step with the named adapt rewrites and downgrade lowerings left out (a before/after run)."""
    if not without:
        return step
    ops = [w for w in without if w not in adapt_rewrites]        # down-steps and lowerings: by op name
    if step.stage == "adapt":
        params = {k: v for k, v in step.params.items() if k not in without}
        return replace(step, params={**params, "without": ops} if ops and "opset" in params else params)
    if step.stage == "downgrade" and ops:
        return replace(step, params={**step.params, "without": ops})
    return step


def chains_for(tests: list[NodeTest], targets: list[str], compat: Compat, route_names: set[str],
               without: tuple[str, ...], adapt_rewrites: set[str]) -> list[_Chain]:
    chains = []
    for test in tests:
        for target in targets:
            for route in compat.routes(target):
                if route_names and route.name not in route_names:
                    continue
                cell = Cell(test=test.name, target=target, route=route.name)
                chain = _Chain(cell=cell, steps=[])
                chains.append(chain)
                if test.problem:
                    cell.error_class, cell.cause, cell.step = test.problem_class, test.problem, "suite"
                    continue
                try:
                    cfg = onnx_file_config(test.model, test.name, target, ATOL, RTOL)
                    plan = build_plan(cfg, target, route, compat)
                except Torch2TFError as exc:
                    cell.error_class, cell.cause, cell.step = exc.error_class or type(exc).__name__, \
                        first_line(exc.message), "config"
                    continue
                chain.sources = _sources(test, cfg)
                chain.steps = [_ablate(s, without, adapt_rewrites) for s in plan.steps if s.label not in SKIPPED]
    return chains


def _inputs(chain: _Chain, step) -> dict:
    resolved = {}
    for key, ref in step.inputs.items():
        if isinstance(ref, From):
            resolved[key] = chain.sources[ref.key] if ref.step == SOURCE else chain.outputs[ref.step].outputs[ref.key]
        else:
            resolved[key] = ref
    return resolved


def _settle(chain: _Chain, step, outcome) -> None:
    cell = chain.cell
    if outcome.error is not None:
        err = outcome.error
        cell.error_class, cell.step = err.error_class or type(err).__name__, step.label
        cell.cause = first_line(err.cause)
        return
    chain.outputs[step.label] = outcome.run
    if step.stage == "verify":
        metrics = outcome.run.metrics
        rows = metrics.get("outputs", [])
        diffs = [r["max_abs_diff"] for r in rows if r.get("max_abs_diff") is not None]
        cell.max_abs = max(diffs) if diffs else None
        if metrics.get("passed"):
            cell.passed, cell.weak = True, bool(metrics.get("weak"))
        else:
            bad = next((r for r in rows if not r.get("passed")), {})
            cell.error_class, cell.step = "Mismatch", step.label
            cell.cause = bad.get("problem") or (f"{bad.get('name')}: max abs diff {bad.get('max_abs_diff'):.3g} "
                                                f"(max |expected| {bad.get('ref_scale', 0):.3g})")
    elif chain.next_step() is None:
        cell.error_class, cell.cause, cell.step = "StageBug", "the plan has no verify step", step.label


def _chunks(items: list, jobs: int) -> list[list]:
    """A group split into `jobs` processes' shares (one stage's slow converter must not keep a round
    waiting on one core), but never below MIN_CHUNK requests: a process start is a TF import. The
    shares are dealt like cards, not cut: tests of one op sit together and cost alike (onnx2tf takes
    ~10 s on each of the 104 loss tests, 2 s on most), so a cut left one core with all of them."""
    size = max(MIN_CHUNK, math.ceil(len(items) / max(1, jobs)))
    count = math.ceil(len(items) / size)
    return [items[i::count] for i in range(count)]


def run_chains(chains: list[_Chain], runner: StageRunner, jobs: int, item_timeout: float,
               echo: Callable[[str], None]) -> list[dict]:
    """Every chain to its end, round by round; returns what each stage group cost (for the bench).
    Requests with one cache key (a shared route's convert, a registry) are sent once."""
    costs = []
    round_no = 0
    while True:
        groups: dict[tuple, dict] = defaultdict(dict)       # (stage, env) -> key -> (request, [(chain, step)])
        for chain in chains:
            step = chain.next_step()
            if step is None:
                continue
            request = Request(_inputs(chain, step), step.params)
            key = runner.key(step.stage, step.env, request.inputs, request.params)
            groups[(step.stage, step.env)].setdefault(key, (request, []))[1].append((chain, step))
        if not groups:
            return costs
        round_no += 1
        work = [(stage, env, part) for (stage, env), unique in groups.items()
                for part in _chunks(list(unique.values()), jobs)]
        work.sort(key=lambda job: -len(job[2]))

        def serve(job):
            stage, env, part = job
            t0 = time.perf_counter()
            outcomes = run_batch(runner, stage, env, [request for request, _ in part], item_timeout)
            return outcomes, time.perf_counter() - t0

        def done(n, job, result):
            stage, env, part = job
            outcomes, seconds = result
            for (_, users), outcome in zip(part, outcomes):
                for chain, step in users:
                    _settle(chain, step, outcome)
            ran = sum(1 for o in outcomes if o.run is not None and not o.run.cached)
            failed = sum(1 for o in outcomes if o.error is not None)
            costs.append({"round": round_no, "stage": stage, "env": env, "requests": len(part), "ran": ran,
                          "failed": failed, "seconds": round(seconds, 2)})
            echo(f"  round {round_no}: {stage:<10} {env:<8} {len(part):>5} requests, {ran:>5} run, "
                 f"{failed:>4} failed, {seconds:6.1f} s")

        parallel.run_all(work, serve, jobs, done)


def check_without(without: tuple[str, ...], adapt_rewrites: set[str]) -> None:
    for name in without:
        if name not in adapt_rewrites and not (name[:1].isupper() and name.isalnum()):
            raise ConfigError(f"--without {name!r} is neither an adapt rewrite nor an op (a down-step or a lowering)",
                              where="--without", hint="adapt rewrites: " + ", ".join(sorted(adapt_rewrites)) +
                              "; down-steps and lowerings by their op (Gemm, Clip, Slice; Fill, ResizeBilinear, ...)")


def results_path(settings, ablated: bool = False, suite: str = "node") -> Path:
    """The last run's results; an ablation (--without) keeps its own, the 'before' of the docs; a suite
    other than the node tests its own."""
    stem = "results" + ("" if suite == "node" else f"-{suite}") + ("-without" if ablated else "")
    return settings.artifacts_dir / "conformance" / f"{stem}.json"
