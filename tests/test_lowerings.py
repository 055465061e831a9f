"""Exact lowerings in `downgrade`: half-pixel bilinear resize (PyTorch's align_corners=False; TF < 1.14
has no half_pixel_centers) as two MatMuls with constant interpolation matrices.

The matrices are checked here against PyTorch's own formula; the stack tests convert a bilinear
segmentation net to the real TF 1.4 and 1.13 and verify it against PyTorch."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import ROOT, run_invoke

from torch2tf.run.report import Report

sys.path.insert(0, str(ROOT / "stages"))
from _lowerings import interpolation_matrix  # noqa: E402


def pytorch_linear(x: np.ndarray, out_size: int) -> np.ndarray:
    """torch's upsample_linear1d, align_corners=False (aten/src/ATen/native/UpSample.h), on one axis."""
    in_size = len(x)
    scale = in_size / out_size
    y = np.empty(out_size)
    for i in range(out_size):
        src = max((i + 0.5) * scale - 0.5, 0.0)
        lo = int(src)
        hi = lo + 1 if lo < in_size - 1 else lo
        lam = src - lo
        y[i] = (1 - lam) * x[lo] + lam * x[hi]
    return y


@pytest.mark.parametrize("in_size, out_size", [(4, 8), (7, 14), (5, 3), (16, 16), (3, 10), (1, 4)])
def test_the_matrix_is_pytorchs_half_pixel_interpolation(in_size, out_size):
    x = np.random.RandomState(0).randn(in_size)
    got = interpolation_matrix(in_size, out_size).astype(np.float64) @ x
    assert np.abs(got - pytorch_linear(x, out_size)).max() < 1e-6


@pytest.mark.stack
@pytest.mark.parametrize("target", ["tf1.4", "tf1.13"])
@pytest.mark.parametrize("model", ["segnet", "segnet-dyn"])
def test_bilinear_segnet_reaches_legacy_tf_through_the_lowering(target, model, tmp_path):
    out = run_invoke("pipeline", "--config", str(ROOT / "configs" / "matrix" / f"{model}.yaml"), "--target", target,
                     "--route", "onnx2tf-downgrade", env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    rep = Report.load(tmp_path / f"m-{model}" / "report.json")
    assert rep.downgrade["renamed"].get("ResizeBilinear(half_pixel_centers)->2 MatMul") == 1
    assert rep.verify.passed and not rep.verify.weak and rep.verify.max_abs_diff < 1e-5
    assert "ResizeBilinear" not in rep.graph["ops"] and rep.graph["ops"]["MatMul"] >= 2
