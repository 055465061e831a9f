"""Transposes moved down through the ops that do not care about layout, and cancelled where two meet.

onnx-tf wraps every conv and pool in NCHW->NHWC and NHWC->NCHW Transposes. Moving each NHWC->NCHW
Transpose down past the elementwise ops, pads, concats and reductions after it brings it next to the
following conv's NCHW->NHWC Transpose, and the two cancel: the convolutions keep one layout end to end.
As tf2onnx's transpose optimizer, a table: per op, which inputs carry the layout and how its other
inputs or attributes change when the Transpose moves from before it to after it. Every entry is exact:
the op computes the same numbers on the untransposed tensor, then the Transpose is applied.
Python 3.6+.
"""

import numpy as np

from _tf_graph import DT_BOOL, attr, ref_of, tensor_shape

UNARY = ("Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Exp", "Log", "Log1p", "Neg", "Abs", "Sqrt",
         "Rsqrt", "Square", "Identity", "Floor", "Ceil", "Round", "Softplus", "Softsign", "Reciprocal",
         "Sign", "Erf", "LeakyRelu", "Sin", "Cos", "StopGradient", "Cast", "IsNan", "LogicalNot")
BINARY = ("Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum", "Pow", "SquaredDifference",
          "FloorDiv", "FloorMod", "Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual",
          "LogicalAnd", "LogicalOr", "AddN")
COMPARISONS = ("Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual", "IsNan")
REDUCTIONS = ("Mean", "Sum", "Max", "Min", "Prod", "All", "Any")
PADS = ("Pad", "PadV2", "MirrorPad")
WINDOWED = ("Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool")


def inverse(perm):
    return [int(i) for i in np.argsort(perm)]


def transpose_perm(g, node):
    """The constant perm of a Transpose node, else None."""
    if node is None or node.op != "Transpose":
        return None
    perm = g.const_input(node, 1)
    return None if perm is None else [int(p) for p in perm.reshape(-1)]


def _axis(value, rank):
    value = int(value)
    return value + rank if value < 0 else value


# ---------------------------------------------------------------- per-op: inputs that carry the layout,
# and the remap of the rest. remap(g, node, perm) -> [(input index, new const)] / attr edits, or None
# when the op cannot take the move (then nothing is changed).

def _no_remap(g, node, perm):
    return {}


def _pad_remap(g, node, perm):
    pads = g.const_input(node, 1)
    if pads is None or pads.shape != (len(perm), 2):
        return None
    moved = np.zeros_like(pads)
    for k, p in enumerate(perm):
        moved[p] = pads[k]
    return {"inputs": {1: moved}}


def _concat_remap(g, node, perm):
    last = len(node.input) - 1
    while last >= 0 and node.input[last].startswith("^"):
        last -= 1
    axis = g.const_input(node, last)
    if axis is None or axis.size != 1:
        return None
    return {"inputs": {last: np.array(perm[_axis(axis.reshape(-1)[0], len(perm))], axis.dtype)}}


def _reduce_remap(g, node, perm):
    axes = g.const_input(node, 1)
    if axes is None:
        return None
    rank = len(perm)
    taken = [_axis(a, rank) for a in axes.reshape(-1)]
    new_axes = np.array([perm[a] for a in taken], axes.dtype).reshape(axes.shape)
    keep = attr(node, "keep_dims", "b", attr(node, "keepdims", "b", False))
    if keep:
        return {"inputs": {1: new_axes}}
    remaining = [perm[k] for k in range(rank) if k not in taken]     # the input's dims, in output order
    out_perm = [sorted(remaining).index(d) for d in remaining]
    return {"inputs": {1: new_axes}, "out_perm": out_perm}


def _split_axis_remap(axis_input):
    """Split takes its axis as input 0, SplitV as input 2: the same remap either way."""
    def remap(g, node, perm):
        axis = g.const_input(node, axis_input)
        if axis is None or axis.size != 1:
            return None
        return {"inputs": {axis_input: np.array(perm[_axis(axis.reshape(-1)[0], len(perm))], axis.dtype)},
                "outputs": attr(node, "num_split", "i", 1)}
    return remap


_split_remap, _splitv_remap = _split_axis_remap(0), _split_axis_remap(2)


def _slice_remap(g, node, perm):
    moved = {}
    for index in (1, 2):
        value = g.const_input(node, index)
        if value is None or value.shape != (len(perm),):
            return None
        new = np.zeros_like(value)
        for k, p in enumerate(perm):
            new[p] = value[k]
        moved[index] = new
    return {"inputs": moved}


