"""Exact rewrites of an ONNX graph that legacy converters read wrongly or not at all (Python 3.6;
onnx + numpy). Each returns how many nodes it rewrote; adapt applies those a route asks for.

- fold_batchnorm: onnx-tf 1.1.2 runs a standalone BatchNormalization in training mode (opset 7 has
  no is_test), normalising with the batch's own statistics: it becomes Mul + Add by constants.
- zero_pool_pads: onnx-tf 1.3.0 crashes on a pool without a `pads` attribute ("object of type
  'NoneType' has no len()", AdaptiveAvgPool2d to the same size): the default zeros are spelled out.
- matmul_2d: onnx-tf <= 1.3 converts MatMul with tf.matmul, which in TF 1.x takes equal ranks only
  (a Linear layer on a sequence: [S, B, K] x [K, N]): Flatten -> MatMul -> Reshape.
- fold_shapes: with static input shapes, Shape-derived subgraphs are constants; folding them turns
  opset 7's ConstantFill (LSTM zero states; experimental, unknown to onnxruntime) into a Constant.
- unroll_lstm: onnx-tf 1.1.2 builds its own LSTM cell and ignores the ONNX weights: the LSTM
  becomes its per-step ops over the (static) sequence.
- fold_pads: onnx-tf 1.5.0 crashes on the Pad torch writes before an AveragePool ("pad() got
  multiple values for argument 'name'", densenet / inception): an all-zero Pad is dropped, a zero
  Pad of the spatial dims goes into the pool's own pads (count_include_pad=1: the same average).
- nearest_upsample: onnx-tf 1.1.2 has only Upsample-1's handler (height_scale / width_scale), and
  its onnx checker refuses those on Upsample-7: nearest upsampling by whole factors becomes
  Reshape + Concat + Reshape.
- explicit_pool_pads: onnx-tf 1.1.2 turns a MaxPool with pads TF cannot express into tf.py_func.
- unroll_gru: onnx-tf 1.3 / 1.5 refuse PyTorch's GRU ("GRU with linear_before_reset is not supported
  in Tensorflow": torch's always has it): the GRU, forward, reverse or bidirectional, becomes its
  per-step ops over the (static) sequence, as ONNX defines them.
- decompose_instancenorm: onnx-tf 1.1.2 has no InstanceNormalization ("op is not implemented"):
  it becomes its definition, (x - mean) / sqrt(var + eps) * scale + B over the spatial axes.
"""

import _onnx_graph as onnx_graph
import numpy as np


def fold_batchnorm(model, helper, numpy_helper):
    """BatchNormalization(x, scale, B, mean, var) with constant parameters -> x * s + (B - mean * s),
    s = scale / sqrt(var + eps), broadcast over the channel axis 1."""
    graph = model.graph
    consts = onnx_graph.initializers(graph, numpy_helper)
    shapes = onnx_graph.shapes_of(model)
    nodes, count = [], 0
    for node in graph.node:
        params = [consts.get(name) for name in node.input[1:5]]
        if node.op_type != "BatchNormalization" or len(node.output) != 1 or any(p is None for p in params):
            nodes.append(node)
            continue
        scale, bias, mean, var = [p.astype(np.float64) for p in params]
        eps = onnx_graph.attrs(helper, node).get("epsilon", 1e-5)
        s = scale / np.sqrt(var + eps)
        rank = len(shapes[node.input[0]]) if shapes.get(node.input[0]) else 4
        shape = [-1] + [1] * (rank - 2)          # [C, 1, 1]: broadcasts over N, C, H, W
        names = [onnx_graph.unique_name(graph, node.output[0] + suffix) for suffix in ("__bn_scale", "__bn_shift", "__bn_scaled")]
        graph.initializer.extend([
            numpy_helper.from_array(s.reshape(shape).astype(np.float32), names[0]),
            numpy_helper.from_array((bias - mean * s).reshape(shape).astype(np.float32), names[1])])
        nodes.append(helper.make_node("Mul", [node.input[0], names[0]], [names[2]], name=node.name + "_scale"))
        nodes.append(helper.make_node("Add", [names[2], names[1]], list(node.output), name=node.name))
        count += 1
    return onnx_graph.replace_nodes(graph, nodes, count)


