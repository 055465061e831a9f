"""GroupNorm in the channels-last layout: the optimize stage's rule for the Transposes around it.

PyTorch exports GroupNorm as Reshape(x, [N, G, -1]) -> InstanceNormalization -> Reshape(x, [N, C, H, W]);
a converter writes the normalization as Means over axis 2 and elementwise ops. The first Reshape reads
NCHW, so an NHWC graph keeps a Transpose before it and one after the second (two per GroupNorm: 16 of
an FPN head's 16 left). On the NHWC tensor the same groups are Reshape(x, [N, H*W, G, C/G]) with the
Means over axes 1 and 3: every element lands in the same group and each group's mean and variance are
the same numbers; the constants (a scalar epsilon, the [G, 1] instance-norm scale and bias) broadcast
alike. The second Reshape then gives NHWC, and one Transpose after it goes on down and cancels.
Python 3.6+.
"""

import numpy as np

from _layout_rules import transpose_perm
from _tf_graph import DT_INT32, tensor_shape

NCHW = [0, 3, 1, 2]        # the perm of the Transpose that takes an NHWC tensor to NCHW
ELEMENTWISE = ("Sub", "Mul", "Add", "AddV2", "RealDiv", "SquaredDifference", "Rsqrt", "Sqrt", "Square",
               "Reciprocal", "Maximum", "Minimum", "StopGradient", "Identity", "Neg")


def _dims(g, node, rank):
    """A Reshape's constant target, or None."""
    target = g.const_input(node, 1)
    if target is None or target.size != rank:
        return None
    return [int(t) for t in target.reshape(-1)]


def _same(target, dims):
    """A Reshape target that means `dims` (the batch may be written -1)."""
    return target is not None and len(target) == len(dims) and \
        all(t == d or (i == 0 and t == -1) for i, (t, d) in enumerate(zip(target, dims)))


def _broadcasts(value, groups):
    """A constant operand of the group-wise ops that broadcasts the same against [N, G, K] as against
    [N, H*W, G, C/G]: a scalar, or [.., G or 1, 1] (rank <= 3) with no other dim above 1."""
    if value.size == 1:
        return True
    shape = list(value.shape)
    return len(shape) in (2, 3) and shape[-1] == 1 and shape[-2] in (1, groups) and all(d == 1 for d in shape[:-2])


def _region(g, start, back, groups):
    """The group-wise ops from the Reshape to [N, G, K] to the Reshapes back to NCHW: (ops, Means, ends),
    or None when anything else reads them or they read anything but each other and broadcasting constants."""
    ops, means, ends, todo, seen = [], [], [], [start], {start.name}
    while todo:
        for user, _ in g.users(todo.pop().name):
            if user.name in seen:
                continue
            seen.add(user.name)
            if user.op == "Reshape" and _same(_dims(g, user, 4), back):
                ends.append(user)
                continue
            if user.op == "Mean":
                axes = g.const_input(user, 1)
                if axes is None or sorted(set(int(a) % 3 for a in axes.reshape(-1))) != [2] or \
                        not user.attr["keep_dims"].b:
                    return None
                means.append(user)
            elif user.op not in ELEMENTWISE or user.name in g.keep or g.has_control_users(user.name):
                return None
            ops.append(user)
            todo.append(user)
    inside = set(n.name for n in ops) | {start.name}
    for node in ops:
        for i, ref in enumerate(node.input):
            if ref.startswith("^"):
                return None
            if g.producer(ref).name in inside or (node.op == "Mean" and i == 1):
                continue
            value = g.const_input(node, i)
            if value is None or not _broadcasts(value, groups):
                return None
    return (ops, means, ends) if ends and means else None


def channels_last(g, node, shapes):
    """Transpose(x, NHWC->NCHW) -> Reshape [N, G, K] -> group-wise ops -> Reshape [N, C, H, W]: the same on
    x itself (see the module's docstring), one Transpose after each Reshape back. A log line, or None."""
    if node.op != "Reshape" or node.name in g.keep:
        return None
    transpose = g.producer(node.input[0])
    if transpose_perm(g, transpose) != NCHW or transpose.name in g.keep or len(g.users(transpose.name)) != 1:
        return None
    x = transpose.input[0]
    shape = tensor_shape(shapes, x)
    target = _dims(g, node, 3)
    if shape is None or len(shape) != 4 or None in shape[1:] or target is None:
        return None
    batch, height, width, channels = shape
    groups = target[1]
    if groups <= 0 or channels % groups or target[2] not in (-1, channels // groups * height * width) or \
            target[0] not in (-1, batch):
        return None
    back = [batch if batch is not None else -1, channels, height, width]
    found = _region(g, node, back, groups)
    if found is None:
        return None
    _, means, ends = found
    lead = -1 if batch is None else batch
    g.set_input(node, 0, x)
    g.set_const_input(node, 1, np.array([lead, height * width, groups, channels // groups], np.int32))
    node.attr["Tshape"].type = DT_INT32       # onnx-tf writes int64 shapes and axes: the new ones are int32
    for mean in means:
        g.set_const_input(mean, 1, np.array([1, 3], np.int32))
        mean.attr["Tidx"].type = DT_INT32
    for end in ends:
        users = g.users(end.name)
        g.set_const_input(end, 1, np.array([lead, height, width, channels], np.int32))
        end.attr["Tshape"].type = DT_INT32
        moved = g.add_transpose(end.name + "/t2tf_nchw", end.name, NCHW, end.attr["T"].type)
        g.reroute(end.name, moved.name, users)
    return "%s: a GroupNorm of %d groups on the NHWC tensor (%d Means over axes 1, 3), one Transpose after it" \
        % (node.name, groups, len(means))
