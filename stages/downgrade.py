"""downgrade: rewrite a GraphDef made by a newer TensorFlow to the op set of a target runtime.

Inputs: the graph, the source registry (the TF that made it) and the target registry (the TF it
must load in), both dumped by opregistry from the real envs. Ops the target lacks are renamed to
their older equivalents where one exists; attrs the target's OpDef lacks are dropped when they
hold their default value; anything else is refused, listing the offending ops and nodes, before
any verification. Python 3.6+, TensorFlow only for the GraphDef proto.
"""

import base64
import json
import os

import _graphdef
import _lowerings
import _protocol
from _protocol import StageFailure

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {
    "inputs": {"graph": True, "source_registry": True, "target_registry": True},
    "params": {"without": False},    # lowerings (LOWERINGS ops) left out: `invoke conformance --without`
    "outputs": ["graph"],
}

# newer op -> (older op, attrs the older op does not have and that must be dropped)
RENAMES = {
    "AddV2": ("Add", ()),
    "FusedBatchNormV3": ("FusedBatchNorm", ("U",)),     # only if the 6th output is unused (checked)
}
# inputs newer TensorFlows added that only hint what the kernel reads off the list's elements: dropped
# where the target's op has fewer (TF 1.14 added element_shape to both; TF 2's scan / map loops write
# them, and onnx-tf makes ONNX Scan and TfIdfVectorizer such loops). A stacked empty list, the one
# case the hint decides, is not what a Scan over a static length makes.
HINT_INPUTS = {"TensorListGetItem": "element_shape", "TensorListStack": "element_shape"}
# attrs a converted ONNX graph can set off their default with no effect: incompatible_shape_error=false
# only changes what Equal does with operands that do not broadcast, which ONNX's Equal never has
INERT_ATTRS = {("Equal", "incompatible_shape_error"), ("NotEqual", "incompatible_shape_error")}
RESIZE_LOWERED = "ResizeBilinear(half_pixel_centers)->2 MatMul"
MATMUL_RESHAPED = "BatchMatMulV2(matrix operand)->Reshape+MatMul+Reshape"
SOFTMAX_2D = "Softmax(N-D)->Reshape+Softmax+Reshape"
# lowerings that replace a node by new ones: nothing of the original is left to check
REPLACED = (RESIZE_LOWERED, MATMUL_RESHAPED, SOFTMAX_2D)
# runtimes whose Softmax / LogSoftmax kernels take matrices only (seen in TF 1.4.1; 1.13.1 runs N-D)
SOFTMAX_2D_BEFORE = (1, 13)
# Not renamed blindly: BatchMatMulV2 -> BatchMatMul is only right without batch broadcasting, which
# the recorded shapes must prove (_lowerings.batch_matmul_v2).


def load_registry(path):
    with open(path) as fh:
        return json.load(fh)


def _decode(tf, b64):
    from tensorflow.core.framework import attr_value_pb2
    value = attr_value_pb2.AttrValue()
    value.ParseFromString(base64.b64decode(b64))
    return value


def _same(a, b):
    return a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


def _allowed(tf, allowed_b64, value):
    """Whether an attr value is in the OpDef's allowed_values (types or strings)."""
    allowed = _decode(tf, allowed_b64).list
    kind = value.WhichOneof("value")
    if kind == "type":
        return value.type in allowed.type if allowed.type else True
    if kind == "s":
        return value.s in allowed.s if allowed.s else True
    return True


def _consumed_ports(gd):
    ports = {}
    for node in gd.node:
        for ref in node.input:
            if ref.startswith("^"):
                continue
            name, _, port = ref.partition(":")
            ports.setdefault(name, set()).add(int(port or 0))
    return ports


def _leaky_relu(gd, node, target):
    """LeakyRelu (TF >= 1.13) -> Maximum(x, alpha * x), keeping the node's name for its consumers."""
    for op in ("Maximum", "Mul", "Const"):
        if op not in target:
            return False
    alpha = node.attr["alpha"].f if "alpha" in node.attr else 0.2
    dtype = node.attr["T"].type
    const = gd.node.add()
    const.name = node.name + "/torch2tf_alpha"
    const.op = "Const"
    const.attr["dtype"].type = dtype
    const.attr["value"].tensor.dtype = dtype
    const.attr["value"].tensor.float_val.append(alpha)
    mul = gd.node.add()
    mul.name = node.name + "/torch2tf_scaled"
    mul.op = "Mul"
    mul.input.extend([node.input[0], const.name])
    mul.attr["T"].type = dtype
    node.op = "Maximum"
    node.input.append(mul.name)
    del node.attr["alpha"]
    return True


