"""Down-steps the onnx version converter lacks (Python 3.6; onnx + numpy), for adapt's opset step.

onnx (1.8 to 1.17 alike) has no adapter that takes Gemm-11 below 11, Clip-11 below 11 or Slice-10/11
below 10, yet PyTorch's Linear, ReLU6 / Hardtanh and constant slicing at opset 11 write exactly those,
and each has an older form with the same meaning while its inputs are what PyTorch writes. Such nodes
are set aside while the converter takes the rest of the graph down (their outputs stand in as graph
inputs), then come back in their older form. A new down-step is one entry in DOWN_STEPS.
"""

import numpy as np

import _onnx_graph as onnx_graph


def _gemm(node, consts, shapes, target, helper, numpy_helper, graph):
    """Gemm-11 (C optional) -> Gemm-7/9 (C required, unidirectional broadcast, as 11): the node itself,
    with a zero C when it has none (its width from B's shape)."""
    if target < 7:
        return None
    inputs = list(node.input)
    if len(inputs) < 3 or not inputs[2]:
        b = shapes.get(inputs[1])
        if not b or None in b:
            return None
        width = b[0] if onnx_graph.attrs(helper, node).get("transB", 0) else b[1]
        zero = onnx_graph.unique_name(graph, node.output[0] + "__zero_c")
        graph.initializer.extend([numpy_helper.from_array(np.zeros([width], np.float32), zero)])
        inputs = inputs[:2] + [zero]
    new = helper.make_node("Gemm", inputs, list(node.output), name=node.name)
    new.attribute.extend(node.attribute)
    return [new]


def _clip(node, consts, shapes, target, helper, numpy_helper, graph):
    """Clip-11 (min, max as inputs) -> Clip-6 (min, max as attributes), when both are constants; to
    opset 11 / 12 the node is the same (12 and 13 only added element types)."""
    if target >= 11:
        return [node]
    bounds = {}
    for key, index in (("min", 1), ("max", 2)):
        name = node.input[index] if len(node.input) > index else ""
        if name:
            if name not in consts:
                return None
            bounds[key] = float(np.asarray(consts[name]).reshape(()))
    return [helper.make_node("Clip", [node.input[0]], list(node.output), name=node.name, **bounds)]


def _pad(node, consts, shapes, target, helper, numpy_helper, graph):
    """Pad-11 (pads, constant value as inputs) -> Pad-2 (attributes), when they are constants; to opset
    11 / 12 the node is the same (13 only added bfloat16)."""
    if target >= 11:
        return [node]
    names = list(node.input[1:3]) + [""] * (2 - len(node.input[1:3]))
    if not names[0] or any(n and n not in consts for n in names):
        return None
    given = onnx_graph.attrs(helper, node)
    value = float(np.asarray(consts[names[1]]).reshape(())) if names[1] else 0.0
    return [helper.make_node("Pad", [node.input[0]], list(node.output), name=node.name,
                             mode=given.get("mode", "constant"),
                             pads=[int(p) for p in np.asarray(consts[names[0]]).reshape(-1)], value=value)]


def _slice(node, consts, shapes, target, helper, numpy_helper, graph):
    """Slice-10/11 (starts, ends, axes, steps as inputs) -> Slice-1 (attributes) for opset < 10, when
    they are constants and every step is 1; to opset 10 the node is the same (11 only allows more)."""
    if target >= 10:
        return [node]
    names = list(node.input[1:]) + [""] * (4 - len(node.input[1:]))
    if any(n and n not in consts for n in names) or not names[0] or not names[1]:
        return None
    starts, ends = consts[names[0]].tolist(), consts[names[1]].tolist()
    axes = consts[names[2]].tolist() if names[2] else list(range(len(starts)))
    if names[3] and any(s != 1 for s in consts[names[3]].tolist()):
        return None
    if any(a < 0 for a in axes):
        rank = len(shapes.get(node.input[0]) or [])
        if not rank:
            return None
        axes = [a + rank if a < 0 else a for a in axes]
    return [helper.make_node("Slice", [node.input[0]], list(node.output), name=node.name,
                             starts=starts, ends=ends, axes=axes)]


