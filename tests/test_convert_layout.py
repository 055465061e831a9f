"""Which onnx2tf outputs an nchw route transposes back (stages/convert.py channels_first_perm): the
shapes decide where they tell, the rank where they do not."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "stages"))
import pytest  # noqa: E402
from _protocol import StageFailure  # noqa: E402
from convert import _refuse_wide_inputs, channels_first_perm  # noqa: E402


def test_a_channels_last_output_is_put_back_whatever_its_rank():
    assert channels_first_perm([3, 5, 4], [3, 4, 5]) == [0, 2, 1]                 # onnx2tf's NWC
    assert channels_first_perm([1, 7, 7, 64], [1, 64, 7, 7]) == [0, 3, 1, 2]
    assert channels_first_perm([1, 2, 3, 4, 8], [1, 8, 2, 3, 4]) == [0, 4, 1, 2, 3]


def test_an_output_already_in_the_onnx_layout_is_left_alone():
    assert channels_first_perm([1, 10, 64], [1, 10, 64]) is None                 # a transformer's sequence
    assert channels_first_perm([1, 64, 7, 9], [1, 64, 7, 9]) is None
    assert channels_first_perm([2, 10], [2, 10]) is None


def test_where_the_shapes_cannot_tell_rank_four_and_five_are_taken_as_channels_last():
    assert channels_first_perm([1, 4, 4, 4], [1, 4, 4, 4]) == [0, 3, 1, 2]       # a cube fits both readings
    assert channels_first_perm([1, None, None, 3], [1, 3, None, None]) == [0, 3, 1, 2]
    assert channels_first_perm([1, 10, 10], [1, 10, 10]) is None                 # m-lstm's per-step logits
    assert channels_first_perm(None, [1, 3, 4, 4]) is None                       # an unknown rank


def test_onnx2tf_refuses_a_rank_six_or_wider_input_at_once():
    """onnx2tf spends minutes per op on a rank-7 input's axis permutations and then fails."""
    _refuse_wide_inputs({"x": [1, 3, 4, 4], "y": [2, 3]}, ["x", "y"])
    with pytest.raises(StageFailure, match="x7: rank 7") as err:
        _refuse_wide_inputs({"x": [1, 3, 4, 4], "x7": [3, 5, 6, 2, 7, 4, 5]}, ["x", "x7"])
    assert err.value.kind == "UnsupportedInput" and err.value.cause == "onnx2tf: rank-7 input"
