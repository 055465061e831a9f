"""adapt's opset step where onnx's version converter has no adapter (stages/_opset_down.py): Gemm-11,
Clip-11 and Slice-10 taken below their opset in their older forms, with the same numbers (replayed by
onnx's reference evaluator); and the converter's C++ asserts as one readable cause."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
from conftest import ROOT
from onnx import TensorProto, helper, numpy_helper, version_converter

sys.path.insert(0, str(ROOT / "stages"))
import adapt  # noqa: E402


def _model(nodes, x_shape, initializers, opset=11, extra_inputs=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)] +
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in extra_inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v), n) for n, v in initializers])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 6
    return m


def _down(m, opset, feeds):
    from onnx.reference import ReferenceEvaluator
    before = ReferenceEvaluator(m).run(None, feeds)[0]
    current = m.opset_import[0].version
    converted = adapt.convert_opset(m, current, opset, onnx, version_converter)
    assert converted.opset_import[0].version == opset
    onnx.checker.check_model(converted)
    after = ReferenceEvaluator(converted).run(None, feeds)[0]
    assert np.abs(after - before).max() < 1e-6
    return converted


@pytest.mark.parametrize("opset", [10, 9, 7])
def test_a_linear_layer_at_opset_11_goes_down_as_gemm_with_its_bias(opset):
    rng = np.random.RandomState(0)
    m = _model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])],
               [2, 4], [("w", rng.randn(3, 4).astype(np.float32)), ("b", rng.randn(3).astype(np.float32))])
    out = _down(m, opset, {"x": rng.randn(2, 4).astype(np.float32)})
    assert [n.op_type for n in out.graph.node] == ["Gemm", "Relu"]


def test_a_gemm_without_c_gets_a_zero_c_sized_from_b():
    rng = np.random.RandomState(1)
    m = _model([helper.make_node("Gemm", ["x", "w"], ["y"], alpha=2.0)], [2, 4], [],
               extra_inputs=[("w", [4, 5])])
    out = _down(m, 9, {"x": rng.randn(2, 4).astype(np.float32), "w": rng.randn(4, 5).astype(np.float32)})
    assert len(out.graph.node[0].input) == 3


def test_relu6_at_opset_11_goes_down_as_clip_with_attributes():
    m = _model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [5],
               [("lo", np.array(0, np.float32)), ("hi", np.array(6, np.float32))])
    out = _down(m, 9, {"x": np.array([-3, 1, 5, 7, 9], np.float32)})
    clip = out.graph.node[0]
    assert len(clip.input) == 1 and {a.name for a in clip.attribute} == {"min", "max"}


def test_a_constant_slice_goes_below_opset_10_as_slice_1_and_a_strided_one_is_refused():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    consts = [("s", np.array([1], np.int64)), ("e", np.array([3], np.int64)), ("a", np.array([-1], np.int64))]
    m = _model([helper.make_node("Slice", ["x", "s", "e", "a"], ["y"])], [2, 3, 4], consts, opset=10)
    out = _down(m, 9, {"x": x})
    assert [a.name for a in out.graph.node[0].attribute] == ["axes", "ends", "starts"] or len(out.graph.node[0].input) == 1
    strided = _model([helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])], [2, 3, 4],
                     consts + [("st", np.array([2], np.int64))], opset=10)
    with pytest.raises(adapt.StageFailure) as info:
        adapt.convert_opset(strided, 10, 9, onnx, version_converter)
    assert "has no adapter for Slice" in info.value.cause


def test_the_converters_asserts_become_one_readable_cause():
    text = ("/tmp/pip-req-build-x/onnx/version_converter/adapters/no_previous_version.h:17: adapt: Assertion "
            "`false` failed: No Previous Version of Mod exists")
    assert adapt.converter_cause(text, "1.8.1", 10, 9) == \
        "onnx 1.8.1's version converter finds no earlier version of Mod (converting 10 -> 9)"
    text = "BaseConverter.h:57: adapter_lookup: Assertion `false` failed: No Adapter To Version $9 for Slice"
    assert "has no adapter for Slice to opset 9" in adapt.converter_cause(text, "1.8.1", 11, 9)
    assert "has no adapter for Pad (converting" in adapt.converter_cause("x.h:64: No Adapter For Pad", "1.8.1", 11, 9)


def _gru14(batch):
    """What torch 2.5 writes for a GRU tagger at opset 14: Add-14, Relu-14, GRU-14 (layout 0), Reshape-14."""
    rng = np.random.RandomState(0)
    hidden = 5
    nodes = [helper.make_node("Add", ["x", "b"], ["xb"]), helper.make_node("Relu", ["xb"], ["xr"]),
             helper.make_node("GRU", ["xr", "W", "R", "B"], ["Y", "Yh"], hidden_size=hidden, linear_before_reset=1,
                              layout=0),
             helper.make_node("Reshape", ["Yh", "shape"], ["y"], allowzero=0)]
    inits = [("W", rng.randn(1, 3 * hidden, 4).astype(np.float32)), ("R", rng.randn(1, 3 * hidden, hidden).astype(np.float32)),
             ("B", rng.randn(1, 6 * hidden).astype(np.float32)), ("b", rng.randn(4).astype(np.float32)),
             ("shape", np.array([-1, hidden], np.int64))]
    graph = helper.make_graph(nodes, "gru14", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [7, batch, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, hidden])],
                              [numpy_helper.from_array(v, n) for n, v in inits])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 7
    return m


def test_ops_whose_opset_14_forms_only_added_types_are_set_aside_for_the_converter():
    """onnx 1.14's converter has no adapter for Add from 14 ('converting 14 -> 9'): Add / Relu / GRU /
    Reshape-14 mean the same in their older forms when a node uses none of what was added (int8 types,
    GRU's layout, Reshape's allowzero): they go round the converter and come back as they are."""
    import _opset_down
    m = _gru14(2)
    aside, stand_ins = _opset_down.set_aside(m, 14, 9, helper, numpy_helper)
    assert sorted(n.op_type for n in aside) == ["Add", "GRU", "Relu", "Reshape"]
    assert all(a.name not in ("layout", "allowzero") for n in aside for a in n.attribute)
    # what the older forms cannot say stays with the converter: a batch-first GRU (layout 1), and Add
    # below opset 7 (Add-6 broadcasts only with its own attribute)
    batch_first = _gru14(2)
    next(a for a in batch_first.graph.node[2].attribute if a.name == "layout").i = 1
    assert "GRU" not in [n.op_type for n in _opset_down.set_aside(batch_first, 14, 9, helper, numpy_helper)[0]]
    assert "Add" not in [n.op_type for n in _opset_down.set_aside(_gru14(2), 14, 6, helper, numpy_helper)[0]]


@pytest.mark.parametrize("opset", [10, 9, 7])
def test_a_gru_tagger_at_opset_14_goes_down_with_the_same_numbers(opset):
    rng = np.random.RandomState(2)
    out = _down(_gru14(2), opset, {"x": rng.randn(7, 2, 4).astype(np.float32)})
    assert [n.op_type for n in out.graph.node].count("GRU") == 1


def _int_model(nodes, x_shape, initializers):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v, np.int64), n) for n, v in initializers])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    return m


@pytest.mark.parametrize("opset", [11, 9])
@pytest.mark.parametrize("case", ["reduce_sum", "squeeze", "unsqueeze", "split", "softmax", "logsoftmax_axis_1",
                                  "reduce_max"])
def test_opset_13s_attribute_inputs_go_back_to_attributes(case, opset):
    """Opset 13 made ReduceSum's / Squeeze's / Unsqueeze's axes and Split's split inputs, and Softmax one
    axis wide: each goes down in its older form while those are constants (negative axes made positive
    below opset 11), with the same numbers."""
    x_shape = {"squeeze": [2, 3, 1], "unsqueeze": [2, 3]}.get(case, [2, 3, 4])
    nodes, inits = {
        "reduce_sum": ([helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)], [("axes", [1])]),
        "squeeze": ([helper.make_node("Squeeze", ["x", "axes"], ["y"])], [("axes", [-1])]),
        "unsqueeze": ([helper.make_node("Unsqueeze", ["x", "axes"], ["y"])], [("axes", [0, -1])]),
        "split": ([helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=-1),
                   helper.make_node("Concat", ["b", "a"], ["y"], axis=-1)], [("sizes", [1, 3])]),
        "softmax": ([helper.make_node("Softmax", ["x"], ["y"], axis=-1)], []),
        "logsoftmax_axis_1": ([helper.make_node("LogSoftmax", ["x"], ["y"], axis=1)], []),
        "reduce_max": ([helper.make_node("ReduceMax", ["x"], ["y"], axes=[1], keepdims=1)], []),
    }[case]
    m = _int_model(nodes, x_shape, inits)
    out = _down(m, opset, {"x": np.random.RandomState(0).randn(*x_shape).astype(np.float32)})
    first = out.graph.node[1 if case == "logsoftmax_axis_1" else 0]      # that one after a Transpose
    assert len(first.input) == 1 and first.op_type == nodes[0].op_type
    assert all(v >= 0 for a in first.attribute if a.name in ("axes", "axis") for v in (a.ints or [a.i])) or opset >= 11


@pytest.mark.parametrize("opset", [9, 7])
def test_an_inference_batchnorm_at_opset_15_goes_down_as_it_is(opset):
    """BatchNormalization-14 added training_mode and 15 let scale / bias differ in type: an inference node
    with float operands means the same at 9 (and, through the converter, 7). Checked by structure: onnx's
    reference evaluator computes BatchNormalization-9 wrongly (3e-2 off the formula at epsilon 1e-3)."""
    rng = np.random.RandomState(2)
    params = [(n, (rng.rand(3) + (0.5 if n == "var" else 0)).astype(np.float32)) for n in ("scale", "bias", "mean", "var")]
    m = _model([helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], epsilon=1e-3,
                                 training_mode=0)], [2, 3, 4, 4], params, opset=15)
    m.ir_version = 8
    out = adapt.convert_opset(m, 15, opset, onnx, version_converter)
    onnx.checker.check_model(out)
    (node,) = out.graph.node
    assert node.op_type == "BatchNormalization" and out.opset_import[0].version == opset
    assert {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "spatial"} == \
        {"epsilon": pytest.approx(1e-3)}


@pytest.mark.parametrize("opset", [7, 9])
def test_a_per_channel_prelu_of_opset_6_keeps_its_channels_when_raised(opset):
    """PReLU-6 applies a slope of C values per channel (dim 1); from opset 7 a slope broadcasts from the
    right. Raised as it is, torch 0.4's PReLU(3) on [2, 3, 4] would mix the slopes across the last dim."""
    import _opset_down
    rng = np.random.RandomState(4)
    slope = np.array([0.1, 0.2, 0.3], np.float32)
    # torch 0.4 wrote constants as Constant nodes (no inputs) beside it: test_operator_addconstant
    const = helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(np.array(1.0, np.float32)))
    m = _model([const, helper.make_node("PRelu", ["x", "slope"], ["p"]), helper.make_node("Add", ["p", "one"], ["y"])],
               [2, 3, 4], [("slope", slope)], opset=6)
    m.ir_version = 3
    x = -np.abs(rng.randn(2, 3, 4)).astype(np.float32)
    assert _opset_down.raise_per_channel_prelu(m, 6, opset, helper, numpy_helper) == 1
    raised = version_converter.convert_version(m, opset)
    from onnx.reference import ReferenceEvaluator
    got = ReferenceEvaluator(raised).run(None, {"x": x})[0]
    assert np.allclose(got, x * slope[None, :, None] + 1)


