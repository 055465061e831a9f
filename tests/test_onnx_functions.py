"""stages/_onnx_functions.py: a loss op that onnx-tf 1.10 and onnx2tf have no handler for is written out as
the function body onnx's own schema gives for that node, with the same numbers (onnx's reference
evaluator on both)."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
from conftest import ROOT
from onnx import TensorProto, helper

sys.path.insert(0, str(ROOT / "stages"))
import _onnx_functions  # noqa: E402


@pytest.mark.parametrize("op, attrs", [("SoftmaxCrossEntropyLoss", {"reduction": "mean"}),
                                       ("SoftmaxCrossEntropyLoss", {"reduction": "none", "ignore_index": 1}),
                                       ("NegativeLogLikelihoodLoss", {"reduction": "sum"})])
def test_a_loss_op_becomes_its_function_body_with_the_same_numbers(op, attrs):
    from onnx.reference import ReferenceEvaluator
    node = helper.make_node(op, ["scores", "labels"], ["loss"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [3, 5]),
                                            helper.make_tensor_value_info("labels", TensorProto.INT64, [3])],
                              [helper.make_tensor_value_info("loss", TensorProto.FLOAT, None)])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    rng = np.random.RandomState(0)
    feeds = {"scores": rng.randn(3, 5).astype(np.float32), "labels": np.array([0, 1, 4], np.int64)}
    before = ReferenceEvaluator(m).run(None, feeds)[0]
    # SoftmaxCrossEntropyLoss's body holds a NegativeLogLikelihoodLoss: written out in turn
    assert _onnx_functions.inline_lacked(m, "onnx-tf", onnx) == (2 if op == "SoftmaxCrossEntropyLoss" else 1)
    assert not set(_onnx_functions.LACKED["onnx-tf"]) & {n.op_type for n in m.graph.node} and len(m.graph.node) > 1
    after = ReferenceEvaluator(m).run(None, feeds)[0]
    assert np.allclose(after, before, atol=1e-6)


def test_an_op_the_converter_has_is_left_alone():
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    assert _onnx_functions.inline_lacked(m, "onnx-tf", onnx) == 0 and [n.op_type for n in m.graph.node] == ["Relu"]
