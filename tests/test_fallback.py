"""Route fallback for real: a plain config (no route:) whose first route fails moves on to the next
until one verifies, and says so; when every route fails, the error lists each attempt.

Run in a scratch copy of the project with no docs/measurements.json, so the declared order applies
and the first route really is one that fails (the shipped measurements would rank it last)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_invoke

from torch2tf.run.report import Report, Status

pytestmark = pytest.mark.stack


def run(project: Path, tmp_path: Path, *args: str):
    env = {"INVOKE_TORCH2TF_ROOT": str(project), "INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "artifacts")}
    out = run_invoke("pipeline", *args, env_overrides=env, cwd=project)
    print(out.stdout[-4000:], out.stderr[-3000:])
    return out


def test_focus_block_to_tf14_falls_back_from_the_legacy_route(project, tmp_path):
    assert not (project / "docs").exists()
    out = run(project, tmp_path, "--config", "configs/matrix/focus.yaml", "--target", "tf1.4")
    assert out.returncode == 0, out.stderr
    # the stage's own kind and torch's own first line, not a catalogue class in their place
    assert ("route onnx-tf-1.1.2-opset7 failed at export: ExportError: RuntimeError: step!=1 is currently not "
            "supported; trying onnx2tf-downgrade") in out.stdout
    rep = Report.load(tmp_path / "artifacts" / "m-focus" / "report.json")
    assert rep.status is Status.PASSED and rep.route == "onnx2tf-downgrade" and rep.verify.passed
    first, second = rep.attempts
    assert (first.route, first.status, first.failed_step, first.error_class) == \
        ("onnx-tf-1.1.2-opset7", Status.FAILED, "export", "ExportError")
    assert first.cause == "RuntimeError: step!=1 is currently not supported"
    assert "opset" in first.hint and second.status is Status.PASSED and second.route == "onnx2tf-downgrade"


def test_when_every_route_fails_the_error_lists_each_attempt(project, tmp_path):
    cfg = project / "configs" / "strict.yaml"
    cfg.write_text((project / "configs" / "tinynet.yaml").read_text().replace("name: tinynet", "name: strict")
                   + "tolerance: {atol: 0.0, rtol: 0.0}\n")
    out = run(project, tmp_path, "--config", str(cfg), "--target", "tf1.4")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    routes = ["onnx-tf-1.1.2-opset7", "onnx2tf-downgrade", "onnx-tf-1.10-downgrade", "onnx-tf-1.1.2-opset9to7"]
    assert f"no route of tf1.4 verified strict; {len(routes)} tried" in out.stderr
    for n, route in enumerate(routes, 1):
        assert f"{n}. route {route} failed at " in out.stderr
    # each route's own cause on its own line, beside its class, and what to do on the next
    causes = [ln for ln in out.stderr.splitlines() if ". route " in ln and " failed at " in ln]
    assert len(causes) == len(routes) and all(ln.split(": ", 2)[2].strip() not in ("", "-") for ln in causes)
    rep = Report.load(tmp_path / "artifacts" / "strict" / "report.json")
    assert rep.status is Status.FAILED and rep.error["class"] == "AllRoutesFailed"
    assert [a.route for a in rep.attempts] == routes
    assert all(a.status is Status.FAILED and a.error_class and a.cause for a in rep.attempts)


def test_best_runs_every_route_and_keeps_the_fastest_verified(project, tmp_path):
    out = run(project, tmp_path, "--config", "configs/tinynet.yaml", "--target", "tf1.13", "--best", "--jobs", "2")
    assert out.returncode == 0, out.stderr
    rep = Report.load(tmp_path / "artifacts" / "tinynet" / "report.json")
    routes = ["onnx-tf-1.3.0-opset9", "onnx-tf-1.3.0-opset10", "onnx2tf-downgrade", "onnx-tf-1.10-downgrade"]
    assert sorted(a.route for a in rep.attempts) == sorted(routes)
    verified = [a for a in rep.attempts if a.status is Status.PASSED]
    assert len(verified) >= 2, rep.attempts
    fastest = min(verified, key=lambda a: a.latency_ms)
    assert rep.route == fastest.route and rep.route_reason.startswith("--best: fastest of")
    # the verified graphs were raced in one TF 1.13 process: the table's latencies are the race's
    assert "raced in one process" in rep.route_reason and "raced in one process:" in out.stdout
    assert f"{fastest.latency_ms:.1f} ms" in rep.route_reason
    assert all(a.max_abs_diff is not None and a.transposes is not None for a in verified)
    assert "routes tried" in out.stdout and all(r in out.stdout.split("routes tried")[1] for r in routes)


def test_a_missing_package_is_named_and_no_other_route_is_tried(project, tmp_path):
    (project / "configs" / "models" / "needs.py").write_text("import scipy_is_not_here\n\ndef build():\n    pass\n")
    cfg = project / "configs" / "needs.yaml"
    cfg.write_text((project / "configs" / "tinynet.yaml").read_text().replace("name: tinynet", "name: needs")
                   .replace("models/tinynet.py:build", "models/needs.py:build"))
    out = run(project, tmp_path, "--config", str(cfg), "--target", "tf1.4")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "No module named 'scipy_is_not_here'" in out.stderr
    assert "the export env has no module 'scipy_is_not_here'" in out.stderr and "model.requirements" in out.stderr
    assert "trying" not in out.stdout
    rep = Report.load(tmp_path / "artifacts" / "needs" / "report.json")
    assert rep.error["class"] == "MissingModule" and len(rep.attempts) == 1


def test_a_forward_that_fails_on_the_example_input_stops_at_once_with_torchs_message(project, tmp_path):
    """A 1-channel input for resnet18's 3-channel conv: every route would fail alike, so none is tried."""
    cfg = project / "configs" / "onech.yaml"
    cfg.write_text("name: onech\nmodel: {factory: torchvision.models:resnet18}\n"
                   "inputs: [{name: input, shape: [1, 1, 64, 64]}]\noutputs: [output]\ntarget: tf1.13\n")
    out = run(project, tmp_path, "--config", str(cfg))
    assert out.returncode == 1 and "Traceback" not in out.stderr and "trying" not in out.stdout
    assert "expected input[1, 1, 64, 64] to have 3 channels, but got 1 channels instead" in out.stderr
    assert "check inputs[] in the config" in out.stderr
    rep = Report.load(tmp_path / "artifacts" / "onech" / "report.json")
    assert len(rep.attempts) == 1 and rep.error["class"] == "ForwardError" and rep.error["route_independent"]