# dtype enum -> the TensorProto field a value of that dtype is stored in
VALUE_FIELDS = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val",
                7: "string_val", 9: "int64_val", 10: "bool_val", 19: "half_val"}


def fill_empty_consts(gd):
    """Newer TF writes an all-zero Const with no value at all; TF 1.4 cannot read that
    ("cannot reshape array of size 0 into shape ()"), so spell out the zero. Returns the count."""
    count = 0
    for node in gd.node:
        if node.op != "Const" or "value" not in node.attr:
            continue
        t = node.attr["value"].tensor
        field = VALUE_FIELDS.get(t.dtype)
        if field is None or t.tensor_content or any(len(getattr(t, f)) for f in set(VALUE_FIELDS.values())):
            continue
        size = 1
        for d in t.tensor_shape.dim:
            size *= d.size
        if size > 0:
            getattr(t, field).append(b"" if field == "string_val" else False if field == "bool_val" else 0)
            count += 1
    return count


# op -> (input, type attr): TF 1.x CPU kernels read this input as int32 whatever the attr says, and
# abort on int64 ("Check failed: dtype() == expected_dtype (9 vs. 3)"); TF 2 converters compute
# dynamic paddings in int64.
INT32_ONLY_INPUTS = {"Pad": (1, "Tpaddings"), "PadV2": (1, "Tpaddings"), "MirrorPad": (1, "Tpaddings")}


def int32_paddings(gd, target):
    """Cast int64 paddings to int32 for a TF 1 target (values are small). Returns the count."""
    if not target["tensorflow"].startswith("1."):
        return 0
    count = 0
    for node in list(gd.node):
        spec = INT32_ONLY_INPUTS.get(node.op)
        if not spec or node.attr[spec[1]].type != 9:
            continue
        cast = gd.node.add()
        cast.name = node.name + "/torch2tf_int32"
        cast.op = "Cast"
        cast.input.append(node.input[spec[0]])
        cast.attr["SrcT"].type = 9
        cast.attr["DstT"].type = 3
        node.input[spec[0]] = cast.name
        node.attr[spec[1]].type = 3
        count += 1
    return count


def _drop_hint_input(node, op_def):
    """The hint input (HINT_INPUTS) of a node whose op takes fewer inputs in the target: dropped,
    control inputs kept. Returns what was dropped, or None."""
    hint = HINT_INPUTS.get(node.op)
    data = [i for i in node.input if not i.startswith("^")]
    if hint is None or "inputs" not in op_def or len(data) != op_def["inputs"] + 1:
        return None
    kept = data[:-1] + [i for i in node.input if i.startswith("^")]
    del node.input[:]
    node.input.extend(kept)
    return "%s input %s" % (node.op, hint)


def _version(text):
    return tuple(int(part) for part in text.split(".")[:2])


class Lowering(object):
    """One exact lowering, as data: the op it handles, when it applies to a node for this target, the
    function that lowers it in place ((label of what was done | None, why it cannot | None)), and
    the words for a refusal. A new lowering is one entry in LOWERINGS."""

    def __init__(self, op, applies, lower, refusal):
        self.op, self.applies, self.lower, self.refusal = op, applies, lower, refusal


def _missing(node, dst_ops, version):
    return node.op not in dst_ops


def _resize_applies(node, dst_ops, version):
    return "half_pixel_centers" in node.attr and node.attr["half_pixel_centers"].b and \
        "half_pixel_centers" not in dst_ops.get(node.op, {}).get("attrs", {})


def _fill_applies(node, dst_ops, version):
    return _int64_attr(node, "index_type") and "index_type" not in dst_ops.get("Fill", {}).get("attrs", {})


def _int64_attr(node, key):
    return key in node.attr and node.attr[key].type == 9


def _labelled(label, why):
    return (None, why) if why else (label, None)


