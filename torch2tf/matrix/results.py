"""The matrix's results: collected from the cell files into results.json, report.md, report.html,
and docs/COMPATIBILITY.md."""

from __future__ import annotations

import json
import time
from pathlib import Path

from torch2tf import atomic, routing
from torch2tf.configs.compat import load_compat
from torch2tf.errors import ConfigError
from torch2tf.matrix.cells import Cell, result_on_file
from torch2tf.model_ops import op_tokens
from torch2tf.settings import Settings


def collect(settings: Settings, cells: list[Cell]) -> dict:
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    cell_dir = settings.matrix_dir / "cells"
    # only results for today's model and route definitions: a changed model or route is unmeasured
    rows = [row for row in (result_on_file(c, cell_dir) for c in cells) if row is not None]
    return {"generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "stacks": compat.stacks, "cells": rows}


def write_results(out: Path, results: dict) -> None:
    from torch2tf.matrix.render import render_html, render_markdown
    atomic.write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    atomic.write_text(out / "report.md", render_markdown(results))
    atomic.write_text(out / "report.html", render_html(results))


# what route ranking needs of a cell, and what says where it came from
SHIPPED_KEYS = ("model", "model_digest", "target", "route", "route_digest", "export_stack", "status", "error_class",
                "stage", "message", "cause", "hint", "weak", "max_abs_diff", "latency_ms", "pytorch_latency_ms", "transposes",
                "layout_share", "transposes_converted", "ops", "versions", "started")


def cell_ops(matrix_dir: Path, cell_id: str) -> list[str] | None:
    """The op tokens of the model a cell exported (what route choice compares models by)."""
    found = sorted((matrix_dir / "runs" / cell_id).glob("*/model.onnx"))
    return sorted(op_tokens(found[0])) if found else None


def _with_ops(settings: Settings, cells: list[dict]) -> None:
    """Every cell of a model gets the model's op tokens (a cell that failed before export has none of its own)."""
    ops_of = {}
    for c in cells:
        ops = c.get("ops") or (cell_ops(settings.matrix_dir, c["id"]) if c.get("id") else None)
        if ops:
            ops_of[c["model_digest"]] = ops
    for c in cells:
        c["ops"] = c.get("ops") or ops_of.get(c["model_digest"])


def ship_measurements(settings: Settings, results: dict) -> Path:
    """Merge this machine's cells into docs/measurements.json (committed), so that a fresh clone ranks
    routes by measurement: a cell replaces the shipped one of the same matrix model (by name: a model
    whose definition changed is measured anew, its old cells would count it twice), target and route."""
    path = settings.root / routing.SHIPPED
    def key(c):
        return c.get("model") or c["model_digest"], c["target"], c["route"]
    merged = {key(c): c for c in routing.cells_in(path)}
    _with_ops(settings, results["cells"])
    for c in results["cells"]:
        merged[key(c)] = {k: c.get(k) for k in SHIPPED_KEYS}
        if merged[key(c)]["message"]:           # the first line says why; the log has the rest
            merged[key(c)]["message"] = merged[key(c)]["message"][:200]
    cells = sorted(merged.values(), key=lambda c: (c["target"], c.get("model") or "", c["route"]))
    atomic.write_text(path, json.dumps({"about": "per-route matrix measurements for route ranking; "
                                                 "rewritten by `invoke matrix`", "cells": cells}, indent=1) + "\n")
    return path


def write_docs(settings: Settings) -> Path:
    """docs/COMPATIBILITY.md from the last results, saying on what machine they were measured."""
    import os
    import platform

    from torch2tf.matrix.render import render_docs
    path = settings.matrix_dir / "results.json"
    if not path.is_file():
        raise ConfigError("no matrix results yet", where=str(path), hint="run `invoke matrix` first")
    machine = f"{platform.machine()} Linux, {os.cpu_count()} cores, Python {platform.python_version()} host"
    out = settings.root / "docs" / "COMPATIBILITY.md"
    results = json.loads(path.read_text())
    shipped = ship_measurements(settings, results)       # docs/measurements.json: what route ranking reads
    # the docs show every shipped cell, so a matrix run over a few models updates their rows only
    merged = {**results, "cells": routing.cells_in(shipped)}
    atomic.write_text(out, render_docs(merged, machine))
    return out