def _as_attribute(key):
    """Opset 13 made an attribute an input (ReduceSum's axes, Squeeze's / Unsqueeze's axes, Split's
    split): the older form, the input's constant value back as the attribute. Negative axes need the
    rank below opset 11 (they are allowed from 11 on)."""
    def step(node, consts, shapes, target, helper, numpy_helper, graph):
        given = onnx_graph.attrs(helper, node)
        name = node.input[1] if len(node.input) > 1 else ""
        if name and name not in consts:
            return None
        values = [int(v) for v in np.asarray(consts[name]).reshape(-1)] if name else None
        if node.op_type == "ReduceSum" and given.pop("noop_with_empty_axes", 0) and not values:
            return None                        # an empty axes that means "no reduction": no older form
        if key == "axes" and values and target < 11 and any(v < 0 for v in values):
            source = node.output[0] if node.op_type == "Unsqueeze" else node.input[0]
            rank = len(shapes.get(source) or [])
            if not rank:
                return None
            values = [v + rank if v < 0 else v for v in values]
        if key == "split" and target < 11 and given.get("axis", 0) < 0:
            rank = len(shapes.get(node.input[0]) or [])
            if not rank:
                return None
            given["axis"] += rank
        if values is not None:
            given[key] = values
        return [helper.make_node(node.op_type, [node.input[0]], list(node.output), name=node.name, **given)]
    return step


def _last_axis(node, consts, shapes, target, helper, numpy_helper, graph):
    """Softmax / LogSoftmax / Hardmax-13 (over one axis) -> the older form (over the axes from `axis`
    on, flattened): the same where the axis is the last one; another axis is moved last by a Transpose
    and back after (a loss over the classes of [N, C, d1, d2])."""
    given = onnx_graph.attrs(helper, node)
    rank = len(shapes.get(node.input[0]) or [])
    axis = given.get("axis", -1)
    if not rank or not -rank <= axis < rank:
        return None
    axis = axis % rank
    if axis == rank - 1:
        return [helper.make_node(node.op_type, list(node.input), list(node.output), name=node.name, axis=rank - 1)]
    perm = [d for d in range(rank) if d != axis] + [axis]
    back = [perm.index(d) for d in range(rank)]
    moved, done = (onnx_graph.unique_name(graph, node.output[0] + suffix) for suffix in ("__last", "__done"))
    return [helper.make_node("Transpose", [node.input[0]], [moved], perm=perm),
            helper.make_node(node.op_type, [moved], [done], name=node.name, axis=rank - 1),
            helper.make_node("Transpose", [done], list(node.output), perm=back)]


# element types (TensorProto) of the older forms below: newer versions of these ops only added types
FLOATS = (1, 10, 11)                       # float, float16, double
NUMBERS = FLOATS + (6, 7, 12, 13)          # and int32, int64, uint32, uint64
BFLOAT16 = 16
NOT_BFLOAT16 = tuple(range(1, BFLOAT16))


def _unchanged(oldest, types, defaults=None):
    """A node whose newer version only added element types (Add-14: int8 ...; Relu-14: ints; Where-16:
    bfloat16) or an attribute it leaves at its default (Reshape-14's allowzero, GRU-14's layout) means
    the same in its older form from opset `oldest`: the node as it is, that attribute dropped. The
    converter (onnx 1.14 has no adapter for Add from 14) then takes the rest of the graph down."""
    def step(node, consts, shapes, target, helper, numpy_helper, graph, elem_types):
        given = onnx_graph.attrs(helper, node)
        if target < oldest or any(t not in types for t in elem_types) or \
                any(given.get(k, v) != v for k, v in (defaults or {}).items()):
            return None
        kept = [a for a in node.attribute if a.name not in (defaults or {})]
        del node.attribute[:]
        node.attribute.extend(kept)
        return [node]
    return step


def _unless_negative(oldest, older, types):
    """Opset 11 allowed negative axes (Reduce*, Flatten) and indices (Gather) and changed nothing else: a
    node of the newer form whose axes / constant indices are all >= 0 means the same down to `older`."""
    same = _unchanged(oldest, types)

    def step(node, consts, shapes, target, helper, numpy_helper, graph, elem_types):
        if target >= oldest:
            return same(node, consts, shapes, target, helper, numpy_helper, graph, elem_types)
        given = onnx_graph.attrs(helper, node)
        values = list(given.get("axes", [])) + [given.get("axis", 0)]
        if node.op_type == "Gather":
            if node.input[1] not in consts:
                return None
            values += np.asarray(consts[node.input[1]]).reshape(-1).tolist()
        if target < older or any(v < 0 for v in values):
            return None
        return same(node, consts, shapes, oldest, helper, numpy_helper, graph, elem_types)
    return step


def _typed(step):
    """A down-step that does not read element types (no older form has bfloat16, which opset 13 added)."""
    return lambda node, consts, shapes, target, helper, numpy_helper, graph, elem_types: \
        None if BFLOAT16 in elem_types else step(node, consts, shapes, target, helper, numpy_helper, graph)


