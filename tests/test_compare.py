"""The output comparison (stages/_compare.py, run by the verify stage) can fail: outputs below the
absolute tolerance are compared relative to their scale, and an all-zero reference is called weak."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "stages"))
from _compare import compare  # noqa: E402

ATOL, RTOL = 1e-4, 1e-3


def test_ordinary_outputs_use_the_absolute_tolerance():
    ref = np.linspace(-3, 3, 100).astype(np.float32)
    assert compare("y", ref + 5e-5, ref, ATOL, RTOL)["passed"]
    row = compare("y", ref + 1e-2, ref, ATOL, RTOL)
    assert not row["passed"] and "note" not in row and row["atol_used"] == ATOL


@pytest.mark.parametrize("broken", [np.zeros(100), np.full(100, 1e-9)], ids=["all-zero", "constant"])
def test_tiny_outputs_are_compared_to_their_scale_so_a_broken_output_fails(broken):
    ref = (np.linspace(-1, 1, 100) * 3e-9).astype(np.float32)
    row = compare("y", broken.astype(np.float32), ref, ATOL, RTOL)
    assert not row["passed"], "atol 1e-4 alone would pass this broken output"
    assert "compared relative to their scale" in row["note"]
    assert compare("y", ref * (1 + 1e-6), ref, ATOL, RTOL)["passed"]


def test_an_all_zero_reference_is_weak():
    row = compare("y", np.zeros(10, np.float32), np.zeros(10, np.float32), ATOL, RTOL)
    assert row["weak"] and "cannot tell a broken conversion" in row["note"]


def test_shape_mismatch_and_non_finite_fail():
    assert not compare("y", np.zeros(3), np.zeros(4), ATOL, RTOL)["passed"]
    assert not compare("y", np.array([np.nan, 1.0]), np.array([1.0, 1.0]), ATOL, RTOL)["passed"]
    assert not compare("y", np.array([1.0, 1.0]), np.array([np.nan, 1.0]), ATOL, RTOL)["passed"]
    assert not compare("y", np.array([np.inf, 1.0]), np.array([-np.inf, 1.0]), ATOL, RTOL)["passed"]


def test_non_finite_values_where_the_reference_has_the_same_are_the_same_numbers():
    """sqrt of a negative number is NaN in PyTorch and in TensorFlow alike: the rest is still compared."""
    ref = np.array([np.nan, np.inf, 2.0, 3.0])
    row = compare("y", np.array([np.nan, np.inf, 2.0, 3.0]), ref, ATOL, RTOL)
    assert row["passed"] and "2 non-finite values" in row["note"] and not row.get("weak")
    assert not compare("y", np.array([np.nan, np.inf, 2.5, 3.0]), ref, ATOL, RTOL)["passed"]


def test_a_reference_of_subnormals_is_as_weak_as_zeros():
    """TensorFlow's CPU kernels flush subnormals to zero: a reference made of them cannot tell anything."""
    row = compare("y", np.zeros(3), np.full(3, 1.39e-309), ATOL, RTOL)
    assert row["passed"] and row["weak"]


def _verified(ref, got, sensitivity):
    from torch2tf.run.report import Verification
    v = Verification(artifact="model.pb", step="verify", env="tf14", passed=True,
                     outputs=[compare("logits", got, ref, 1e-4, 1e-3)])
    v.mark_insensitive({"logits": sensitivity})
    return v


def test_an_output_that_ignores_the_input_makes_the_check_weak():
    ref = np.array([0.5, -1.0, 2.0])
    # a second input moved the reference by 1e-5: a graph that returned a constant would pass
    v = _verified(ref, ref + 1e-6, 1e-5)
    assert v.passed and v.weak
    assert "hardly depends on the input" in v.outputs[0]["note"]


def test_an_output_that_follows_the_input_keeps_the_check_strong():
    ref = np.array([0.5, -1.0, 2.0])
    v = _verified(ref, ref + 1e-6, 0.3)
    assert v.passed and not v.weak and "note" not in v.outputs[0]


def test_a_gross_mismatch_gets_no_tolerance_advice():
    from torch2tf.run.execute import _gross
    # onnx-tf 1.1.2's training-mode BatchNormalization: max abs 1.11 on outputs of scale 3
    assert _gross({"max_abs_diff": 1.11, "ref_scale": 3.0}, 1e-4)
    assert not _gross({"max_abs_diff": 3e-4, "ref_scale": 3.0}, 1e-4)      # rounding: a tolerance matter
    assert _gross({"max_abs_diff": 0.5, "ref_scale": 0.0}, 1e-4)           # an all-zero reference
