"""A model's op tokens (what route choice compares models by), read with the host's onnx."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from torch2tf.model_ops import op_tokens, similarity


def save(tmp_path, nodes, weights, name="m.onnx"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.zeros(shape, np.float32), n) for n, shape in weights.items()]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], initializer=inits),
                              opset_imports=[helper.make_opsetid("", 11)])
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_the_attributes_that_change_a_converters_work_become_tokens(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "wd"], ["a"], group=4, kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "wg"], ["b"], group=2, kernel_shape=[1, 1]),
             helper.make_node("MaxPool", ["b"], ["c"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
             helper.make_node("Resize", ["c", "", "scales"], ["y"], mode="linear")]
    path = save(tmp_path, nodes, {"wd": [4, 1, 3, 3], "wg": [4, 2, 1, 1], "scales": [4]})
    assert op_tokens(path) == {"Conv", "Conv:depthwise", "Conv:grouped", "MaxPool", "MaxPool:ceil", "Resize",
                               "Resize:linear"}


def test_a_plain_model_has_its_op_types_only_and_likeness_is_jaccard(tmp_path):
    plain = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["a"], kernel_shape=[1, 1]),
                            helper.make_node("Relu", ["a"], ["y"])], {"w": [4, 4, 1, 1]})
    assert op_tokens(plain) == {"Conv", "Relu"}
    assert similarity(frozenset({"Conv", "Relu"}), frozenset({"Conv", "Relu", "Add", "Gemm"})) == 0.5
    assert similarity(frozenset({"Conv"}), None) is None and similarity(frozenset(), frozenset({"Conv"})) is None


def test_an_unreadable_file_has_no_tokens_never_a_traceback(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert op_tokens(bad) == frozenset()
