"""`invoke matrix`: models x routes, each cell a real pipeline run; parallel, resumable, and one
cell's failure never stops the rest. Cell results are files, so an interrupted run resumes."""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from pathlib import Path
from typing import Callable

from torch2tf import atomic, catalogue
from torch2tf.errors import Torch2TFError
from torch2tf.executors import Executor
from torch2tf.matrix.cells import Cell, result_on_file, select
from torch2tf.matrix.results import cell_ops, collect, write_results
from torch2tf.run.pipeline import Options, run_pipeline
from torch2tf.settings import Settings
from torch2tf.slurm import LOST


def run_cell(cell: Cell, settings: Settings, out_dir: Path) -> dict:
    started = time.time()
    row = {"id": cell.id, "model": cell.model, "model_digest": cell.model_digest, "target": cell.target,
           "route": cell.route, "route_digest": cell.route_digest, "export_stack": cell.export_stack, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        rep = run_pipeline(cell.config, settings, Options(target=cell.target, route=cell.route, locate=False,
                                                          artifacts_dir=out_dir / "runs" / cell.id, echo=lambda _: None))
        verify = rep.verify
        row.update(status=rep.status.value, max_abs_diff=verify.max_abs_diff, weak=verify.weak,
                   latency_ms=verify.latency_ms,
                   pytorch_latency_ms=rep.pytorch_latency_ms, transposes=(rep.graph or {}).get("transposes"),
                   layout_share=verify.layout_share,
                   transposes_converted=((rep.optimize or {}).get("before") or {}).get("transposes"),
                   steps=[dataclasses.asdict(s) for s in rep.steps], versions={**verify.versions, **rep.versions})
    except Torch2TFError as exc:
        known = catalogue.match(exc.message)
        row.update(status="failed", error_class=exc.error_class or (known.error_class if known else
                                                                      type(exc).__name__),
                   stage=exc.stage, message=exc.message.splitlines()[0][:400], cause=exc.cause,
                   hint=exc.hint, log=exc.log)
    row["ops"] = cell_ops(out_dir, cell.id)
    row["seconds"] = round(time.time() - started, 2)
    return row


def run_matrix(settings: Settings, *, models=None, targets=None, routes=None, jobs: int = 2, fresh: bool = False,
               echo: Callable[[str], None] = print, executor: Executor | None = None) -> dict:
    executor = executor or Executor("local", jobs)
    cells = select(settings, models, targets, routes)
    out = settings.matrix_dir
    cell_dir = out / "cells"
    todo = [c for c in cells if fresh or result_on_file(c, cell_dir) is None]
    echo(f"matrix: {len(cells)} cells, {len(cells) - len(todo)} already done, {len(todo)} to run, "
         f"{executor.describe()}")
    started = time.time()

    def work(cell: Cell) -> dict:
        try:
            row = run_cell(cell, settings, out)
        except Exception as exc:   # noqa: BLE001 - a torch2tf bug in one cell must not stop the others
            # not saved: it says nothing about the route, and resume must run the cell again
            return {"status": "error", "error_class": f"internal error {type(exc).__name__}: {exc}"[:300],
                    "seconds": 0.0, "traceback": traceback.format_exc()}
        if row.get("error_class") != "CacheChanged":      # a transient clash, not a result: resume re-runs it
            atomic.write_text(cell_dir / f"{cell.id}.json", json.dumps(row, indent=2) + "\n")   # done = file exists
        return row

    def lost(cell: Cell, why: str) -> dict:     # not saved either: resume runs the cell again
        return {"status": LOST, "error_class": "SchedulerKilled", "message": why, "seconds": 0.0}

    def done(n: int, cell: Cell, row: dict) -> None:
        detail = (f"max abs {row['max_abs_diff']:.1e}" + (" (WEAK check)" if row.get("weak") else "")
                  if row["status"] == "passed" else row["error_class"])
        if row["status"] == LOST:
            detail += f": {row['message']}; not recorded, `invoke matrix` runs it again"
        elapsed = time.time() - started
        left = elapsed / n * (len(todo) - n)
        echo(f"[{n}/{len(todo)}] {cell.model:<14} {cell.target:<7} {cell.route:<24} "
             f"{row['status']:<6} {detail} ({row['seconds']:.0f}s; {elapsed / 60:.0f} min in, ~{left / 60:.0f} min left)")

    rows = executor.run_all(todo, work, done, echo, lost, settings)
    for row in rows:
        if row["status"] == "error":
            echo(f"matrix: a cell hit a torch2tf bug; it is not recorded and `invoke matrix` runs it again:\n"
                 f"{row['traceback']}")
    unfinished = [c.id for c, r in zip(todo, rows) if r["status"] in ("error", LOST)]
    results = collect(settings, select(settings))     # the whole matrix on file, not just this selection
    results["wall_seconds_this_run"] = round(time.time() - started, 1)
    results.update(executor.record())
    results["unfinished"] = unfinished          # lost to the scheduler or a bug: `invoke matrix` runs them again
    write_results(out, results)
    return results