# Opset 13 added bfloat16 to these ops and changed nothing else, and onnx's converter (to 1.17 at least)
# has no adapter that takes their version 13 down: op -> the opset of the form before 13 (Gather, Flatten
# and the Reduce ops, Pad: below)
BFLOAT16_ONLY_AT_13 = {
    "Abs": 6, "Ceil": 6, "Floor": 6, "Exp": 6, "Log": 6, "Neg": 6, "Reciprocal": 6, "Sigmoid": 6, "Sqrt": 6,
    "Tanh": 6, "Tile": 6, "Erf": 9, "Sign": 9, "IsNaN": 9, "MatMul": 9, "NonZero": 9, "Greater": 9,
    "Less": 9, "MeanVarianceNormalization": 9, "Cast": 9, "Expand": 8, "Mean": 8, "Sum": 8, "Mod": 10,
    "Equal": 11, "DepthToSpace": 11, "ScatterElements": 11,
    "ScatterND": 11, "ArgMax": 12, "ArgMin": 12, "Max": 12,
    "Min": 12, "Dropout": 12, "GatherND": 12, "Transpose": 1, "Shape": 1, "Size": 1, "LRN": 1,
    "SpaceToDepth": 1}

# op -> (the first version of it the converter cannot take down, the lowering to the older form); a
# node is set aside when its version in the file is that one or newer and the target's version differs
DOWN_STEPS = dict((op, (13, _unchanged(before, NOT_BFLOAT16))) for op, before in BFLOAT16_ONLY_AT_13.items())
DOWN_STEPS.update((op, (13, _unless_negative(11, older, NOT_BFLOAT16))) for op, older in (
    ("Gather", 1), ("Flatten", 9), ("ReduceL1", 1), ("ReduceL2", 1), ("ReduceLogSum", 1),
    ("ReduceLogSumExp", 1), ("ReduceMean", 1), ("ReduceProd", 1), ("ReduceSumSquare", 1)))
DOWN_STEPS.update({
              "Gemm": (11, _typed(_gemm)), "Clip": (11, _typed(_clip)), "Slice": (10, _typed(_slice)),
              "Pad": (11, _typed(_pad)),
              "Add": (13, _unchanged(7, NUMBERS)), "Sub": (13, _unchanged(7, NUMBERS)),
              "Mul": (13, _unchanged(7, NUMBERS)), "Div": (13, _unchanged(7, NUMBERS)),
              "Relu": (13, _unchanged(6, FLOATS)), "Identity": (13, _unchanged(1, NOT_BFLOAT16)),
              "Reshape": (13, _unchanged(5, NOT_BFLOAT16, {"allowzero": 0})),
              "GRU": (14, _unchanged(7, FLOATS, {"layout": 0})), "LSTM": (14, _unchanged(7, FLOATS, {"layout": 0})),
              "RNN": (14, _unchanged(7, FLOATS, {"layout": 0})),
              "Pow": (13, _unchanged(7, FLOATS)), "Where": (16, _unchanged(9, NOT_BFLOAT16)),
              "PRelu": (16, _unchanged(9, FLOATS)), "LeakyRelu": (16, _unchanged(6, FLOATS)),
              "ReduceSum": (13, _typed(_as_attribute("axes"))), "Squeeze": (13, _typed(_as_attribute("axes"))),
              "Unsqueeze": (13, _typed(_as_attribute("axes"))), "Split": (13, _typed(_as_attribute("split"))),
              "Softmax": (13, _typed(_last_axis)), "LogSoftmax": (13, _typed(_last_axis)),
              "Hardmax": (13, _typed(_last_axis)), "Concat": (13, _unchanged(4, NOT_BFLOAT16)),
              "BatchNormalization": (14, _unchanged(7, FLOATS, {"training_mode": 0})),
              "GatherElements": (13, _unchanged(11, NOT_BFLOAT16)),
              "ReduceMax": (13, _unless_negative(11, 1, NUMBERS)), "ReduceMin": (13, _unless_negative(11, 1, NUMBERS))})


