"""`invoke matrix`: route picking and reports from results (unit), and a reduced matrix for real."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from conftest import run_invoke

from torch2tf import routing
from torch2tf.matrix.render import render_html, render_markdown
from torch2tf.settings import Settings

CELLS = [
    {"model": "a", "model_digest": "A", "target": "tf1.13", "route": "r1", "status": "failed",
     "error_class": "StridedSlice", "message": "step!=1", "hint": "opset >= 10"},
    {"model": "a", "model_digest": "A", "target": "tf1.13", "route": "r2", "status": "passed", "max_abs_diff": 1e-6},
    {"model": "b", "model_digest": "B", "target": "tf1.13", "route": "r1", "status": "passed", "max_abs_diff": 2e-6},
    {"model": "c", "model_digest": "C", "target": "tf1.13", "route": "r1", "status": "passed", "max_abs_diff": 2e-6},
]


@pytest.fixture
def measured(tmp_path) -> Settings:
    settings = Settings(root=tmp_path, store=tmp_path / "store", artifacts=tmp_path / "artifacts")
    path = settings.artifacts_dir / "matrix" / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"generated": "now", "cells": CELLS}))
    return settings


def measured_route(settings, *args):
    return routing.measured_route(routing.measured_cells(settings), *args)


def test_route_measured_for_this_model_wins(measured):
    route, why = measured_route(measured, "tf1.13", "A", ["r1", "r2"])
    assert route == "r2" and "this model" in why


def test_unmeasured_model_takes_the_route_that_passed_most(measured):
    route, why = measured_route(measured, "tf1.13", "Z", ["r2", "r1"])
    assert route == "r1" and "most models" in why


def test_model_failing_everywhere_is_told_apart_from_an_unmeasured_one(measured, tmp_path):
    path = measured.artifacts_dir / "matrix" / "results.json"
    path.write_text(json.dumps({"cells": CELLS + [{"model": "d", "model_digest": "D", "target": "tf1.13",
                                                   "route": "r1", "status": "failed", "error_class": "X"}]}))
    route, why = measured_route(measured, "tf1.13", "D", ["r1", "r2"])
    assert route == "r1" and "all 1 routes measured for this model failed" in why
    assert "not in the matrix" in measured_route(measured, "tf1.13", "Z", ["r1", "r2"])[1]


def test_no_results_means_declared_order(tmp_path):
    assert measured_route(Settings(root=tmp_path, artifacts=tmp_path), "tf1.13", "A", ["r1"]) is None


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"cells": [{"route": "r1"}]}', ""])
def test_damaged_results_are_a_warning_never_a_traceback(measured, content):
    (measured.matrix_dir / "results.json").write_text(content)
    with pytest.warns(UserWarning, match="ignoring damaged matrix results") if content != '{"cells": [{"route": "r1"}]}' \
            else contextlib.nullcontext():
        assert measured_route(measured, "tf1.13", "A", ["r1"]) is None


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
    assert len(cells) == 2 * (3 + 4)
    for c in cells.values():
        assert c["status"] in ("passed", "failed")
        if c["status"] == "failed":
            assert c["error_class"] and c["hint"], c
        else:
            assert c["max_abs_diff"] <= 1e-4 and c["versions"]["tensorflow"]
    legacy = cells[("focus", "tf1.4", "onnx-tf-1.1.2-opset7")]
    assert legacy["status"] == "failed" and legacy["error_class"] == "StridedSlice" and "opset" in legacy["hint"]
    assert cells[("focus", "tf1.13", "onnx-tf-1.3.0-opset10")]["status"] == "passed"
    for target in ("tf1.4", "tf1.13"):
        assert any(c["status"] == "passed" for (m, t, _), c in cells.items() if m == "multihead" and t == target)
    assert "| focus | ❌ StridedSlice" in (mdir / "report.md").read_text() and "<svg" in (mdir / "report.html").read_text()

    # resumable: nothing left; one cell removed -> only that one runs
    again = run_invoke(*args, env_overrides=artifacts_env)
    assert "0 to run" in again.stdout
    (mdir / "cells" / "multihead__tf1.4__onnx-tf-1.1.2-opset7.json").unlink()
    again = run_invoke(*args, env_overrides=artifacts_env)
    assert "1 to run" in again.stdout and len(json.loads((mdir / "results.json").read_text())["cells"]) == 14

    # the pipeline takes the measured route: opset 9 fails for focus, so the opset 10 route
    pipe = run_invoke("pipeline", "--config", "configs/matrix/focus.yaml", "--target", "tf1.13", env_overrides=artifacts_env)
    assert pipe.returncode == 0, pipe.stderr
    assert "via route onnx-tf-1.3.0-opset10 (the matrix measured it passing for this model" in pipe.stdout
