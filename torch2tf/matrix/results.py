"""The matrix's results: collected from the cell files into results.json, report.md, report.html,
and docs/COMPATIBILITY.md."""

from __future__ import annotations

import json
import time
from pathlib import Path

from torch2tf import atomic
from torch2tf.configs.compat import load_compat
from torch2tf.errors import ConfigError
from torch2tf.matrix.cells import Cell, result_on_file
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
    atomic.write_text(out, render_docs(json.loads(path.read_text()), machine))
    return out