def decompose_instancenorm(model, helper, numpy_helper):
    """InstanceNormalization(x, scale, B) of a known rank -> ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt,
    Div, Mul, Add: the mean and the (biased) variance per sample and channel over the spatial axes, as
    ONNX defines it; every op there is in opset 1. Constant scale and B are reshaped to [C, 1, ...];
    computed ones (a graph input) get an Unsqueeze (its axes an attribute: opset < 13)."""
    graph = model.graph
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    consts = onnx_graph.constants(graph, numpy_helper, helper)
    shapes = onnx_graph.shapes_of(model)
    nodes, count = [], 0
    for node in graph.node:
        x = node.input[0] if node.input else None
        computed = [n for n in node.input[1:3] if n not in consts]
        if node.op_type != "InstanceNormalization" or not shapes.get(x) or (computed and opset >= 13):
            nodes.append(node)
            continue
        rank = len(shapes[x])
        axes, shape = list(range(2, rank)), [-1] + [1] * (rank - 2)       # [C, 1, 1]: per channel
        eps = onnx_graph.attrs(helper, node).get("epsilon", 1e-5)
        p = onnx_graph.unique_name(graph, node.output[0]) + "__in/"
        per_channel = {}
        for name, value in (("scale", node.input[1]), ("bias", node.input[2])):
            if value in consts:
                graph.initializer.extend([numpy_helper.from_array(consts[value].astype(np.float32).reshape(shape),
                                                                  p + name)])
            else:
                nodes.append(helper.make_node("Unsqueeze", [value], [p + name], name=p + name,
                                              axes=list(range(1, rank - 1))))
            per_channel[name] = p + name
        graph.initializer.extend([numpy_helper.from_array(np.array(eps, np.float32), p + "eps")])
        steps = [("ReduceMean", [x], "mean", {"axes": axes, "keepdims": 1}), ("Sub", [x, p + "mean"], "centred", {}),
                 ("Mul", [p + "centred", p + "centred"], "square", {}),
                 ("ReduceMean", [p + "square"], "var", {"axes": axes, "keepdims": 1}),
                 ("Add", [p + "var", p + "eps"], "var_eps", {}), ("Sqrt", [p + "var_eps"], "std", {}),
                 ("Div", [p + "centred", p + "std"], "normed", {}),
                 ("Mul", [p + "normed", per_channel["scale"]], "scaled", {})]
        for op, inputs, name, attrs in steps:
            nodes.append(helper.make_node(op, inputs, [p + name], name=p + name, **attrs))
        nodes.append(helper.make_node("Add", [p + "scaled", per_channel["bias"]], list(node.output),
                                      name=node.name or p + "out"))
        count += 1
    return onnx_graph.replace_nodes(graph, nodes, count)


def zero_pool_pads(model, helper, numpy_helper=None):
    """Pools with neither `pads` nor `auto_pad` get pads of zeros (the default, written out)."""
    count = 0
    for node in model.graph.node:
        attrs = onnx_graph.attrs(helper, node)
        if node.op_type in ("AveragePool", "MaxPool") and "pads" not in attrs and "auto_pad" not in attrs:
            spatial = len(attrs["kernel_shape"])
            node.attribute.extend([helper.make_attribute("pads", [0] * (2 * spatial))])
            count += 1
    return count


