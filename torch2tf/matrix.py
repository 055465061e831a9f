"""`invoke matrix`: models x routes, each cell a real pipeline run; parallel, resumable, and one
cell's failure never stops the rest. Cell results are files, so an interrupted run resumes."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch2tf import atomic, catalogue, parallel
from torch2tf.compat import Route, load_compat
from torch2tf.config import load_config
from torch2tf.errors import ConfigError, Torch2TFError
from torch2tf.modelid import model_digest
from torch2tf.pipeline import Options, run_pipeline
from torch2tf.settings import Settings


@dataclass(frozen=True)
class Cell:
    model: str          # config stem in configs/matrix/
    config: Path
    target: str
    route: str
    model_digest: str   # what the model is and what the route does: a result on file counts
    route_digest: str   # only while both are unchanged

    @property
    def id(self) -> str:
        return f"{self.model}__{self.target}__{self.route}"


def matrix_dir(settings: Settings) -> Path:
    return settings.artifacts_dir / "matrix"


def plan(settings: Settings, models=None, targets=None, routes=None) -> list[Cell]:
    compat = load_compat(settings.configs_dir / "compat.yaml")
    configs = {p.stem: p for p in sorted((settings.configs_dir / "matrix").glob("*.yaml"))}
    for name in models or []:
        if name not in configs:
            raise ConfigError(f"no matrix model {name!r}", where=str(settings.configs_dir / "matrix"),
                              hint=f"models: {', '.join(configs)}")
    for t in targets or []:
        compat.routes(t)
    cells = []
    for model in models or configs:
        digest = model_digest(load_config(configs[model]))
        for target in targets or compat.targets:
            for route in compat.routes(target):
                if not routes or route.name in routes:
                    cells.append(Cell(model=model, config=configs[model], target=target, route=route.name,
                                      model_digest=digest, route_digest=route_digest(route)))
    if not cells:
        raise ConfigError("the selection leaves no cells to run", where=str(compat.path),
                          hint="check --models / --targets / --routes")
    return cells


def route_digest(route: Route) -> str:
    return hashlib.sha256(repr(route).encode()).hexdigest()[:16]


def _result(cell: Cell, cell_dir: Path) -> dict | None:
    """The cell's result on file if it is for this very model and route definition, else None."""
    path = cell_dir / f"{cell.id}.json"
    if not path.is_file():
        return None
    row = json.loads(path.read_text())
    current = row.get("model_digest") == cell.model_digest and row.get("route_digest") == cell.route_digest
    return row if current else None


