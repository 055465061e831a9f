"""adapt: rewrite model.onnx for an older onnx / onnx-tf (IR version, opset, initializers as
inputs, static batch). Runs in an env whose onnx knows both the source and the target versions.
"""

import os

import _onnx_rewrites
import _protocol
from _protocol import StageFailure

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {
    "inputs": {"model": True},
    "params": {"ir_version": False, "opset": False, "initializers_as_inputs": False, "static_shapes": False,
               "explicit_pool_pads": False, "fold_shapes": False, "fold_batchnorm": False,
               "zero_pool_pads": False, "matmul_2d": False, "unroll_lstm": False, "fold_pads": False,
               "nearest_upsample": False},
    "outputs": ["model"],
}


# rewrites a route can ask for, in the order they run (each exact; see _onnx_rewrites)
REWRITES = ("fold_shapes", "unroll_lstm", "fold_batchnorm", "fold_pads", "zero_pool_pads", "matmul_2d",
            "nearest_upsample", "explicit_pool_pads")


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
