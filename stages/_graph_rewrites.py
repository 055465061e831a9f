"""The optimize stage's rewrites besides layout (_layout_rules): constant subgraphs folded, pass-through
nodes dropped, conv biases as BiasAdd, a Pad folded into the Conv / Pool after it. Each is exact: it
computes the same numbers in the target runtime. Python 3.6+.
"""

import numpy as np

from _tf_graph import attr, split_ref, tensor_shape

# ops whose value is not a function of their inputs alone: never folded
STATEFUL = ("Placeholder", "PlaceholderWithDefault", "RandomUniform", "RandomUniformInt", "RandomStandardNormal",
            "TruncatedNormal", "Multinomial", "RandomShuffle", "PyFunc", "PyFuncStateless", "EagerPyFunc",
            "VariableV2", "VarHandleOp", "ReadVariableOp", "Assert", "Print", "NoOp", "Const",
            "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond")
STATEFUL_PREFIXES = ("TensorArray", "Stack", "Queue", "Iterator", "Variable", "Random", "Stateful", "Assign")
HANDLES = ("resource", "variant")
FOLD_LIMIT = 16 << 20         # bytes: a folded constant larger than this (a broadcast) stays computed
FLOATS = (1, 2, 19)           # DT_FLOAT, DT_DOUBLE, DT_HALF: what BiasAdd takes here


def _plain(op):
    """An op whose outputs are values: no handle (TensorArray, resource, variant) in or out."""
    return all(not t.dtype._is_ref_dtype and t.dtype.base_dtype.name not in HANDLES
               for t in list(op.inputs) + list(op.outputs))


def fold_constants(g, tf_v1):
    """Nodes computed from constants only, replaced by their values, computed by the runtime itself."""
    graph = tf_v1.Graph()
    with graph.as_default():
        tf_v1.import_graph_def(g.gd, name="")
    plain = set(op.name for op in graph.get_operations() if _plain(op))
    const = set(n.name for n in g.gd.node if n.op == "Const")
    changed = True
    while changed:
        changed = False
        for node in g.gd.node:
            if node.name in const or node.op in STATEFUL or node.op.startswith(STATEFUL_PREFIXES) \
                    or node.name not in plain or node.name in g.keep or not node.input:
                continue
            if all(not r.startswith("^") and split_ref(r)[0] in const for r in node.input):
                const.add(node.name)
                changed = True
    # fold only where a computed node reads the value: the frontier
    frontier = {}
    for node in g.gd.node:
        if node.name in const:
            continue
        for ref in node.input:
            name, port = split_ref(ref)
            if port is not None and name in const and g.nodes[name].op != "Const":
                frontier.setdefault((name, port), []).append(ref)
    if not frontier:
        return []
    refs = sorted(frontier)
    with tf_v1.Session(graph=graph) as sess:
        values = _evaluate(sess, ["%s:%d" % r for r in refs])
    log = []
    for (name, port), value in zip(refs, values):
        value = None if value is None else np.asarray(value)
        if value is None or value.nbytes > FOLD_LIMIT or value.dtype == object:
            continue
        folded = g.add_const(name + ("/t2tf_folded" if port == 0 else "/t2tf_folded_%d" % port), value)
        g.reroute("%s:%d" % (name, port), folded.name)
        log.append("%s:%d (%s) folded to a constant %s" % (name, port, g.nodes[name].op, list(value.shape)))
    return log


def _evaluate(sess, fetches):
    """Every fetch's value, or None for one the runtime cannot give (on a branch a cond does not take)."""
    try:
        return sess.run(fetches)
    except Exception:  # noqa: BLE001 - one bad fetch must not lose the others
        values = []
        for fetch in fetches:
            try:
                values.append(sess.run(fetch))
            except Exception:  # noqa: BLE001
                values.append(None)
        return values


def forward(g, node):
    """Identity, and Split into one part, pass their input on: their readers read it directly."""
    passes = node.op == "Identity" or (node.op == "Split" and attr(node, "num_split", "i") == 1) \
        or (node.op == "ConcatV2" and len([r for r in node.input if not r.startswith("^")]) == 2)
    if not passes or node.name in g.keep or not g.live(node.name) or g.has_control_users(node.name):
        return None
    if any(r.startswith("^") for r in node.input):
        return None
    source = node.input[1] if node.op == "Split" else node.input[0]
    if node.op == "ConcatV2" and g.const(node.input[1]) is None:
        return None
    g.reroute(node.name, source)
    return "%s (%s): passes its input on, dropped" % (node.name, node.op)


