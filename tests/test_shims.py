"""Export shims for real: SiLU, Hardswish and Hardsigmoid (no ONNX op before opset 14, no torch 1.7
symbolic) export as compositions and verify in TF 1.4, against the unmodified model's outputs."""

from __future__ import annotations

import pytest
from conftest import ROOT, run_invoke

from torch2tf.run.report import Report, Status

pytestmark = pytest.mark.stack


def test_yolo_activations_reach_tf14_through_shims(tmp_path):
    out = run_invoke("pipeline", "--config", str(ROOT / "configs" / "matrix" / "yoloacts.yaml"), "--target", "tf1.4",
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    rep = Report.load(tmp_path / "m-yoloacts" / "report.json")
    assert rep.status is Status.PASSED and rep.verify.passed
    assert rep.export_shims == ["hardsigmoid", "hardswish", "silu"]
    assert "shims   exported as exact compositions: hardsigmoid, hardswish, silu" in out.stdout
    assert rep.verify.max_abs_diff < 1e-5