def _opset13_chain():
    """Ops whose version 13 only added bfloat16 (Sub, Transpose, Shape, Cast, Slice, Exp, Neg, MatMul,
    Pad, Gather, ReduceMean, Clip, Identity): what a loss function's body or torch 1.13's opset-13 export
    is made of."""
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
             helper.make_node("Neg", ["t"], ["n"]),
             helper.make_node("Exp", ["n"], ["e"]),
             helper.make_node("Sub", ["e", "t"], ["s"]),
             helper.make_node("MatMul", ["s", "w"], ["m"]),
             helper.make_node("Pad", ["m", "pads"], ["p"], mode="constant"),
             helper.make_node("Slice", ["p", "starts", "ends", "axes"], ["c"]),
             helper.make_node("Clip", ["c", "lo", "hi"], ["k"]),
             helper.make_node("ReduceMean", ["k"], ["r"], axes=[2], keepdims=1),
             helper.make_node("Shape", ["r"], ["shape"]),
             helper.make_node("Cast", ["shape"], ["shape_f"], to=TensorProto.FLOAT),
             helper.make_node("Gather", ["shape_f", "zero"], ["g"], axis=0),
             helper.make_node("Mul", ["r", "g"], ["i"]),
             helper.make_node("Identity", ["i"], ["y"])]
    inits = [("w", np.random.RandomState(1).randn(4, 5).astype(np.float32)),
             ("pads", np.array([0, 1, 0, 0, 1, 0], np.int64)), ("starts", np.array([1], np.int64)),
             ("ends", np.array([3], np.int64)), ("axes", np.array([1], np.int64)),
             ("lo", np.array(-1.5, np.float32)), ("hi", np.array(2.0, np.float32)),
             ("zero", np.array(0, np.int64))]
    return _model(nodes, [2, 4, 3], inits, opset=13)