def bias_add(g, node):
    """Add(conv or matmul, constant [C] / [1,..,1,C]) -> BiasAdd: TF's kernel for a per-channel bias
    (and what its CPU kernels fuse with the conv), where Add broadcasts a general tensor."""
    if node.op not in ("Add", "AddV2") or node.attr["T"].type not in FLOATS:
        return None
    for data, other in ((0, 1), (1, 0)):
        producer = g.producer(node.input[data])
        bias = g.const_input(node, other)
        if producer is None or bias is None or bias.ndim == 0:
            continue
        if producer.op in ("Conv2D", "DepthwiseConv2dNative", "Conv3D"):
            if attr(producer, "data_format", "s", b"NHWC") not in (b"NHWC", b"NDHWC"):
                continue
            filt = g.const(producer.input[1])
            channels = None if filt is None else filt.shape[-1] * (filt.shape[-2] if producer.op ==
                                                                     "DepthwiseConv2dNative" else 1)
            rank = 5 if producer.op == "Conv3D" else 4
        elif producer.op == "MatMul":
            filt = g.const(producer.input[1])
            channels = None if filt is None else filt.shape[0 if attr(producer, "transpose_b", "b", False) else 1]
            rank = 2
        else:
            continue
        if channels is None or bias.ndim > rank or bias.shape[-1] != channels or bias.size != channels:
            continue
        if node.input[data] != producer.name and node.input[data] != producer.name + ":0":
            continue
        source = node.input[data]
        g.set_input(node, 0, source)
        g.set_const_input(node, 1, bias.reshape(channels))
        node.op = "BiasAdd"
        node.attr["data_format"].s = b"NHWC"       # BiasAdd's NHWC: the bias is on the last dim, any rank
        return "%s: Add of a per-channel constant after %s (%s) -> BiasAdd" % (node.name, producer.name, producer.op)
    return None


