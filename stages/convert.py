"""convert: model.onnx -> frozen model.pb with the config's input/output tensor names.

Runs in a converter env (onnx-tf 1.1.2 on TF 1.4, 1.3.0 on TF 1.13, 1.5.0 on TF 1.15).
Their APIs differ: 1.1.2 keeps the graph in rep.predict_net, later releases on rep itself.
"""

import os

import _graphdef
import _protocol
from _protocol import StageFailure


def _graph_and_tensors(rep):
    net = getattr(rep, "predict_net", None)
    if net is not None:                      # onnx-tf 1.1.x
        return net.graph, net.tensor_dict
    return rep.graph, rep.tensor_dict        # onnx-tf >= 1.2


def convert_onnx_tf(request):
    import onnx
    import tensorflow as tf
    from onnx_tf.backend import prepare
    params = request["params"]
    model = onnx.load(request["inputs"]["model"])
    try:
        rep = prepare(model, strict=False)
    except Exception as exc:
        raise StageFailure("onnx-tf could not convert the model: %s: %s" % (type(exc).__name__, exc),
                           kind=type(exc).__name__)
    graph, tensors = _graph_and_tensors(rep)
    gd = graph.as_graph_def()
    warnings = []

    # Inputs: placeholders must be named as in the config (`input:0`), whatever onnx-tf chose.
    for name in params["inputs"]:
        tensor = tensors.get(name)
        if tensor is None:
            raise StageFailure("input %r is not in the converted graph" % name, kind="ConvertError")
        if tensor.op.name != name:
            _graphdef.rename_node(gd, tensor.op.name, name)
    # Outputs: an Identity carrying each config name, unless the op already has it.
    existing = set(n.name for n in gd.node)
    for name in params["outputs"]:
        tensor = tensors.get(name)
        if tensor is None:
            raise StageFailure("output %r is not in the converted graph" % name, kind="ConvertError")
        if tensor.op.name == name and tensor.name.endswith(":0"):
            continue
        if name in existing:
            tmp = name + "__torch2tf_src"
            _graphdef.rename_node(gd, name, tmp)
            src = tensor.name.replace(name + ":", tmp + ":") if tensor.op.name == name else tensor.name
        else:
            src = tensor.name
        _graphdef.add_identity(gd, name, src, tensor.dtype.as_datatype_enum)

    py_funcs = _graphdef.py_func_nodes(gd)
    if py_funcs:
        warnings.append("graph holds tf.py_func nodes %s: they run only inside the converting process "
                        "and cannot be served (KeyError: 'pyfunc_0' elsewhere)" % py_funcs[:10])
    _graphdef.save(gd, os.path.join(request["output_dir"], "model.pb"))
    ops = set(n.op for n in gd.node)
    if "VariableV2" in ops or "VarHandleOp" in ops:
        raise StageFailure("the converted graph still holds variables; it is not frozen", kind="ConvertError")
    summary = _graphdef.summary(gd)
    return {"outputs": {"graph": "model.pb"}, "warnings": warnings,
            "metrics": {"tensorflow": tf.__version__, "nodes": summary["nodes"],
                        "transposes": summary["transposes"], "py_func_nodes": py_funcs}}


TOOLS = {"onnx-tf": convert_onnx_tf}


def run(request):
    tool = request["params"]["tool"]
    if tool not in TOOLS:
        raise StageFailure("unknown converter %r" % tool, hint="one of %s" % sorted(TOOLS), kind="ConfigError")
    return TOOLS[tool](request)


if __name__ == "__main__":
    _protocol.main(run)