def strided_dilated_conv(model, helper, numpy_helper):
    """Conv with strides > 1 and dilations > 1 (TF 1.x's convolution takes one or the other) -> the
    same Conv at stride 1, then a 1x1 Conv with the strides and identity weights, which keeps every
    stride-th output: the ones the strided conv computes (exact while they are finite: a pool cannot
    subsample, TF refuses strides wider than its window). The first conv does strides-squared the work."""
    graph = model.graph
    known = onnx_graph.initializers(graph, numpy_helper)
    nodes, count = [], 0
    for node in graph.node:
        attrs = onnx_graph.attrs(helper, node)
        strides, dilations = list(attrs.get("strides", [])), list(attrs.get("dilations", []))
        w = known.get(node.input[1]) if len(node.input) > 1 else None
        if node.op_type != "Conv" or not any(s > 1 for s in strides) or not any(d > 1 for d in dilations) or \
                w is None or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            nodes.append(node)
            continue
        dense = onnx_graph.unique_name(graph, node.output[0] + "__stride1")
        eye = onnx_graph.unique_name(graph, node.output[0] + "__pick")
        graph.initializer.extend([numpy_helper.from_array(
            np.eye(w.shape[0], dtype=w.dtype).reshape([w.shape[0], w.shape[0]] + [1] * len(strides)), eye)])
        if model.ir_version < 4:              # IR 3 lists every initializer as a graph input
            graph.input.extend([helper.make_tensor_value_info(eye, 1, [w.shape[0], w.shape[0]] + [1] * len(strides))])
        kept = dict((k, v) for k, v in attrs.items() if k != "strides")
        nodes.append(helper.make_node("Conv", list(node.input), [dense], name=(node.name or dense) + "__stride1",
                                      strides=[1] * len(strides), **kept))
        nodes.append(helper.make_node("Conv", [dense, eye], list(node.output), name=(node.name or dense) + "__subsample",
                                      kernel_shape=[1] * len(strides), strides=strides, pads=[0] * (2 * len(strides))))
        count += 1
    return onnx_graph.replace_nodes(graph, nodes, count)


def matmul_2d(model, helper, numpy_helper):
    """MatMul(A of rank r > 2, B of rank 2) -> Reshape(MatMul(Flatten(A, r - 1), B), A's dims + [N]),
    where at most one of A's leading dims is unknown (it becomes -1)."""
    graph = model.graph
    shapes = onnx_graph.shapes_of(model)
    nodes, count = [], 0
    for node in graph.node:
        a, b = (shapes.get(node.input[0]), shapes.get(node.input[1])) if node.op_type == "MatMul" else (None, None)
        if not a or not b or len(a) <= 2 or len(b) != 2 or b[1] is None or sum(d is None for d in a[:-1]) > 1:
            nodes.append(node)
            continue
        flat, product, target = [onnx_graph.unique_name(graph, node.output[0] + s) for s in ("__flat", "__2d", "__shape")]
        dims = [-1 if d is None else d for d in a[:-1]] + [b[1]]
        graph.initializer.extend([numpy_helper.from_array(np.array(dims, np.int64), target)])
        nodes.append(helper.make_node("Flatten", [node.input[0]], [flat], axis=len(a) - 1, name=node.name + "_flat"))
        nodes.append(helper.make_node("MatMul", [flat, node.input[1]], [product], name=node.name + "_2d"))
        nodes.append(helper.make_node("Reshape", [product, target], list(node.output), name=node.name))
        count += 1
    return onnx_graph.replace_nodes(graph, nodes, count)


def _evaluate(op, attrs, args):
    """numpy value of a shape-arithmetic node whose inputs are all known, or None."""
    if op == "Shape":
        return np.array(args[0].shape, np.int64)
    if op == "Cast":
        return args[0].astype(onnx_graph.np_dtype(attrs["to"]))
    if op == "Gather":
        return np.take(args[0], args[1], axis=attrs.get("axis", 0))
    if op == "Unsqueeze":
        out = args[0]
        for axis in sorted(attrs["axes"]):
            out = np.expand_dims(out, axis)
        return out
    if op == "Concat":
        return np.concatenate(args, axis=attrs["axis"])
    if op == "Slice" and len(args) == 1:      # opsets < 10: starts / ends / axes are attributes
        index = [slice(None)] * args[0].ndim
        for axis, start, end in zip(attrs.get("axes", range(args[0].ndim)), attrs["starts"], attrs["ends"]):
            index[axis] = slice(start, end)
        return args[0][tuple(index)]
    if op in ("Add", "Sub", "Mul") and len(args) == 2:
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](args[0], args[1])
    if op == "Squeeze" and len(args) == 1:
        return np.squeeze(args[0], axis=tuple(attrs["axes"])) if "axes" in attrs else np.squeeze(args[0])
    if op == "ConstantFill" and attrs.get("input_as_shape"):
        return np.full([int(d) for d in args[0]], attrs.get("value", 0.0), onnx_graph.np_dtype(attrs.get("dtype", 1)))
    return None