def raise_per_channel_prelu(model, current, target, helper, numpy_helper):
    """PReLU-6's slope of C values is per channel (dim 1); from opset 7 on the slope broadcasts from the
    right, and onnx's converter has no adapter that reshapes it: a slope of C values for an input of
    rank > 2 whose dim 1 is C becomes [C, 1, ...] when a file goes from below 7 to 7 or above. In place;
    how many were reshaped."""
    if not current < 7 <= target:
        return 0
    graph = model.graph
    inits = dict((t.name, t) for t in graph.initializer)
    shapes = onnx_graph.shapes_of(model)
    count = 0
    for node in graph.node:
        slope = inits.get(node.input[1]) if node.op_type == "PRelu" and len(node.input) > 1 else None
        if slope is None:
            continue
        x = shapes.get(node.input[0]) or []
        if len(slope.dims) != 1 or slope.dims[0] < 2 or len(x) < 3 or x[1] != slope.dims[0]:
            continue
        values = numpy_helper.to_array(slope).reshape([slope.dims[0]] + [1] * (len(x) - 2))
        name = onnx_graph.unique_name(graph, slope.name + "__per_channel")
        graph.initializer.extend([numpy_helper.from_array(values, name)])
        if model.ir_version < 4:              # IR 3 lists every initializer as a graph input
            graph.input.extend([helper.make_tensor_value_info(name, slope.data_type, list(values.shape))])
        node.input[1] = name
        count += 1
    return count


def set_aside(model, current, target, helper, numpy_helper, without=()):
    """Take the nodes a down-step serves out of the graph, their outputs made graph inputs. Returns
    (the older nodes to put back, the names of the stand-in inputs); nothing when going up."""
    graph = model.graph
    if target >= current:
        return [], []
    consts, shapes, typed = onnx_graph.constants(graph, numpy_helper, helper), onnx_graph.shapes_of(model), _types(model)
    kept, aside, stand_ins = [], [], []
    for node in graph.node:
        step = DOWN_STEPS.get(node.op_type) if node.domain in ("", "ai.onnx") and node.op_type not in without else None
        versions = _versions(node.op_type, current, target) if step else None
        ready = step and versions[0] >= step[0] and versions[0] != versions[1] and all(o in typed for o in node.output)
        lowered = step[1](node, consts, shapes, target, helper, numpy_helper, graph,
                          _elem_types(node, typed, graph)) if ready else None
        if lowered is None:
            kept.append(node)
            continue
        aside.extend(lowered)
        stand_ins.extend(node.output)
    if aside:
        del graph.node[:]
        graph.node.extend(kept)
        graph.input.extend([typed[o] for o in stand_ins])
    return aside, stand_ins


def put_back(model, aside, stand_ins):
    """The set-aside nodes back in the converted graph, in an order every input comes first."""
    if not aside:
        return model
    graph = model.graph
    keep = [i for i in graph.input if i.name not in set(stand_ins)]
    del graph.input[:]
    graph.input.extend(keep)
    nodes = list(graph.node) + aside
    del graph.node[:]
    graph.node.extend(_topological(graph, nodes))
    return model


def _elem_types(node, typed, graph):
    """The element types of a node's float / number operands and results (TensorProto enums)."""
    known = dict((t.name, t.data_type) for t in graph.initializer)
    known.update((name, v.type.tensor_type.elem_type) for name, v in typed.items())
    known.update((i.name, i.type.tensor_type.elem_type) for i in graph.input)
    # the shape / index operands (Reshape's shape, ...) are int64 by definition: the data ones count
    data = list(node.input[:1]) if node.op_type in ("Reshape", "Where") else list(node.input)
    if node.op_type == "Where":
        data = list(node.input[1:])
    if node.op_type in ("GRU", "LSTM", "RNN"):
        data = list(node.input[:1])
    return [known[n] for n in data + list(node.output) if n and n in known]


def _versions(op, current, target):
    """The op's versions at the file's opset and at the target one (the schemas of this env's onnx; the
    opsets themselves where it does not know the op)."""
    from onnx import defs
    try:
        return defs.get_schema(op, current, "").since_version, defs.get_schema(op, target, "").since_version
    except Exception:  # noqa: BLE001 - an op this onnx lacks, or none at the target opset
        return current, target


def _types(model):
    """name -> ValueInfo (type and shape) of every value shape inference can type."""
    from onnx import shape_inference
    inferred = shape_inference.infer_shapes(model).graph
    return dict((v.name, v) for v in list(inferred.value_info) + list(inferred.output))


def _topological(graph, nodes):
    ready = set(i.name for i in graph.input) | set(t.name for t in graph.initializer) | {""}
    ordered, pending = [], list(nodes)
    while pending:
        left = [n for n in pending if not all(i in ready for i in n.input)]
        progressed = [n for n in pending if all(i in ready for i in n.input)]
        if not progressed:          # a cycle or an unknown input: keep the rest as they were
            return ordered + left
        for n in progressed:
            ordered.append(n)
            ready.update(n.output)
        pending = left
    return ordered
