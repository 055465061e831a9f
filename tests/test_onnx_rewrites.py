"""adapt's ONNX rewrites (stages/_onnx_rewrites.py) on small graphs built here: what each rewrites and
what it must leave alone. Their numbers are checked for real by the stack tests (onnxruntime runs the
adapted file against PyTorch, then the legacy TF); here, the arithmetic of the rewritten graphs is
replayed in numpy."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import ROOT
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(ROOT / "stages"))
import _onnx_rewrites as rw  # noqa: E402

REWRITES = ("fold_shapes", "unroll_lstm", "fold_batchnorm", "fold_pads", "zero_pool_pads", "matmul_2d",
            "nearest_upsample", "explicit_pool_pads", "decompose_instancenorm", "unroll_gru", "strided_dilated_conv")


def model(nodes, inputs, outputs, initializers=(), opset=9):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                              [numpy_helper.from_array(np.asarray(v, np.float32 if np.asarray(v).dtype.kind == "f"
                                                                  else np.int64), n) for n, v in initializers])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 4
    return m


def ops(m):
    return [n.op_type for n in m.graph.node]


def test_every_rewrite_passes_over_nodes_without_inputs_or_of_other_kinds():
    """A Constant node (no inputs) once crashed nearest_upsample with IndexError."""
    for name in REWRITES:
        m = model([helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.ones(3, np.float32))),
                   helper.make_node("Add", ["x", "c"], ["y"])], [("x", [3])], ["y"])
        assert getattr(rw, name)(m, helper, numpy_helper) == 0, name
        assert ops(m) == ["Constant", "Add"], name


def test_a_standalone_batchnorm_becomes_its_affine_map():
    scale, bias, mean, var = [np.array(v, np.float32) for v in ([2.0, 0.5], [0.1, -0.2], [1.0, -1.0], [4.0, 0.25])]
    m = model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=0.0)],
              [("x", [1, 2, 3, 3])], ["y"], [("s", scale), ("b", bias), ("m", mean), ("v", var)])
    assert rw.fold_batchnorm(m, helper, numpy_helper) == 1 and ops(m) == ["Mul", "Add"]
    consts = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    x = np.random.RandomState(0).randn(1, 2, 3, 3).astype(np.float32)
    got = x * consts[m.graph.node[0].input[1]] + consts[m.graph.node[1].input[1]]
    want = (x - mean[:, None, None]) / np.sqrt(var[:, None, None]) * scale[:, None, None] + bias[:, None, None]
    assert np.abs(got - want).max() < 1e-6


def test_zero_pads_are_dropped_and_spatial_zero_pads_go_into_the_average_pool():
    m = model([helper.make_node("Pad", ["x"], ["p0"], pads=[0] * 8),
               helper.make_node("Pad", ["p0"], ["p1"], pads=[0, 0, 1, 1, 0, 0, 1, 1]),
               helper.make_node("AveragePool", ["p1"], ["y"], kernel_shape=[3, 3])], [("x", [1, 2, 5, 5])], ["y"],
              opset=10)
    assert rw.fold_pads(m, helper, numpy_helper) == 2
    assert ops(m) == ["AveragePool"] and list(m.graph.node[0].input) == ["x"]
    attrs = {a.name: helper.get_attribute_value(a) for a in m.graph.node[0].attribute}
    assert attrs["pads"] == [1, 1, 1, 1] and attrs["count_include_pad"] == 1


def test_a_pad_of_the_batch_or_channels_or_into_a_max_pool_stays():
    m = model([helper.make_node("Pad", ["x"], ["p"], pads=[0, 1, 0, 0, 0, 1, 0, 0]),
               helper.make_node("AveragePool", ["p"], ["y"], kernel_shape=[2, 2])], [("x", [1, 2, 4, 4])], ["y"], opset=10)
    assert rw.fold_pads(m, helper, numpy_helper) == 0 and ops(m) == ["Pad", "AveragePool"]
    m = model([helper.make_node("Pad", ["x"], ["p"], pads=[0, 0, 1, 1, 0, 0, 1, 1]),
               helper.make_node("MaxPool", ["p"], ["y"], kernel_shape=[2, 2])], [("x", [1, 2, 4, 4])], ["y"], opset=10)
    assert rw.fold_pads(m, helper, numpy_helper) == 0 and ops(m) == ["Pad", "MaxPool"]


def test_a_sequence_times_a_matrix_is_flattened_to_two_dims():
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", [12, 1, 32])], ["y"],
              [("w", np.zeros((32, 8), np.float32))])
    assert rw.matmul_2d(m, helper, numpy_helper) == 1 and ops(m) == ["Flatten", "MatMul", "Reshape"]
    shape = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}[m.graph.node[2].input[1]]
    assert list(shape) == [12, 1, 8]


def test_nearest_upsampling_becomes_copies_of_each_pixel():
    m = model([helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")], [("x", [1, 2, 3, 4])], ["y"],
              [("scales", np.array([1, 1, 2, 3], np.float32))])
    assert rw.nearest_upsample(m, helper, numpy_helper) == 1 and ops(m) == ["Reshape", "Concat", "Concat", "Reshape"]
    consts = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    split, rows, both, merge = m.graph.node
    y = x.reshape(consts[split.input[1]])
    y = np.concatenate([y] * len(rows.input), axis=3)
    y = np.concatenate([y] * len(both.input), axis=5)
    y = y.reshape(consts[merge.input[1]])
    assert np.array_equal(y, np.repeat(np.repeat(x, 2, axis=2), 3, axis=3))


def test_shape_arithmetic_on_a_static_input_folds_to_constants():
    m = model([helper.make_node("Shape", ["x"], ["s"]),
               helper.make_node("Gather", ["s", "i"], ["d"], axis=0),
               helper.make_node("Unsqueeze", ["d"], ["u"], axes=[0]),
               helper.make_node("Concat", ["one", "u"], ["shape"], axis=0),
               helper.make_node("ConstantFill", ["shape"], ["z"], input_as_shape=1, dtype=1),
               helper.make_node("Add", ["z", "x"], ["y"])],
              [("x", [5, 7])], ["y"], [("i", np.array(1, np.int64)), ("one", np.array([1], np.int64))], opset=7)
    assert rw.fold_shapes(m, helper, numpy_helper) == 5
    assert ops(m) == ["Constant", "Add"]
    assert numpy_helper.to_array(m.graph.node[0].attribute[0].t).shape == (1, 7)


def test_an_lstm_unrolls_into_per_step_ops_with_its_outputs_kept():
    hidden, steps = 3, 4
    r = np.random.RandomState(0)
    m = model([helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden)],
              [("x", [steps, 1, 2])], ["Y", "Y_h"],
              [("W", r.randn(1, 4 * hidden, 2)), ("R", r.randn(1, 4 * hidden, hidden)), ("B", r.randn(1, 8 * hidden))])
    assert rw.unroll_lstm(m, helper, numpy_helper) == 1
    assert "LSTM" not in ops(m) and ops(m).count("Split") == steps
    assert {o for n in m.graph.node for o in n.output} >= {"Y", "Y_h"}
    known = {"x"} | {t.name for t in m.graph.initializer}
    for node in m.graph.node:                  # in order: every input made before it is read
        assert all(i in known for i in node.input if i), node
        known.update(node.output)


def test_node_names_tf_cannot_take_are_made_valid_and_stay_unique():
    import adapt
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="/features/features.0/Conv"),
             helper.make_node("Relu", ["a"], ["b"], name="features/features.0/Conv"),
             helper.make_node("Relu", ["b"], ["c"], name="Conv_0"),
             helper.make_node("Relu", ["c"], ["d"], name="/0/norm1/Reduce Mean")]
    g = model(nodes, [("x", [1])], ["d"]).graph
    assert adapt.safe_node_names(g) == ["2 node names made valid for TensorFlow"]
    names = [n.name for n in g.node]
    assert names == ["features/features.0/Conv_2", "features/features.0/Conv", "Conv_0", "0/norm1/Reduce_Mean"]
    assert all(adapt.TF_NODE_NAME.match(n) for n in names) and len(set(names)) == 4
    assert [n.input[0] for n in g.node] == ["x", "a", "b", "c"]        # only names change


def test_an_instance_norm_becomes_its_definition_with_the_same_numbers():
    from onnx.reference import ReferenceEvaluator
    rng = np.random.RandomState(0)
    scale, bias = rng.rand(3).astype(np.float32) + 0.5, rng.randn(3).astype(np.float32)
    m = model([helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-3)],
              [("x", [2, 3, 5, 4])], ["y"], [("s", scale), ("b", bias)], opset=7)
    x = (rng.randn(2, 3, 5, 4) * 3 + 1).astype(np.float32)
    before = ReferenceEvaluator(m).run(None, {"x": x})[0]
    assert rw.decompose_instancenorm(m, helper, numpy_helper) == 1
    assert "InstanceNormalization" not in {n.op_type for n in m.graph.node}
    assert {n.op_type for n in m.graph.node} <= {"ReduceMean", "Sub", "Mul", "Add", "Sqrt", "Div"}
    after = ReferenceEvaluator(m).run(None, {"x": x})[0]
    mean, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-3) * scale[None, :, None, None] + bias[None, :, None, None]
    assert np.abs(after - before).max() < 1e-5 and np.abs(after - want).max() < 1e-5


def test_an_instance_norm_whose_scale_and_bias_are_graph_inputs_is_decomposed_too():
    """As the ONNX node tests feed them: an Unsqueeze gives them the per-channel shape."""
    from onnx.reference import ReferenceEvaluator
    rng = np.random.RandomState(1)
    m = model([helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"])],
              [("x", [1, 2, 3, 4, 2]), ("s", [2]), ("b", [2])], ["y"], opset=7)
    feeds = {"x": rng.randn(1, 2, 3, 4, 2).astype(np.float32), "s": rng.rand(2).astype(np.float32),
             "b": rng.randn(2).astype(np.float32)}
    before = ReferenceEvaluator(m).run(None, feeds)[0]
    assert rw.decompose_instancenorm(m, helper, numpy_helper) == 1
    assert ops(m).count("Unsqueeze") == 2 and "InstanceNormalization" not in ops(m)
    assert np.abs(ReferenceEvaluator(m).run(None, feeds)[0] - before).max() < 1e-5


@pytest.mark.parametrize("direction, lbr, with_h0", [("forward", 1, False), ("bidirectional", 1, True),
                                                     ("reverse", 0, True), ("bidirectional", 0, False)])
def test_a_gru_unrolls_into_per_step_ops_with_the_same_numbers(direction, lbr, with_h0):
    from onnx.reference import ReferenceEvaluator
    rng = np.random.RandomState(1)
    dirs, seq, batch, size, hidden = (2 if direction == "bidirectional" else 1), 5, 2, 3, 4
    w, r = rng.randn(dirs, 3 * hidden, size) * 0.5, rng.randn(dirs, 3 * hidden, hidden) * 0.5
    b = rng.randn(dirs, 6 * hidden) * 0.5
    inits = [("W", w), ("R", r), ("B", b)] + ([("h0", rng.randn(dirs, batch, hidden))] if with_h0 else [])
    gru = helper.make_node("GRU", ["x", "W", "R", "B", "", "h0" if with_h0 else ""], ["y", "y_h"],
                           hidden_size=hidden, direction=direction, linear_before_reset=lbr)
    m = model([gru], [("x", [seq, batch, size])], ["y", "y_h"], inits, opset=9)
    x = rng.randn(seq, batch, size).astype(np.float32)
    before = ReferenceEvaluator(m).run(None, {"x": x})
    assert rw.unroll_gru(m, helper, numpy_helper) == 1
    assert "GRU" not in {n.op_type for n in m.graph.node}
    after = ReferenceEvaluator(m).run(None, {"x": x})
    assert after[0].shape == (seq, dirs, batch, hidden) and after[1].shape == (dirs, batch, hidden)
    assert all(np.abs(a - b_).max() < 1e-5 for a, b_ in zip(after, before))


@pytest.mark.parametrize("dims", [2, 3])
def test_a_strided_dilated_conv_runs_at_stride_1_and_is_subsampled_exactly(dims):
    """TF 1.x's convolution takes strides or dilations, not both (torch's Conv2d(dilation=2, stride=2));
    at stride 1 then a strided 1x1 conv with identity weights, the numbers are the conv's own."""
    from onnx.reference import ReferenceEvaluator
    rng = np.random.RandomState(5)
    size = [9] * dims
    w = rng.randn(4, 3, *([3] * dims)).astype(np.float32)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2] * dims, dilations=[2] * dims, pads=[1] * (2 * dims),
                            kernel_shape=[3] * dims)
    m = model([conv], [("x", [1, 3] + size)], ["y"], [("w", w)], opset=9)
    x = rng.randn(1, 3, *size).astype(np.float32)
    before = ReferenceEvaluator(m).run(None, {"x": x})[0]
    assert rw.strided_dilated_conv(m, helper, numpy_helper) == 1
    assert ops(m) == ["Conv", "Conv"]
    after = ReferenceEvaluator(m).run(None, {"x": x})[0]
    assert after.shape == before.shape and np.abs(after - before).max() < 1e-5