def fold_shapes(model, helper, numpy_helper):
    """Replace every node computable from static input shapes and constants by a Constant. Shape
    reads only its input's shape, so it folds as soon as that shape is static."""
    graph = model.graph
    shapes = onnx_graph.shapes_of(model)
    known = onnx_graph.initializers(graph, numpy_helper)
    nodes, count = [], 0
    for node in graph.node:
        attrs = onnx_graph.attrs(helper, node)
        value = None
        if node.op_type == "Constant" and "value" in attrs:
            known[node.output[0]] = numpy_helper.to_array(attrs["value"])
        elif node.op_type == "Shape" and shapes.get(node.input[0]) and None not in shapes[node.input[0]]:
            value = np.array(shapes[node.input[0]], np.int64)
        elif node.input and all(name in known for name in node.input):
            value = _evaluate(node.op_type, attrs, [known[name] for name in node.input])
        if value is None:
            nodes.append(node)
            continue
        known[node.output[0]] = value
        nodes.append(helper.make_node("Constant", [], list(node.output), name=node.name,
                                      value=numpy_helper.from_array(np.asarray(value), node.output[0])))
        count += 1
    if count:
        del graph.node[:]
        graph.node.extend(onnx_graph.live_nodes(graph, nodes))
    return count


FLOAT_LOWEST = -3.4028234663852886e38


def explicit_pool_pads(model, helper, numpy_helper=None):
    """MaxPool(pads=p) -> Pad(p, value=lowest float) + MaxPool(pads=0).

    onnx-tf 1.1.2 implements a MaxPool whose pads are not TF's SAME as tf.py_func, which runs only
    in the converting process (KeyError: 'pyfunc_0' anywhere else). Pad-2 (attribute form, opsets
    2-10) converts to a plain tf.pad, and the pool then is VALID.
    """
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset >= 11:     # Pad-11 takes pads as an input; newer converters handle pool pads anyway
        return 0
    graph = model.graph
    nodes = []
    count = 0
    for node in graph.node:
        attrs = dict((a.name, helper.get_attribute_value(a)) for a in node.attribute)
        pads = attrs.get("pads")
        if node.op_type != "MaxPool" or not pads or not any(pads) or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            nodes.append(node)
            continue
        half = len(pads) // 2
        padded = node.input[0] + "__torch2tf_padded_" + str(count)
        nodes.append(helper.make_node("Pad", [node.input[0]], [padded], mode="constant", value=FLOAT_LOWEST,
                                      pads=[0, 0] + list(pads[:half]) + [0, 0] + list(pads[half:])))
        kept = dict((k, v) for k, v in attrs.items() if k != "pads")
        nodes.append(helper.make_node("MaxPool", [padded] + list(node.input[1:]), list(node.output),
                                      name=node.name, **kept))
        count += 1
    return onnx_graph.replace_nodes(graph, nodes, count)


def _plain_lstm(node, helper, known, shapes):
    """(W, R, B) of a forward LSTM with default activations, no clip, peepholes or sequence lengths,
    constant weights and a static input; else None."""
    attrs = onnx_graph.attrs(helper, node)
    inputs = list(node.input) + [""] * (8 - len(node.input))
    x = shapes.get(inputs[0])
    if attrs.get("direction", b"forward") not in (b"forward", "forward") or "clip" in attrs or \
            "activations" in attrs or attrs.get("input_forget") or inputs[4] or inputs[7]:
        return None
    if not _static_steps(x) or inputs[1] not in known or inputs[2] not in known or (inputs[3] and inputs[3] not in known):
        return None
    hidden = attrs["hidden_size"]
    bias = known[inputs[3]][0] if inputs[3] else np.zeros(8 * hidden, np.float32)
    return known[inputs[1]][0], known[inputs[2]][0], bias[:4 * hidden] + bias[4 * hidden:]


def _static_steps(x_shape):
    """An unrollable input: [seq, batch, input] with the sequence and the input size known (the batch
    may be dynamic: the states are then shaped from the input at run time)."""
    return bool(x_shape) and len(x_shape) == 3 and x_shape[0] is not None and x_shape[2] is not None