def _strided_slice_remap(g, node, perm):
    if any(attr(node, m, "i", 0) for m in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask")):
        return None
    moved = _slice_remap(g, node, perm)
    strides = g.const_input(node, 3)
    if moved is None or strides is None or strides.shape != (len(perm),):
        return None
    new = np.zeros_like(strides)
    for k, p in enumerate(perm):
        new[p] = strides[k]
    moved["inputs"][3] = new
    attrs = {}
    for mask in ("begin_mask", "end_mask"):
        bits = attr(node, mask, "i", 0)
        attrs[mask] = sum(1 << p for k, p in enumerate(perm) if bits & (1 << k))
    moved["attrs"] = attrs
    return moved


# op -> (which inputs carry the layout: "all" or a tuple of indices, remap)
RULES = {}
for _op in UNARY:
    RULES[_op] = ((0,), _no_remap)
for _op in BINARY:
    RULES[_op] = ("all", _no_remap)
for _op in PADS:
    RULES[_op] = ((0,), _pad_remap)
for _op in REDUCTIONS:
    RULES[_op] = ((0,), _reduce_remap)
RULES["ConcatV2"] = ("all_but_last", _concat_remap)
RULES["Split"] = ((1,), _split_remap)
RULES["SplitV"] = ((0,), _splitv_remap)
RULES["Slice"] = ((0,), _slice_remap)
RULES["StridedSlice"] = ((0,), _strided_slice_remap)


def _data_indices(node, which):
    data = [i for i, r in enumerate(node.input) if not r.startswith("^")]
    if which == "all":
        return data
    if which == "all_but_last":
        return data[:-1]
    return [i for i in which if i in data]


def _const_for(value, perm):
    """A constant operand of an elementwise op: the value that broadcasts to the untransposed tensor
    as the original broadcast to the transposed one (its rank raised to the perm's first)."""
    rank = len(perm)
    if value.ndim == 0 or value.size == 1 and value.ndim <= rank:
        return value
    if value.ndim > rank:
        return None
    full = value.reshape((1,) * (rank - value.ndim) + value.shape)
    return np.transpose(full, inverse(perm))


def push_down(g, node):
    """Move the Transposes feeding `node` to after it, when every layout input is a Transpose of one
    perm or a constant. Returns a log line, or None when the rule does not apply."""
    rule = RULES.get(node.op)
    if rule is None or node.name in g.keep:
        return None
    which, remap = rule
    if node.op in PADS and all(u.op in WINDOWED for u, _ in g.users(node.name)):
        return None         # a pad right before a conv stays there, to be folded (pad_after put it there)
    indices = _data_indices(node, which)
    perms = [transpose_perm(g, g.producer(node.input[i])) for i in indices]
    given = [p for p in perms if p is not None]
    if not given or any(p != given[0] for p in given):
        return None
    perm = given[0]
    consts = {}
    for i, p in zip(indices, perms):
        if p is None:
            value = g.const_input(node, i)
            moved = None if value is None else _const_for(value, perm)
            if moved is None:
                return None
            consts[i] = moved
    change = remap(g, node, perm)
    if change is None:
        return None
    if change.get("outputs", 1) > 1 and not all(u.op == "Transpose" or u.op in RULES for u, _ in g.users(node.name)):
        return None         # one Transpose per part, stuck at a conv each (a split depthwise conv): not worth it
    for i, p in zip(indices, perms):
        if p is not None:
            g.set_input(node, i, g.producer(node.input[i]).input[0])
    for i, value in list(consts.items()) + list(change.get("inputs", {}).items()):
        g.set_const_input(node, i, value)
    for key, value in change.get("attrs", {}).items():
        node.attr[key].i = value
    out_perm = change.get("out_perm", perm)
    if out_perm != sorted(out_perm):
        dtype = _out_dtype(g, node)
        for port in range(change.get("outputs", 1)):
            users = g.users(node.name, port)
            if users:
                t = g.add_transpose(node.name + "/t2tf_nchw", ref_of(node.name, port), out_perm, dtype)
                g.reroute(ref_of(node.name, port), t.name, users)
    return "%s (%s): transpose %s moved after it" % (node.name, node.op, perm)


def _out_dtype(g, node):
    if node.op in COMPARISONS:
        return DT_BOOL
    if node.op == "Cast":
        return node.attr["DstT"].type
    return node.attr["T"].type


def pad_after(g, node):
    """Transpose(Pad(x)) -> Pad(Transpose(x)), the pads permuted: the input's Pad (onnx-tf pads in NCHW,
    then transposes for the conv) then sits right before the conv, which can take it as its padding."""
    perm = transpose_perm(g, node)
    pad = g.producer(node.input[0]) if perm is not None else None
    if pad is None or pad.op not in PADS or pad.name in g.keep or node.name in g.keep:
        return None
    pads = g.const_input(pad, 1)
    if pads is None or pads.shape != (len(perm), 2) or len(g.users(pad.name)) != 1 or g.has_control_users(pad.name):
        return None
    if not all(u.op in WINDOWED for u, _ in g.users(node.name)):
        return None         # only to bring a pad next to the conv / pool that can take it (push_down's mirror)
    moved = g.add(pad.op, pad.name + "/t2tf_after", [node.name] + list(pad.input[1:]),
                  dict((k, v) for k, v in pad.attr.items()))
    g.reroute(node.name, moved.name, [u for u in g.users(node.name) if u[0] is not moved])
    g.set_const_input(moved, 1, pads[perm])
    g.set_input(node, 0, pad.input[0])
    return "%s (%s): moved after transpose %s" % (pad.name, pad.op, perm)


def cancel(g, node):
    """Transpose(Transpose(x, p), q): one Transpose of the composed perm, or none when it is the identity."""
    outer = transpose_perm(g, node)
    inner_node = g.producer(node.input[0]) if outer is not None else None
    inner = transpose_perm(g, inner_node)
    if inner is None or not g.live(node.name) or len(inner) != len(outer):
        return None
    combined = [inner[q] for q in outer]
    source = inner_node.input[0]
    if combined == sorted(combined) and node.name not in g.keep:
        g.reroute(node.name, source)
        return "%s + %s: transposes cancelled" % (inner_node.name, node.name)
    g.set_input(node, 0, source)
    g.set_const_input(node, 1, np.array(combined, np.int32))
    return "%s + %s: transposes merged into %s" % (inner_node.name, node.name, combined)


def as_reshape(g, node, shapes):
    """A Transpose that moves only size-1 dims keeps the data's order: a Reshape (free) instead."""
    perm = transpose_perm(g, node)
    if perm is None or node.name in g.keep:
        return None
    shape = tensor_shape(shapes, node.input[0])
    if shape is None:
        return None
    moved = [d for d in perm if shape[d] != 1]
    if moved != sorted(moved) or sum(1 for d in shape if d is None) > 1:
        return None
    target = [-1 if shape[d] is None else shape[d] for d in perm]
    g.set_const_input(node, 1, np.array(target, np.int32))
    node.op = "Reshape"
    del node.attr["Tperm"]
    node.attr["Tshape"].type = 3
    return "%s: transpose %s of %s moves only size-1 dims: a Reshape" % (node.name, perm, shape)


def _split_groups(dims, target):
    """For a Reshape that only splits dims (no merging): the target's indices each input dim becomes,
    in order; None when it merges or the sizes do not line up. A size-1 dim of the target joins the
    group it stands in."""
    groups, k = [], 0
    for size in dims:
        group, product = [], 1
        while k < len(target) and (product < size or (product == size and target[k] == 1 and not group)):
            group.append(k)
            product *= target[k]
            k += 1
        if product != size or not group:
            return None
        groups.append(group)
    return groups if k == len(target) else None


def through_reshape(g, node, shapes):
    """Transpose(x, p) -> Reshape that only splits dims: Reshape(x) with each of x's dims split in x's own
    order, then one Transpose of the expanded perm. The Transpose then moves on down (push_transposes)
    and merges where it meets another: a YOLO head's NHWC -> NCHW Transpose, its view(b, anchors, outputs,
    h, w), the grid math and the permute(0, 1, 3, 4, 2) keep one Transpose of the two."""
    if node.op != "Reshape" or node.name in g.keep:
        return None
    inner_node = g.producer(node.input[0])
    inner = transpose_perm(g, inner_node)
    target = g.const_input(node, 1)
    if inner is None or target is None or inner_node.name in g.keep or len(g.users(inner_node.name)) != 1:
        return None
    src = inner_node.input[0]
    shape = tensor_shape(shapes, src)
    if shape is None or None in shape or len(inner) != len(shape):
        return None
    moved = [shape[p] for p in inner]                     # the Transpose's output dims
    target = [int(t) for t in target.reshape(-1)]
    if -1 in target:
        known = int(np.prod([t for t in target if t != -1]))
        total = int(np.prod(moved))
        if target.count(-1) > 1 or known == 0 or total % known:
            return None
        target = [total // known if t == -1 else t for t in target]
    groups = _split_groups(moved, target)
    if groups is None:
        return None
    # x's dim j is the moved tensor's dim inner.index(j): its group of target dims, in x's own order
    order = [k for j in range(len(shape)) for k in groups[inner.index(j)]]
    position = dict((k, n) for n, k in enumerate(order))
    new_shape = [target[k] for k in order]
    perm = [position[k] for k in range(len(target))]
    dtype = node.attr["T"].type
    users = g.users(node.name)
    g.set_input(node, 0, src)
    g.set_const_input(node, 1, np.array(new_shape, np.int32))
    node.attr["Tshape"].type = 3
    moved_back = g.add_transpose(node.name + "/t2tf_after_reshape", node.name, perm, dtype)
    g.reroute(node.name, moved_back.name, users)
    return "%s -> %s: Reshape to %s first, then Transpose %s" % (inner_node.name, node.name, new_shape, perm)
