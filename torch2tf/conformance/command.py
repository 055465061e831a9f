"""What `invoke conformance` does: the ONNX backend node tests over every route of the TF 1.x targets,
the results file, and the summary it prints."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

from torch2tf import atomic
from torch2tf.configs.compat import load_compat
from torch2tf.conformance.run import ATOL, RTOL, chains_for, check_without, results_path, run_chains
from torch2tf.conformance.suite import find_suite, load_suite
from torch2tf.errors import ConfigError
from torch2tf.run.stagerun import StageRunner
from torch2tf.settings import Settings
from torch2tf.stage_contracts import contract

LEGACY_TARGETS = ("tf1.4", "tf1.13", "tf1.15")


def run_conformance(settings: Settings, tests: str = "", targets: list[str] | None = None,
                    routes: list[str] | None = None, jobs: int | None = None, without: list[str] | None = None,
                    max_opset: int = 13, item_timeout: float = 300.0, fresh: bool = False,
                    echo: Callable[[str], None] = print, suite_name: str = "node") -> dict:
    """Run the suite; write artifacts/conformance/results.json (results-without.json for an ablation)."""
    t0 = time.perf_counter()
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    targets = targets or list(LEGACY_TARGETS)
    unknown = [t for t in targets if t not in compat.targets]
    if unknown:
        raise ConfigError(f"unknown target(s) {unknown}", where="--targets",
                          hint=f"targets: {', '.join(compat.targets)}")
    known_routes = {r.name for t in targets for r in compat.routes(t)}
    missing = sorted(set(routes or ()) - known_routes)
    if missing:
        raise ConfigError(f"no route {missing} on targets {targets}", where="--routes",
                          hint=f"routes: {', '.join(sorted(known_routes))}")
    without = tuple(without or ())
    adapt_rewrites = set(contract(settings.stages_dir, "adapt")["params"]) - {"ir_version", "opset", "static_shapes",
                                                                               "without"}
    check_without(without, adapt_rewrites)
    runner = StageRunner(settings, fresh=fresh)
    env = compat.default_export
    spec, built = runner._env(env)
    from torch2tf.envs import store as envs
    envs.build(spec, settings)
    suite_dirs = find_suite(built.path, suite_name)
    data_dir = settings.store / "conformance" / ("data" if suite_name == "node" else f"data-{suite_name}")
    suite = load_suite(suite_dirs, data_dir, tests, max_opset)
    count = sum(1 for t in targets for r in compat.routes(t) if not routes or r.name in routes)
    echo(f"conformance: {len(suite)} {suite_name} tests (opset <= {max_opset}) x {count} routes of {', '.join(targets)}, "
         f"{jobs or os.cpu_count()} stage processes at a time")
    chains = chains_for(suite, targets, compat, set(routes or ()), without, adapt_rewrites)
    costs = run_chains(chains, runner, jobs or os.cpu_count() or 1, item_timeout, echo)
    results = {
        "suite": {"source": f"onnx {_onnx_version(built.path)} wheel in {env}", "name": suite_name,
                  "path": ", ".join(str(d) for d in suite_dirs), "tests": len(suite), "max_opset": max_opset,
                  "pattern": tests},
        "targets": {t: [r.name for r in compat.routes(t) if not routes or r.name in routes] for t in targets},
        "tolerance": {"atol": ATOL, "rtol": RTOL}, "without": list(without),
        "tests": {t.name: {"opset": t.opset, "ops": list(t.ops)} for t in suite},
        "cells": [c.cell.as_dict() for c in chains], "costs": costs,
        "seconds": round(time.perf_counter() - t0, 1), "jobs": jobs or os.cpu_count(),
    }
    path = results_path(settings, ablated=bool(without), suite=suite_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(results, indent=1, sort_keys=True))
    return results


def _onnx_version(env_path: Path) -> str:
    found = sorted(env_path.glob("lib/python*/site-packages/onnx-*.dist-info"))
    return found[0].name[len("onnx-"):-len(".dist-info")] if found else "?"


def load_results(settings: Settings, suite: str = "node") -> tuple[dict | None, dict | None]:
    """The last full run and the last ablated run of a suite (either None when absent)."""
    def read(path: Path):
        return json.loads(path.read_text()) if path.is_file() else None
    return read(results_path(settings, suite=suite)), read(results_path(settings, ablated=True, suite=suite))


def summary_lines(results: dict) -> list[str]:
    """Per target and route: passes out of tests, then where the results are."""
    lines = []
    for target, routes in results["targets"].items():
        cells = [c for c in results["cells"] if c["target"] == target]
        anyway = {c["test"] for c in cells if c.get("passed")}
        per = ", ".join(f"{r} {sum(1 for c in cells if c['route'] == r and c.get('passed'))}" for r in routes)
        lines.append(f"{target}: {len(anyway)}/{results['suite']['tests']} tests pass by some route ({per})")
    suite = results["suite"].get("name", "node")
    stem = "results" + ("" if suite == "node" else f"-{suite}") + ("-without" if results["without"] else "")
    lines.append(f"{results['seconds'] / 60:.1f} min; results: artifacts/conformance/{stem}.json; "
                 f"`invoke conformance --docs{'' if suite == 'node' else ' --suite ' + suite}` writes the docs page")
    return lines