def _zero_state(b, x, batch, hidden, name):
    """A zero initial state [batch, hidden]: a constant for a static batch; for a dynamic one a zero
    row tiled by the input's batch (exact, unlike x * 0 for an infinite x), from opset 6 on."""
    if batch is not None:
        return b.const(name, np.zeros((batch, hidden), np.float32))
    shape = b.op("Shape", [x], name + "_xshape")
    rows = b.op("Gather", [shape, b.const(name + "_batch_axis", np.array([1], np.int64))], name + "_batch", axis=0)
    reps = b.op("Concat", [rows, b.const(name + "_one", np.array([1], np.int64))], name + "_reps", axis=0)
    return b.op("Tile", [b.const(name + "_row", np.zeros((1, hidden), np.float32)), reps], name)


def unroll_lstm(model, helper, numpy_helper):
    """A forward LSTM over a static sequence, as the per-step ops (MatMul, Add, Sigmoid, Tanh, Mul):
    onnx-tf 1.1.2 builds a tf.contrib LSTMCell with fresh variables and ignores the ONNX weights.
    Gate order is ONNX's (i, o, f, c); fold_shapes must run first (torch computes W, R, B with ops)."""
    return _unroll(model, helper, numpy_helper, "LSTM", _plain_lstm, _unrolled)


def _unroll(model, helper, numpy_helper, op_type, plain_of, steps_of):
    """Every `op_type` node that plain_of reads (constant weights, a static sequence) -> steps_of's nodes."""
    graph = model.graph
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset >= 13:                      # Split and Squeeze take inputs there; no legacy route reads it
        return 0
    known, shapes = onnx_graph.constants(graph, numpy_helper, helper), onnx_graph.shapes_of(model)
    nodes, count = [], 0
    for node in graph.node:
        plain = plain_of(node, helper, known, shapes) if node.op_type == op_type else None
        if plain is None:
            nodes.append(node)
            continue
        nodes.extend(steps_of(graph, node, plain, shapes[node.input[0]], helper, numpy_helper))
        count += 1
    return onnx_graph.replace_nodes(graph, nodes, count)


class _Builder(object):
    """New nodes and constants under one name prefix, for a rewrite that expands one node into many."""

    def __init__(self, graph, prefix, helper, numpy_helper):
        self.graph, self.p, self.helper, self.numpy_helper, self.out = graph, prefix, helper, numpy_helper, []

    def const(self, name, value):
        self.graph.initializer.extend([self.numpy_helper.from_array(np.asarray(value), self.p + name)])
        return self.p + name

    def op(self, kind, inputs, name, **attrs):
        self.out.append(self.helper.make_node(kind, inputs, [self.p + name], name=self.p + name, **attrs))
        return self.p + name


def _unrolled(graph, node, weights, x_shape, helper, numpy_helper):
    steps, batch, _ = x_shape
    w, r, b = weights
    hidden = r.shape[1]
    builder = _Builder(graph, onnx_graph.unique_name(graph, node.name or node.output[0]) + "__unrolled/", helper,
                       numpy_helper)
    p, const, op, out = builder.p, builder.const, builder.op, builder.out
    wt, rt, bias = const("W", w.T.copy()), const("R", r.T.copy()), const("B", b)
    dims = -1 if batch is None else batch
    state_shape = const("state_shape", np.array([dims, hidden], np.int64))
    inputs = list(node.input) + [""] * (8 - len(node.input))
    h = op("Reshape", [inputs[5], state_shape], "h_init") if inputs[5] else _zero_state(builder, inputs[0], batch, hidden, "h_init")
    c = op("Reshape", [inputs[6], state_shape], "c_init") if inputs[6] else _zero_state(builder, inputs[0], batch, hidden, "c_init")
    ys = []
    for t in range(steps):
        x = op("Gather", [inputs[0], const("t%d" % t, np.array(t, np.int64))], "x%d" % t, axis=0)
        gates = op("Add", [op("Add", [op("MatMul", [x, wt], "xw%d" % t), op("MatMul", [h, rt], "hr%d" % t)],
                              "sum%d" % t), bias], "gates%d" % t)
        split = helper.make_node("Split", [gates], [p + "gate_%s%d" % (g, t) for g in "iofc"], axis=1, split=[hidden] * 4)
        out.append(split)
        i, o, f = [op("Sigmoid", [p + "gate_%s%d" % (g, t)], "%s_act%d" % (g, t)) for g in "iof"]
        g = op("Tanh", [p + "gate_c%d" % t], "g_act%d" % t)
        c = op("Add", [op("Mul", [f, c], "fc%d" % t), op("Mul", [i, g], "ig%d" % t)], "cell%d" % t)
        h = op("Mul", [o, op("Tanh", [c], "tanh_cell%d" % t)], "h%d" % t)
        ys.append(h)
    outputs = list(node.output) + [""] * (3 - len(node.output))
    if outputs[0]:
        y_shape = const("y_shape", np.array([1, 1, dims, hidden], np.int64))
        parts = [op("Reshape", [y, y_shape], "y%d" % t) for t, y in enumerate(ys)]
        out.append(helper.make_node("Concat", parts, [outputs[0]], axis=0, name=p + "Y"))
    final_shape = const("final_shape", np.array([1, dims, hidden], np.int64))
    for name, value in ((outputs[1], h), (outputs[2], c)):
        if name:
            out.append(helper.make_node("Reshape", [value, final_shape], [name], name=p + name))
    return out


