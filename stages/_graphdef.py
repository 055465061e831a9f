"""GraphDef helpers shared by the TensorFlow stages (convert, verify, inspect). Python 3.6+."""

import collections

PY_FUNC_OPS = ("PyFunc", "PyFuncStateless", "EagerPyFunc")
NON_OUTPUT_OPS = ("Const", "NoOp", "Placeholder", "Assert", "VarHandleOp", "VariableV2")


def tf_v1(tf):
    """The TF1 API in any TensorFlow: tf itself on 1.4, tf.compat.v1 where it exists."""
    compat = getattr(tf, "compat", None)
    return getattr(compat, "v1", tf) if compat is not None else tf


def load(tf, path):
    gd = tf_v1(tf).GraphDef()
    with open(path, "rb") as fh:
        gd.ParseFromString(fh.read())
    return gd


def save(gd, path):
    with open(path, "wb") as fh:
        # deterministic: map fields (node attrs) are otherwise written in hash order, so two
        # conversions of one model gave the same graph in different bytes
        fh.write(gd.SerializeToString(deterministic=True))


def tensor_value(tensor_util, proto):
    """A TensorProto as a numpy array. TF 2 writes a tensor of zeros as its dtype and shape with no
    values at all (it means zeros), which TF 1.4's MakeNdarray cannot read."""
    try:
        return tensor_util.MakeNdarray(proto)
    except ValueError:
        import numpy as np
        from tensorflow.python.framework import dtypes
        has_values = proto.tensor_content or any(len(getattr(proto, field)) for field in _VALUE_FIELDS
                                                  if hasattr(proto, field))
        if has_values:
            raise
        shape = [d.size for d in proto.tensor_shape.dim]
        return np.zeros(shape, dtypes.as_dtype(proto.dtype).as_numpy_dtype)


_VALUE_FIELDS = ("float_val", "double_val", "int_val", "int64_val", "bool_val", "string_val", "half_val",
                 "scomplex_val", "dcomplex_val", "uint32_val", "uint64_val")


def _split(ref):
    """'^a' / 'a:1' / 'a' -> (control, node, suffix)."""
    control = ref.startswith("^")
    ref = ref[1:] if control else ref
    node, sep, port = ref.partition(":")
    return control, node, (sep + port)


def rename_node(gd, old, new):
    """Rename a node and every reference to it."""
    for node in gd.node:
        if node.name == old:
            node.name = new
        for i, ref in enumerate(node.input):
            control, name, suffix = _split(ref)
            if name == old:
                node.input[i] = ("^" if control else "") + new + suffix


def add_identity(gd, name, source_tensor, dtype_enum):
    """Append `name = Identity(source_tensor)` so the output carries a chosen name."""
    node = gd.node.add()
    node.name = name
    node.op = "Identity"
    node.input.append(source_tensor)
    node.attr["T"].type = dtype_enum
    return node


def add_transpose(gd, name, source_tensor, perm, dtype_enum):
    """Append `name = Transpose(source_tensor, perm)` (with its int32 perm Const); returns name:0."""
    const = gd.node.add()
    const.name = name + "/perm"
    const.op = "Const"
    const.attr["dtype"].type = 3          # DT_INT32
    const.attr["value"].tensor.dtype = 3
    const.attr["value"].tensor.tensor_shape.dim.add().size = len(perm)
    const.attr["value"].tensor.int_val.extend(perm)
    node = gd.node.add()
    node.name = name
    node.op = "Transpose"
    node.input.extend([source_tensor, const.name])
    node.attr["T"].type = dtype_enum
    node.attr["Tperm"].type = 3
    return name + ":0"


def py_func_nodes(gd):
    return [n.name for n in gd.node if n.op in PY_FUNC_OPS]


def summary(gd):
    """Inputs (placeholders), outputs (nodes nobody consumes), op histogram, py_func nodes."""
    consumed = set()
    for node in gd.node:
        for ref in node.input:
            consumed.add(_split(ref)[1])
    inputs = []
    for node in gd.node:
        if node.op == "Placeholder":
            shape = None
            if "shape" in node.attr and not node.attr["shape"].shape.unknown_rank:
                shape = [d.size if d.size >= 0 else None for d in node.attr["shape"].shape.dim]
            inputs.append({"name": node.name + ":0", "dtype": int(node.attr["dtype"].type), "shape": shape})
    outputs = [n.name + ":0" for n in gd.node if n.name not in consumed and n.op not in NON_OUTPUT_OPS]
    ops = collections.Counter(n.op for n in gd.node)
    return {"format": "graphdef", "inputs": inputs, "outputs": outputs,
            "ops": dict(sorted(ops.items())), "nodes": len(gd.node),
            "transposes": ops.get("Transpose", 0), "py_func_nodes": py_func_nodes(gd)}


def inputs_first(gd):
    """Reorder nodes so every node follows its inputs: TF 1.4's importer runs shape functions in
    node order, and a node added at the end (a Cast feeding a Pad) would have no inputs yet.
    Keeps the original order otherwise; a graph with a cycle (loops) is left as it is."""
    by_name = dict((n.name, n) for n in gd.node)
    order, state = [], {}
    for root in gd.node:
        stack = [(root.name, False)]
        while stack:
            name, expanded = stack.pop()
            if state.get(name) == 2 or name not in by_name:
                continue
            if expanded:
                state[name] = 2
                order.append(by_name[name])
                continue
            if state.get(name) == 1:
                return False          # a cycle
            state[name] = 1
            stack.append((name, True))
            for ref in reversed(by_name[name].input):
                dep = ref.lstrip("^").split(":")[0]
                if state.get(dep) != 2:
                    stack.append((dep, False))
    nodes = [type(n)() for n in order]
    for new, old in zip(nodes, order):
        new.CopyFrom(old)
    del gd.node[:]
    gd.node.extend(nodes)
    return True