def _same_pads(size, kernel, stride, dilation):
    """(before, after) that padding='SAME' gives one spatial dim."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _zero_row_kernel(pads, sizes, kernel, strides, dilations):
    """Per spatial dim, 0 where the pads are SAME's already, 1 where SAME with the kernel one larger (a zero
    tap after) reads exactly the padded inputs the VALID conv reads: the same pads before and the same
    number of outputs. None when a dim fits neither."""
    grow = []
    for (before, after), size, k, stride, dilation in zip(pads, sizes, kernel, strides, dilations):
        if (before, after) == _same_pads(size, k, stride, dilation):
            grow.append(0)
        elif dilation == 1 and _same_pads(size, k + 1, stride, 1)[0] == before and \
                -(-size // stride) == (size + before + after - k) // stride + 1:
            grow.append(1)
        else:
            return None
    return grow if any(grow) else None


def fold_pad(g, node, shapes, explicit_ops):
    """Pad -> Conv2D / DepthwiseConv2dNative / MaxPool (NHWC, VALID): the pad becomes the op's own
    padding, where the runtime's kernel takes it: 'SAME' when the pads are exactly SAME's for the input's
    size, or explicit paddings where the target's op has them (TF 1.14+ Conv2D). A MaxPool takes only a
    pad of the lowest float (SAME pooling ignores the padding)."""
    if node.op not in ("Conv2D", "DepthwiseConv2dNative", "MaxPool") or attr(node, "padding", "s") != b"VALID":
        return None
    if attr(node, "data_format", "s", b"NHWC") != b"NHWC":
        return None
    pad = g.producer(node.input[0])
    if pad is None or pad.op not in ("Pad", "PadV2") or len(g.users(pad.name)) != 1 or pad.name in g.keep:
        return None
    pads = g.const_input(pad, 1)
    value = g.const_input(pad, 2) if pad.op == "PadV2" else np.zeros(())
    if pads is None or value is None or value.size != 1 or pads.shape != (4, 2) or pads[0].any() or pads[3].any():
        return None
    value = float(value.reshape(-1)[0])
    if node.op == "MaxPool" and value > -3.4e38 or node.op != "MaxPool" and value != 0.0:
        return None
    shape = tensor_shape(shapes, pad.input[0])
    if node.op == "MaxPool":
        kernel = attr(node, "ksize", "list", [1, 1, 1, 1])[1:3]
    else:
        filt = g.const(node.input[1])
        if filt is None:
            return None
        kernel = list(filt.shape[:2])
    strides = attr(node, "strides", "list", [1, 1, 1, 1])[1:3]
    dilations = (attr(node, "dilations", "list") or [1, 1, 1, 1])[1:3]
    known = shape is not None and None not in shape[1:3]
    same = known and all(
        tuple(pads[1 + k]) == _same_pads(shape[1 + k], kernel[k], strides[k], dilations[k]) for k in range(2))
    grow = known and node.op == "DepthwiseConv2dNative" and node.op not in explicit_ops and _zero_row_kernel(
        [tuple(pads[1 + k]) for k in range(2)], shape[1:3], kernel, strides, dilations)
    if same:
        node.attr["padding"].s = b"SAME"
        how = "SAME"
    elif grow:
        # a strided depthwise conv padded on both sides (PyTorch's; SAME pads one less before): SAME with
        # a zero row / column after the kernel reads the same inputs, without the Pad's copy of the tensor
        # (a 3x3 stride-2 depthwise conv in TF 1.13: 2.9 -> 2.1 ms at 112x112x96; a Conv2D's extra
        # multiplies cost more than the copy)
        g.set_const_input(node, 1, np.pad(filt, [(0, grow[0]), (0, grow[1]), (0, 0), (0, 0)], "constant"))
        node.attr["padding"].s = b"SAME"
        how = "SAME with a kernel %dx%d (zeros after)" % (kernel[0] + grow[0], kernel[1] + grow[1])
    elif node.op in explicit_ops:
        node.attr["padding"].s = b"EXPLICIT"
        node.attr["explicit_paddings"].list.i.extend([int(v) for v in pads.reshape(-1)])
        how = "explicit %s" % pads.reshape(-1).tolist()
    else:
        return None
    g.set_input(node, 0, pad.input[0])
    return "%s (%s) -> %s (%s): padding %s" % (pad.name, pad.op, node.name, node.op, how)


def _same_attrs(nodes, names):
    first = nodes[0]
    def value(n, k):
        return n.attr[k].SerializeToString(deterministic=True) if k in n.attr else b""
    return all(all(value(n, k) == value(first, k) for k in names) for n in nodes)


def merge_depthwise(g, node):
    """Split(x, C, channels) -> C one-channel Conv2Ds -> ConcatV2(channels): how onnx-tf <= 1.3 converts a
    depthwise conv (mobilenet_v2: 7,000 Conv2Ds, 9x the native graph's time). One DepthwiseConv2dNative
    with the filters stacked computes the same: output channel c*m + j is group c's j-th."""
    if node.op != "ConcatV2" or node.name in g.keep:
        return None
    data = [r for r in node.input if not r.startswith("^")]
    values, axis = data[:-1], g.const(data[-1])
    if len(values) < 2 or axis is None or axis.size != 1 or int(axis.reshape(-1)[0]) not in (3, -1):
        return None
    convs = [g.producer(r) for r in values]
    if any(c is None or c.op != "Conv2D" or split_ref(r)[1] != 0 or len(g.users(c.name)) != 1
           for c, r in zip(convs, values)):
        return None
    if not _same_attrs(convs, ("strides", "padding", "data_format", "dilations", "T")):
        return None
    if attr(convs[0], "data_format", "s", b"NHWC") != b"NHWC" or any(d != 1 for d in attr(convs[0], "dilations", "list", [])):
        return None
    split = g.producer(convs[0].input[0])
    split_axis = g.const_input(split, 0) if split is not None and split.op == "Split" else None
    if split_axis is None or int(split_axis.reshape(-1)[0]) not in (3, -1) or attr(split, "num_split", "i") != len(convs):
        return None
    if [split_ref(c.input[0]) for c in convs] != [(split.name, k) for k in range(len(convs))]:
        return None
    filters = [g.const(c.input[1]) for c in convs]
    if any(f is None or f.ndim != 4 or f.shape[2] != 1 or f.shape != filters[0].shape for f in filters):
        return None
    stacked = np.stack([f[:, :, 0, :] for f in filters], axis=2)          # [kh, kw, C, multiplier]
    weights = g.add_const(node.name + "/t2tf_depthwise_filter", stacked)
    attrs = {"T": convs[0].attr["T"], "strides": convs[0].attr["strides"], "padding": convs[0].attr["padding"],
             "data_format": g.AttrValue(s=b"NHWC")}
    merged = g.add("DepthwiseConv2dNative", node.name + "/t2tf_depthwise", [split.input[1], weights.name], attrs)
    g.reroute(node.name, merged.name)
    return "%s: %d one-channel Conv2Ds of %s's parts -> one DepthwiseConv2dNative %s" % (
        node.name, len(convs), split.name, list(stacked.shape))


def _scalar(g, ref):
    value = g.const(ref)
    if value is None or value.size == 0 or not np.all(value == value.reshape(-1)[0]):
        return None
    return float(value.reshape(-1)[0]), value.size


def clip_as_relu6(g, node):
    """Maximum(Minimum(x, 6), 0) or Minimum(Maximum(x, 0), 6) (a Clip(0, 6), ReLU6 as onnx-tf writes it)
    -> Relu6(x): one kernel instead of two."""
    if node.op not in ("Maximum", "Minimum") or attr(node, "T", "type") not in FLOATS:
        return None
    outer_bound, inner_op, inner_bound = (0.0, "Minimum", 6.0) if node.op == "Maximum" else (6.0, "Maximum", 0.0)
    for data, other in ((0, 1), (1, 0)):
        bound, inner = _scalar(g, node.input[other]), g.producer(node.input[data])
        if bound is None or bound[0] != outer_bound or inner is None or inner.op != inner_op:
            continue
        if len(g.users(inner.name)) != 1 or inner.name in g.keep:
            continue
        for x, c in ((0, 1), (1, 0)):
            limit = _scalar(g, inner.input[c])
            if limit is not None and limit[0] == inner_bound and g.const(inner.input[x]) is None:
                shape_of_bounds = max(bound[1], limit[1])
                if shape_of_bounds != 1:
                    return None     # a bound tensor could broadcast x to a larger shape: keep it as written
                line = "%s (%s) of %s (%s): a Clip(0, 6) -> Relu6" % (node.name, node.op, inner.name, inner.op)
                g.set_input(node, 0, inner.input[x])
                del node.input[1:]
                node.op = "Relu6"
                return line
    return None
