"""adapt: rewrite model.onnx for an older onnx / onnx-tf (IR version, opset, initializers as
inputs, static batch). Runs in an env whose onnx knows both the source and the target versions.
"""

import os

import _protocol
from _protocol import StageFailure

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {
    "inputs": {"model": True},
    "params": {"ir_version": False, "opset": False, "initializers_as_inputs": False, "static_shapes": False,
               "explicit_pool_pads": False},
    "outputs": ["model"],
}


FLOAT_LOWEST = -3.4028234663852886e38


def explicit_pool_pads(model, helper):
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
    if count:
        del graph.node[:]
        graph.node.extend(nodes)
    return count


def run(request):
    import onnx
    from onnx import helper, version_converter
    params = request["params"]
    model = onnx.load(request["inputs"]["model"])
    notes = []

    opset = params.get("opset")
    current = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset and opset != current:
        try:
            model = version_converter.convert_version(model, opset)
        except Exception as exc:
            raise StageFailure("converting the model from opset %d to %d failed: %s" % (current, opset, exc),
                               hint="export at the route's opset instead (opset: %d in the config)" % opset,
                               kind="OpsetConversionError")
        notes.append("opset %d -> %d" % (current, opset))

    graph = model.graph
    if params.get("explicit_pool_pads"):
        rewritten = explicit_pool_pads(model, helper)
        if rewritten:
            notes.append("%d padded MaxPool -> Pad + MaxPool" % rewritten)

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

    static = params.get("static_shapes") or {}
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