def _plain_gru(node, helper, known, shapes):
    """(W, R, B, linear_before_reset, directions) of a GRU with default activations, no clip or sequence
    lengths, constant weights and a static input; else None."""
    attrs = onnx_graph.attrs(helper, node)
    inputs = list(node.input) + [""] * (6 - len(node.input))
    x = shapes.get(inputs[0])
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if "clip" in attrs or "activations" in attrs or inputs[4] or direction not in ("forward", "reverse", "bidirectional"):
        return None
    if not _static_steps(x) or inputs[1] not in known or inputs[2] not in known or (inputs[3] and inputs[3] not in known):
        return None
    w, r = known[inputs[1]], known[inputs[2]]
    hidden = attrs["hidden_size"]
    b = known[inputs[3]] if inputs[3] else np.zeros((w.shape[0], 6 * hidden), np.float32)
    return w, r, b, int(attrs.get("linear_before_reset", 0)), direction


def unroll_gru(model, helper, numpy_helper):
    """A GRU over a static sequence as its per-step ops (ONNX's gate order z, r, h): onnx-tf 1.3 / 1.5
    refuse linear_before_reset, which every PyTorch GRU has."""
    return _unroll(model, helper, numpy_helper, "GRU", _plain_gru, _gru_steps)


def _gru_direction(b, xs, h, weights, way, linear_before_reset, q):
    """One direction's steps; returns {t: h_t} and the last state. ONNX: z, r = sigmoid(...);
    h~ = tanh(x Wh + r * (h Rh + Rbh) + Wbh) with linear_before_reset, else tanh(x Wh + (r * h) Rh + Rbh
    + Wbh); h' = (1 - z) * h~ + z * h."""
    wz, wr, wh, rz, rr, rh, bz, br, wbh, rbh, one = weights
    per_step = {}
    for t in (range(len(xs)) if way == "forward" else range(len(xs) - 1, -1, -1)):
        x, s = xs[t], "%s%d" % (q, t)
        z = b.op("Sigmoid", [b.op("Add", [b.op("Add", [b.op("MatMul", [x, wz], "xwz" + s), b.op("MatMul", [h, rz], "hrz" + s)],
                                                   "sumz" + s), bz], "zb" + s)], "z" + s)
        r = b.op("Sigmoid", [b.op("Add", [b.op("Add", [b.op("MatMul", [x, wr], "xwr" + s), b.op("MatMul", [h, rr], "hrr" + s)],
                                                   "sumr" + s), br], "rb" + s)], "r" + s)
        xh = b.op("Add", [b.op("MatMul", [x, wh], "xwh" + s), wbh], "xhb" + s)
        if linear_before_reset:
            hr = b.op("Mul", [r, b.op("Add", [b.op("MatMul", [h, rh], "hrh" + s), rbh], "hrhb" + s)], "rhr" + s)
        else:
            hr = b.op("Add", [b.op("MatMul", [b.op("Mul", [r, h], "rh" + s), rh], "rhrh" + s), rbh], "rhrhb" + s)
        candidate = b.op("Tanh", [b.op("Add", [xh, hr], "pre" + s)], "cand" + s)
        new = b.op("Mul", [b.op("Sub", [one, z], "omz" + s), candidate], "new" + s)
        h = b.op("Add", [new, b.op("Mul", [z, h], "keep" + s)], "h" + s)
        per_step[t] = h
    return per_step, h