@pytest.mark.parametrize("opset", [12, 11, 9])
def test_ops_whose_opset_13_forms_only_added_bfloat16_go_down_as_they_are(opset):
    """onnx's converter (1.14 to 1.17) has no adapter that takes Sub-13, Transpose-13, Shape-13 ... down:
    onnx-tf 1.10 (no Squeeze-13) needs a file at opset 12, the legacy routes one at 9. They go round the
    converter as they are, with the same numbers."""
    import _opset_down
    aside, _ = _opset_down.set_aside(_opset13_chain(), 13, opset, helper, numpy_helper)
    assert {"Transpose", "Sub", "Shape", "Cast", "Gather", "Identity"} <= {n.op_type for n in aside}
    out = _down(_opset13_chain(), opset, {"x": np.random.RandomState(0).randn(2, 4, 3).astype(np.float32)})
    assert len(out.graph.node) == 14
    clip = next(n for n in out.graph.node if n.op_type == "Clip")
    assert len(clip.input) == (3 if opset >= 11 else 1)


def test_a_bfloat16_node_stays_with_the_converter():
    """bfloat16 has no older form: such a node is not set aside (the converter names it)."""
    import _opset_down
    node = helper.make_node("Neg", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [2])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    assert _opset_down.set_aside(m, 13, 12, helper, numpy_helper)[0] == []
    m.graph.input[0].type.tensor_type.elem_type = m.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT
    assert [n.op_type for n in _opset_down.set_aside(m, 13, 12, helper, numpy_helper)[0]] == ["Neg"]
