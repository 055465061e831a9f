"""adapt: rewrite model.onnx for an older onnx / onnx-tf (IR version, opset, initializers as
inputs, static batch). Runs in an env whose onnx knows both the source and the target versions.
"""

import os
import re

import _onnx_rewrites
import _opset_down
import _protocol
from _protocol import StageFailure

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {
    "inputs": {"model": True},
    "params": {"ir_version": False, "opset": False, "initializers_as_inputs": False, "static_shapes": False,
               "explicit_pool_pads": False, "fold_shapes": False, "fold_batchnorm": False,
               "zero_pool_pads": False, "matmul_2d": False, "unroll_lstm": False, "fold_pads": False,
               "nearest_upsample": False, "decompose_instancenorm": False, "unroll_gru": False,
               "without": False},       # down-steps (_opset_down.DOWN_STEPS ops) left out: `invoke conformance --without`
    "outputs": ["model"],
}


# rewrites a route can ask for, in the order they run (each exact; see _onnx_rewrites)
REWRITES = ("fold_shapes", "unroll_lstm", "unroll_gru", "fold_batchnorm", "decompose_instancenorm", "fold_pads", "zero_pool_pads",
            "matmul_2d", "nearest_upsample", "explicit_pool_pads")


def rewrite(model, params):
    """Apply the rewrites the route asks for; returns notes of what changed."""
    from onnx import helper, numpy_helper
    notes = []
    for name in REWRITES:
        if params.get(name):
            count = getattr(_onnx_rewrites, name)(model, helper, numpy_helper)
            if count:
                notes.append("%s: %d nodes" % (name, count))
    return notes


TF_NODE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")


def safe_node_names(graph):
    """Node names TensorFlow cannot take as a name or scope (torch >= 1.13 writes '/features/0/Conv',
    which onnx-tf 1.3 / 1.5 refuse: "is not a valid scope name") made valid; names change nothing else."""
    taken, renamed = set(n.name for n in graph.node), 0
    for node in graph.node:
        if not node.name or TF_NODE_NAME.match(node.name):
            continue
        base = re.sub(r"[^A-Za-z0-9_.\-/]", "_", node.name).strip("/") or node.op_type
        base = base if re.match(r"^[A-Za-z0-9.]", base) else "n" + base
        name, n = base, 2
        while name in taken:
            name, n = "%s_%d" % (base, n), n + 1
        taken.add(name)
        node.name = name
        renamed += 1
    return ["%d node names made valid for TensorFlow" % renamed] if renamed else []


def static_shapes(graph, static):
    """Symbolic input dims -> the sizes given; symbolic output dims and value_info cleared (the
    converter infers them). Returns notes."""
    notes = []
    for value in graph.input:
        if value.name in static:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, static[value.name]):
                if dim.dim_param:
                    notes.append("%s: %s -> %d" % (value.name, dim.dim_param, size))
                    dim.Clear()
                    dim.dim_value = int(size)
    if static:
        for value in graph.output:   # symbolic output dims would stay symbolic: let the converter infer
            for dim in value.type.tensor_type.shape.dim:
                if dim.dim_param:
                    dim.Clear()
        del graph.value_info[:]
    return notes


# the version converter's C++ asserts (with a source path) -> one readable line: (pattern, wording)
CONVERTER_MESSAGES = (
    (r"No Adapter (From|To) Version \$?(\d+) for (\w+)",
     lambda m: "has no adapter for %s %s opset %s" % (m.group(3), m.group(1).lower(), m.group(2))),
    (r"No Adapter For (\w+)", lambda m: "has no adapter for %s" % m.group(1)),
    (r"No Previous Version of (\w+) exists", lambda m: "finds no earlier version of %s" % m.group(1)),
)


def converter_cause(text, version, current, opset):
    for pattern, words in CONVERTER_MESSAGES:
        found = re.search(pattern, text)
        if found:
            return "onnx %s's version converter %s (converting %d -> %d)" % (version, words(found), current, opset)
    return "onnx %s's version converter: %s" % (version, re.sub(r"^.*?\.(?:h|cc):\d+: ", "", text))


def convert_opset(model, current, opset, onnx, version_converter, without=()):
    """onnx's version converter, which (before onnx 1.9) takes an initializer for an undefined input
    unless it is a graph input too: such inputs are listed for the conversion and dropped after."""
    from onnx import helper, numpy_helper
    _opset_down.raise_per_channel_prelu(model, current, opset, helper, numpy_helper)
    aside, stand_ins = _opset_down.set_aside(model, current, opset, helper, numpy_helper, without)
    listed = set(i.name for i in model.graph.input)
    added = [i.name for i in model.graph.initializer if i.name not in listed]
    model.graph.input.extend([helper.make_tensor_value_info(i.name, i.data_type, list(i.dims))
                              for i in model.graph.initializer if i.name not in listed])
    try:
        model = version_converter.convert_version(model, opset)
    except Exception as exc:  # noqa: BLE001 - its messages are C++ asserts; name the op they refuse
        text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        op = re.search(r"for (\w+)\s*$", text) or re.search(r"[Oo]p(?:erator)? (\w+)", text)
        cause = converter_cause(text, onnx.__version__, current, opset)
        raise StageFailure("onnx %s's version converter cannot take the model from opset %d to %d%s: %s"
                           % (onnx.__version__, current, opset, " (op %s)" % op.group(1) if op else "", text),
                           hint="a route whose converter reads opset %d as it is (leave route: out and torch2tf "
                                "falls back to one), or export the model at opset %d" % (current, opset),
                           kind="OpsetConversionError", cause=cause)
    drop = set(added)
    keep = [i for i in model.graph.input if i.name not in drop]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return _opset_down.put_back(model, aside, stand_ins)


def run(request):
    import onnx
    from onnx import helper, version_converter
    params = request["params"]
    model = onnx.load(request["inputs"]["model"])
    notes = []

    opset = params.get("opset")
    current = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset and opset != current:
        model = convert_opset(model, current, opset, onnx, version_converter, tuple(params.get("without") or ()))
        notes.append("opset %d -> %d" % (current, opset))

    graph = model.graph
    notes.extend(safe_node_names(graph))
    notes.extend(static_shapes(graph, params.get("static_shapes") or {}))
    notes.extend(rewrite(model, params))

    if params.get("initializers_as_inputs"):
        # IR >= 4 lets initializers stay out of graph inputs; onnx <= 1.3 requires them there.
        present = set(i.name for i in graph.input)
        added = 0
        for init in graph.initializer:
            if init.name not in present:
                graph.input.extend([helper.make_tensor_value_info(init.name, init.data_type, list(init.dims))])
                added += 1
        if added:
            notes.append("%d initializers added as graph inputs" % added)

    ir = params.get("ir_version")
    if ir and model.ir_version != ir:
        notes.append("IR %d -> %d" % (model.ir_version, ir))
        model.ir_version = ir

    out = os.path.join(request["output_dir"], "model.onnx")
    onnx.save(model, out)
    _protocol.log("; ".join(notes) or "no change needed")
    return {"outputs": {"model": "model.onnx"}, "metrics": {"changes": notes}}


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