def _gru_weights(b, w, r, bias, hidden, q, one):
    """The per-gate matrices (transposed for x @ W) and biases of one direction, as constants."""
    gates = [b.const(q + "W" + g, w[i * hidden:(i + 1) * hidden].T.copy()) for i, g in enumerate("zrh")]
    gates += [b.const(q + "R" + g, r[i * hidden:(i + 1) * hidden].T.copy()) for i, g in enumerate("zrh")]
    return gates + [b.const(q + "bz", bias[0:hidden] + bias[3 * hidden:4 * hidden]),
                    b.const(q + "br", bias[hidden:2 * hidden] + bias[4 * hidden:5 * hidden]),
                    b.const(q + "wbh", bias[2 * hidden:3 * hidden]), b.const(q + "rbh", bias[5 * hidden:6 * hidden]), one]


def _gru_steps(graph, node, plain, x_shape, helper, numpy_helper):
    w_all, r_all, b_all, linear_before_reset, direction = plain
    steps, batch, _ = x_shape
    hidden = r_all.shape[2]
    b = _Builder(graph, onnx_graph.unique_name(graph, node.name or node.output[0]) + "__unrolled/", helper, numpy_helper)
    inputs = list(node.input) + [""] * (6 - len(node.input))
    dims = -1 if batch is None else batch
    state_shape, one = b.const("state_shape", np.array([dims, hidden], np.int64)), b.const("one", np.array(1.0, np.float32))
    xs = [b.op("Gather", [inputs[0], b.const("t%d" % t, np.array(t, np.int64))], "x%d" % t, axis=0) for t in range(steps)]
    ys, finals = [], []
    for d, way in enumerate(["forward", "reverse"] if direction == "bidirectional" else [direction]):
        q = "d%d_" % d
        if inputs[5]:
            h0 = b.op("Gather", [inputs[5], b.const(q + "dir", np.array(d, np.int64))], q + "h0_slice", axis=0)
            h = b.op("Reshape", [h0, state_shape], q + "h_init")
        else:
            h = _zero_state(b, inputs[0], batch, hidden, q + "h_init")
        per_step, last = _gru_direction(b, xs, h, _gru_weights(b, w_all[d], r_all[d], b_all[d], hidden, q, one),
                                        way, linear_before_reset, q)
        ys.append([per_step[t] for t in range(steps)])
        finals.append(last)
    _gru_outputs(b, node, ys, finals, dims, hidden)
    return b.out


def _gru_outputs(b, node, ys, finals, batch, hidden):
    """Y [seq, num_directions, batch, hidden] and Y_h [num_directions, batch, hidden] under the GRU's names."""
    outputs = list(node.output) + [""] * (2 - len(node.output))
    if outputs[0]:
        y_shape = b.const("y_shape", np.array([1, 1, batch, hidden], np.int64))
        per_t = []
        for t in range(len(ys[0])):
            row = [b.op("Reshape", [ys[d][t], y_shape], "y%d_%d" % (t, d)) for d in range(len(ys))]
            per_t.append(row[0] if len(row) == 1 else b.op("Concat", row, "yt%d" % t, axis=1))
        b.out.append(b.helper.make_node("Concat", per_t, [outputs[0]], axis=0, name=b.p + "Y"))
    if outputs[1]:
        final_shape = b.const("final_shape", np.array([1, batch, hidden], np.int64))
        last = [b.op("Reshape", [h, final_shape], "yh%d" % d) for d, h in enumerate(finals)]
        b.out.append(b.helper.make_node("Concat" if len(last) > 1 else "Identity", last, [outputs[1]],
                                        name=b.p + "Y_h", **({"axis": 0} if len(last) > 1 else {})))