def run_cell(cell: Cell, settings: Settings, out_dir: Path) -> dict:
    started = time.time()
    row = {"id": cell.id, "model": cell.model, "model_digest": cell.model_digest, "target": cell.target,
           "route": cell.route, "route_digest": cell.route_digest, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        rep = run_pipeline(cell.config, settings, Options(target=cell.target, route=cell.route,
                                                          artifacts_dir=out_dir / "runs" / cell.id, echo=lambda _: None))
        row.update(status="passed", max_abs_diff=max(o["max_abs_diff"] for o in rep["verify"]["outputs"]),
                   latency_ms=rep["verify"].get("latency_ms"), pytorch_latency_ms=rep.get("pytorch_latency_ms"),
                   transposes=rep["graph"].get("transposes"), stages=rep["stages"],
                   versions={**{k: rep["verify"][k] for k in ("tensorflow", "tflite") if k in rep["verify"]},
                             **rep.get("versions", {})})
    except Torch2TFError as exc:
        known = catalogue.match(exc.message)
        row.update(status="failed", error_class=exc.error_class or (known.error_class if known else
                                                                      type(exc).__name__),
                   stage=exc.stage, message=exc.message.splitlines()[0][:400],
                   hint=exc.hint, log=exc.log)
    row["seconds"] = round(time.time() - started, 2)
    return row


def run_matrix(settings: Settings, *, models=None, targets=None, routes=None, jobs: int = 2, fresh: bool = False,
               echo: Callable[[str], None] = print) -> dict:
    cells = plan(settings, models, targets, routes)
    out = matrix_dir(settings)
    cell_dir = out / "cells"
    todo = [c for c in cells if fresh or _result(c, cell_dir) is None]
    echo(f"matrix: {len(cells)} cells, {len(cells) - len(todo)} already done, {len(todo)} to run, {jobs} in parallel")
    started = time.time()

    def work(cell: Cell) -> dict:
        row = run_cell(cell, settings, out)
        atomic.write_text(cell_dir / f"{cell.id}.json", json.dumps(row, indent=2) + "\n")   # done = file exists
        return row

    def done(n: int, cell: Cell, row: dict) -> None:
        detail = f"max abs {row['max_abs_diff']:.1e}" if row["status"] == "passed" else row["error_class"]
        elapsed = time.time() - started
        left = elapsed / n * (len(todo) - n)
        echo(f"[{n}/{len(todo)}] {cell.model:<14} {cell.target:<7} {cell.route:<24} "
             f"{row['status']:<6} {detail} ({row['seconds']:.0f}s; {elapsed / 60:.0f} min in, ~{left / 60:.0f} min left)")

    parallel.run_all(todo, work, jobs, done)
    results = collect(settings, plan(settings))     # the whole matrix on file, not just this selection
    results["wall_seconds_this_run"] = round(time.time() - started, 1)
    results["jobs"] = jobs
    write_results(out, results)
    return results


def collect(settings: Settings, cells: list[Cell]) -> dict:
    compat = load_compat(settings.configs_dir / "compat.yaml")
    cell_dir = matrix_dir(settings) / "cells"
    # only results for today's model and route definitions: a changed model or route is unmeasured
    rows = [row for row in (_result(c, cell_dir) for c in cells) if row is not None]
    return {"generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "stacks": compat.stacks, "cells": rows}


def write_results(out: Path, results: dict) -> None:
    from torch2tf.matrix_report import render_html, render_markdown
    atomic.write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    atomic.write_text(out / "report.md", render_markdown(results))
    atomic.write_text(out / "report.html", render_html(results))


def write_docs(settings: Settings) -> Path:
    """docs/COMPATIBILITY.md from the last results, saying on what machine they were measured."""
    import os
    import platform

    from torch2tf.matrix_report import render_docs
    path = matrix_dir(settings) / "results.json"
    if not path.is_file():
        raise ConfigError("no matrix results yet", where=str(path), hint="run `invoke matrix` first")
    machine = f"{platform.machine()} Linux, {os.cpu_count()} cores, Python {platform.python_version()} host"
    out = settings.root / "docs" / "COMPATIBILITY.md"
    atomic.write_text(out, render_docs(json.loads(path.read_text()), machine))
    return out


def measured_route(settings: Settings, target: str, digest: str, declared: list[str]) -> tuple[str, str] | None:
    """The route to take from the matrix's measurements, with the reason; None if nothing measured."""
    path = matrix_dir(settings) / "results.json"
    if not path.is_file():
        return None
    cells = [c for c in json.loads(path.read_text()).get("cells", []) if c["target"] == target]
    for name in declared:
        if any(c["route"] == name and c["model_digest"] == digest and c["status"] == "passed" for c in cells):
            return name, f"the matrix measured it passing for this model ({path})"
    wins = {name: sum(1 for c in cells if c["route"] == name and c["status"] == "passed") for name in declared}
    if wins and max(wins.values()) > 0:
        best = max(declared, key=lambda n: (wins[n], -declared.index(n)))
        tried = sum(1 for c in cells if c["model_digest"] == digest)
        why = (f"all {tried} routes measured for this model failed in the matrix" if tried
               else "this model is not in the matrix")
        return best, f"{why}; this one passed for the most models ({wins[best]})"
    return None
