"""`invoke matrix`: route picking and reports from results (unit), and a reduced matrix for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_invoke

from torch2tf.matrix.render import render_html, render_markdown

CELLS = [
    {"model": "a", "model_digest": "A", "target": "tf1.13", "route": "r1", "status": "failed",
     "error_class": "StridedSlice", "message": "step!=1", "hint": "opset >= 10"},
    {"model": "a", "model_digest": "A", "target": "tf1.13", "route": "r2", "status": "passed", "max_abs_diff": 1e-6},
    {"model": "b", "model_digest": "B", "target": "tf1.13", "route": "r1", "status": "passed", "max_abs_diff": 2e-6},
    {"model": "c", "model_digest": "C", "target": "tf1.13", "route": "r1", "status": "passed", "max_abs_diff": 2e-6},
]


def test_reports_show_status_error_and_hint():
    results = {"generated": "now", "stacks": {"tf14": {"tensorflow": "1.4.1"}}, "cells": CELLS}
    md = render_markdown(results)
    assert "❌ StridedSlice" in md and "✅ 1e-06" in md and "opset >= 10" in md and "tf1.13: 3/4 cells pass" in md
    page = render_html(results)
    assert page.count("<rect") == 6 and "#d33" in page and "<svg" in page   # 3 models x 2 routes


@pytest.mark.stack
def test_reduced_matrix_for_real_resumes_and_drives_route_picking(artifacts_env):
    args = ["matrix", "--models", "focus,multihead", "--targets", "tf1.4,tf1.13", "--jobs", "2"]
    out = run_invoke(*args, env_overrides=artifacts_env)
    print(out.stdout[-5000:], out.stderr[-3000:])
    assert out.returncode == 0, out.stderr
    mdir = Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / "matrix"
    results = json.loads((mdir / "results.json").read_text())
    cells = {(c["model"], c["target"], c["route"]): c for c in results["cells"]}
    assert len(cells) == 2 * (4 + 4)
    for c in cells.values():
        assert c["status"] in ("passed", "failed")
        if c["status"] == "failed":
            assert c["error_class"] and c["hint"], c
        else:
            assert c["max_abs_diff"] <= 1e-4 and c["versions"]["tensorflow"]
    legacy = cells[("focus", "tf1.4", "onnx-tf-1.1.2-opset7")]
    # the stage's own kind, and torch's own first line as the cause
    assert legacy["status"] == "failed" and legacy["error_class"] == "ExportError" and "opset" in legacy["hint"]
    assert legacy["cause"] == "RuntimeError: step!=1 is currently not supported"
    assert cells[("focus", "tf1.13", "onnx-tf-1.3.0-opset10")]["status"] == "passed"
    for target in ("tf1.4", "tf1.13"):
        assert any(c["status"] == "passed" for (m, t, _), c in cells.items() if m == "multihead" and t == target)
    md, page = (mdir / "report.md").read_text(), (mdir / "report.html").read_text()
    assert "| focus · torch17 | ❌ ExportError" in md and "ExportError: RuntimeError: step!=1" in md
    assert "<svg" in page and '<div class="cause">RuntimeError: step!=1 is currently not supported</div>' in page

    # resumable: nothing left; one cell removed -> only that one runs
    again = run_invoke(*args, env_overrides=artifacts_env)
    assert "0 to run" in again.stdout
    (mdir / "cells" / "multihead__tf1.4__onnx-tf-1.1.2-opset7.json").unlink()
    again = run_invoke(*args, env_overrides=artifacts_env)
    assert "1 to run" in again.stdout and len(json.loads((mdir / "results.json").read_text())["cells"]) == 16

    # the pipeline takes the measured route: opset 9 fails for focus, so the opset 10 route
    pipe = run_invoke("pipeline", "--config", "configs/matrix/focus.yaml", "--target", "tf1.13", env_overrides=artifacts_env)
    assert pipe.returncode == 0, pipe.stderr
    lines = pipe.stdout.splitlines()
    assert lines[0].startswith("torch2tf: routes ranked by the model's") and "op kinds" in lines[0]
    first = next(ln for ln in lines if " via route " in ln)
    assert "rank 1 of 4: passed for this model" in first and "onnx-tf-1.3.0-opset9" not in first