def _pad_amounts(node, helper, known):
    """A Pad's pads when it pads with constant zeros and its pads are known, else None."""
    attrs = onnx_graph.attrs(helper, node)
    if attrs.get("mode", b"constant") not in (b"constant", "constant"):
        return None
    if len(node.input) > 1:                      # Pad-11: pads (and the value) are inputs
        if node.input[1] not in known or (len(node.input) > 2 and node.input[2] and
                                          (node.input[2] not in known or float(known[node.input[2]]) != 0.0)):
            return None
        return [int(v) for v in known[node.input[1]]]
    return [int(v) for v in attrs["pads"]] if attrs.get("value", 0.0) == 0.0 and "pads" in attrs else None


def fold_pads(model, helper, numpy_helper):
    """Zero Pads dropped, and zero Pads of the spatial dims folded into the AveragePool they feed."""
    graph = model.graph
    known = onnx_graph.constants(graph, numpy_helper, helper)
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = set(o.name for o in graph.output)
    dropped, count = set(), 0
    for node in graph.node:
        pads = _pad_amounts(node, helper, known) if node.op_type == "Pad" else None
        users = readers.get(node.output[0], []) if pads is not None else []
        if pads is None or node.output[0] in outputs or not users or min(pads) < 0:
            continue
        rank = len(pads) // 2
        spatial = pads[2:rank] + pads[rank + 2:]
        if any(pads):
            pool = users[0]
            pool_attrs = onnx_graph.attrs(helper, pool)
            if len(users) != 1 or pool.op_type != "AveragePool" or any(pads[:2] + pads[rank:rank + 2]) or \
                    any(pool_attrs.get("pads", [])) or pool_attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                continue
            kept = [a for a in pool.attribute if a.name not in ("pads", "count_include_pad")]
            del pool.attribute[:]
            pool.attribute.extend(kept + [helper.make_attribute("pads", spatial),
                                          helper.make_attribute("count_include_pad", 1)])
        for user in users:
            for i, name in enumerate(user.input):
                if name == node.output[0]:
                    user.input[i] = node.input[0]
        dropped.add(id(node))
        count += 1
    if count:
        nodes = [n for n in graph.node if id(n) not in dropped]
        del graph.node[:]
        graph.node.extend(nodes)
    return count


def nearest_upsample(model, helper, numpy_helper):
    """Nearest Upsample by whole-number factors on a static NCHW input -> Reshape to
    [N, C, H, 1, W, 1], Concat sh copies on axis 3 and sw on axis 5, Reshape to [N, C, H*sh, W*sw]:
    every output pixel is its source pixel, as in nearest upsampling."""
    graph = model.graph
    known, shapes = onnx_graph.constants(graph, numpy_helper, helper), onnx_graph.shapes_of(model)
    nodes, count = [], 0
    for node in graph.node:
        if node.op_type != "Upsample":
            nodes.append(node)
            continue
        attrs = onnx_graph.attrs(helper, node)
        scales = attrs.get("scales") if len(node.input) < 2 else known.get(node.input[1])
        shape = shapes.get(node.input[0])
        if attrs.get("mode", b"nearest") not in (b"nearest", "nearest") or scales is None or len(scales) != 4 or \
                not shape or None in shape or list(scales[:2]) != [1.0, 1.0] or \
                any(float(v) != int(v) or v < 1 for v in scales[2:]):
            nodes.append(node)
            continue
        n, c, h, w = shape
        sh, sw = int(scales[2]), int(scales[3])
        p = onnx_graph.unique_name(graph, node.output[0] + "__nearest")
        graph.initializer.extend([numpy_helper.from_array(np.array([n, c, h, 1, w, 1], np.int64), p + "_split"),
                                  numpy_helper.from_array(np.array([n, c, h * sh, w * sw], np.int64), p + "_merged")])
        nodes.append(helper.make_node("Reshape", [node.input[0], p + "_split"], [p + "_cells"], name=p + "_cells"))
        nodes.append(helper.make_node("Concat", [p + "_cells"] * sh, [p + "_rows"], axis=3, name=p + "_rows"))
        nodes.append(helper.make_node("Concat", [p + "_rows"] * sw, [p + "_both"], axis=5, name=p + "_both"))
        nodes.append(helper.make_node("Reshape", [p + "_both", p + "_merged"], list(node.output), name=node.name))
        count += 1
    return onnx_graph.replace_nodes(graph, nodes, count)