def _bmm(tf, gd, node, nodes):
    why = _lowerings.batch_matmul_v2(tf, gd, node, nodes)
    return _labelled("BatchMatMulV2->BatchMatMul" if node.op == "BatchMatMul" else MATMUL_RESHAPED, why)


def _softmax(tf, gd, node, nodes):
    done, why = _lowerings.softmax_2d(tf, gd, node, nodes)
    return (None, why) if why else ((SOFTMAX_2D if done else None), None)


def _grouped(tf, node, nodes):
    """Renamed in place when grouped; its attrs are then checked as usual."""
    why = _lowerings.grouped_conv2d(tf, node, nodes)
    if why:
        return None, why
    return ("Conv2D(grouped)->DepthwiseConv2dNative" if node.op == "DepthwiseConv2dNative" else None), None


LOWERINGS = (
    Lowering("ResizeBilinear", _resize_applies,
             lambda tf, gd, node, nodes: _labelled(RESIZE_LOWERED, _lowerings.resize_bilinear_half_pixel(tf, gd, node, nodes)),
             "half_pixel_centers is not in TensorFlow {version} and cannot be lowered: {why}"),
    Lowering("ResizeNearestNeighbor", _resize_applies, _lowerings.resize_nearest_half_pixel,
             "half_pixel_centers is not in TensorFlow {version} and cannot be lowered: {why}"),
    Lowering("BatchMatMulV2", _missing, _bmm, "not in TensorFlow {version} and cannot be lowered: {why}"),
    Lowering("SelectV2", _missing, lambda tf, gd, node, nodes: _lowerings.select_v2(tf, gd, node, nodes),
             "not in TensorFlow {version} and cannot be lowered: {why}"),
    Lowering("Softmax", lambda node, dst_ops, version: _version(version) < SOFTMAX_2D_BEFORE, _softmax,
             "TensorFlow {version} takes matrices only, and {why}"),
    Lowering("LogSoftmax", lambda node, dst_ops, version: _version(version) < SOFTMAX_2D_BEFORE, _softmax,
             "TensorFlow {version} takes matrices only, and {why}"),
    Lowering("Conv2D", lambda node, dst_ops, version: True, lambda tf, gd, node, nodes: _grouped(tf, node, nodes),
             "{why} has no form in TensorFlow {version}"),
    Lowering("Fill", _fill_applies, lambda tf, gd, node, nodes: _lowerings.int32_operand(gd, node, 0, "index_type", True),
             "index_type int64 cannot be lowered: {why}"),
    Lowering("ClipByValue", _missing, lambda tf, gd, node, nodes: _lowerings.clip_by_value(gd, node),
             "not in TensorFlow {version}: {why}"),
    Lowering("MatrixDiagV3", _missing, _lowerings.matrix_diag_v3, "not in TensorFlow {version} and cannot be lowered: {why}"),
    Lowering("TensorScatterUpdate", _missing, _lowerings.tensor_scatter_update,
             "not in TensorFlow {version} and cannot be lowered: {why}"),
    # TF 1.4's GatherNd indexes at most 5 dims (1.13's more: seen with the rank-7 loss tests)
    Lowering("GatherNd", lambda node, dst_ops, version: _version(version) < (1, 13), _lowerings.gather_nd_wide,
             "cannot be expressed in TensorFlow {version}: {why}"),
    Lowering("Tile", lambda node, dst_ops, version: _lowerings.int64_tile_needs_cast(node, version),
             lambda tf, gd, node, nodes: _lowerings.int32_operand(gd, node, 1, "Tmultiples", False),
             "int64 multiples cannot be lowered: {why}"),
)
LOWERING_OF = dict((entry.op, entry) for entry in LOWERINGS)


def _lower(tf, gd, node, nodes, dst_ops, version, without=()):
    """An exact lowering of a node the target cannot run as is: (what was done, why it was refused),
    either or both None."""
    entry = LOWERING_OF.get(node.op)
    if entry is None or node.op in without or not entry.applies(node, dst_ops, version):
        return None, None
    op = node.op
    done, why = entry.lower(tf, gd, node, nodes)
    if why:
        return None, "%s (op %s: %s)" % (node.name, op, entry.refusal.format(version=version, why=why))
    return done, None


def downgrade(tf, gd, source, target, without=()):
    """Rewrite gd in place; returns (renamed, dropped); raises StageFailure listing what cannot be."""
    src_ops, dst_ops = source["ops"], target["ops"]
    ports = _consumed_ports(gd)
    nodes = dict((n.name, n) for n in gd.node)
    renamed, dropped, refused = {}, {}, []
    for node in list(gd.node):
        original = node.op
        lowered, refusal = _lower(tf, gd, node, nodes, dst_ops, target["tensorflow"], without)
        if lowered:
            renamed[lowered] = renamed.get(lowered, 0) + 1
        if refusal:
            refused.append(refusal)
        if refusal or lowered in REPLACED:
            continue
        if node.op not in dst_ops:
            if node.op == "LeakyRelu" and _leaky_relu(gd, node, dst_ops):
                renamed["LeakyRelu->Maximum(x, alpha*x)"] = renamed.get("LeakyRelu->Maximum(x, alpha*x)", 0) + 1
                continue
            older = RENAMES.get(node.op)
            if older and older[0] in dst_ops and not (node.op == "FusedBatchNormV3" and 5 in ports.get(node.name, ())):
                for attr in older[1]:
                    if attr in node.attr:
                        del node.attr[attr]
                key = "%s->%s" % (node.op, older[0])
                renamed[key] = renamed.get(key, 0) + 1
                node.op = older[0]
            else:
                refused.append("%s (op %s: not in TensorFlow %s)" % (node.name, node.op, target["tensorflow"]))
                continue
        op_def = dst_ops[node.op]
        dropped_input = _drop_hint_input(node, op_def)
        if dropped_input:
            dropped[dropped_input] = dropped.get(dropped_input, 0) + 1
        src_def = src_ops.get(original, {"attrs": {}})
        for attr in list(node.attr):
            if attr.startswith("_"):
                continue             # internal attrs (_class, _output_shapes) are not checked by OpDefs
            value = node.attr[attr]
            if attr not in op_def["attrs"]:
                default = src_def["attrs"].get(attr, {}).get("default")
                if (node.op, attr) in INERT_ATTRS or default is not None and _same(value, _decode(tf, default)):
                    del node.attr[attr]
                    dropped[attr] = dropped.get(attr, 0) + 1
                else:
                    refused.append("%s (op %s: attr %s=%s has no equivalent in TensorFlow %s)"
                                   % (node.name, node.op, attr, str(value).strip(), target["tensorflow"]))
            elif "allowed" in op_def["attrs"][attr] and not _allowed(tf, op_def["attrs"][attr]["allowed"], value):
                refused.append("%s (op %s: %s=%s not allowed in TensorFlow %s)"
                               % (node.name, node.op, attr, str(value).strip(), target["tensorflow"]))
    if refused:
        ops = sorted(set(r.split("(op ")[1].split(":")[0] for r in refused))
        raise StageFailure("the graph cannot be expressed in TensorFlow %s: ops %s; nodes: %s"
                           % (target["tensorflow"], ops, "; ".join(refused[:25])),
                           hint="take a route that converts in this runtime (compat.yaml), or a newer target",
                           kind="UnsupportedInTarget")
    return renamed, dropped


def run(request):
    import tensorflow as tf
    inputs = request["inputs"]
    gd = _graphdef.load(tf, inputs["graph"])
    source = load_registry(inputs["source_registry"])
    target = load_registry(inputs["target_registry"])
    renamed, dropped = downgrade(tf, gd, source, target, tuple(request["params"].get("without") or ()))
    filled = fill_empty_consts(gd)
    cast = int32_paddings(gd, target)
    _graphdef.inputs_first(gd)
    _graphdef.save(gd, os.path.join(request["output_dir"], "model.pb"))
    _protocol.log("renamed %s; dropped default attrs %s" % (renamed, dropped))
    return {"outputs": {"graph": "model.pb"},
            "metrics": {"source_tensorflow": source["tensorflow"], "target_tensorflow": target["tensorflow"],
                        "renamed": renamed, "dropped_attrs": dropped, "zero_consts_spelled_out": filled,
                        "int64_paddings_cast": cast}}


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
