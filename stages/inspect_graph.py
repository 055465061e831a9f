"""inspect: inputs, outputs, shapes, op histogram and unservable py_func nodes of a graph:
a frozen .pb, an .onnx, a SavedModel directory or a .tflite.

(Not named inspect.py: a script's own directory comes first on sys.path, and that name
would shadow the standard library's inspect module that numpy and TensorFlow import.)
"""

import collections

import _graphdef
import _protocol
import _tflite

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {"inputs": {"artifact": True}, "params": {}, "outputs": []}


def inspect_onnx(path):
    import onnx
    model = onnx.load(path)
    g = model.graph
    init = set(i.name for i in g.initializer)

    def desc(v):
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in v.type.tensor_type.shape.dim]
        return {"name": v.name, "dtype": int(v.type.tensor_type.elem_type), "shape": dims}

    ops = collections.Counter(n.op_type for n in g.node)
    return {"format": "onnx", "ir_version": int(model.ir_version),
            "opsets": dict((o.domain or "ai.onnx", int(o.version)) for o in model.opset_import),
            "producer": "%s %s" % (model.producer_name, model.producer_version),
            "inputs": [desc(v) for v in g.input if v.name not in init],
            "outputs": [desc(v) for v in g.output], "ops": dict(sorted(ops.items())),
            "nodes": len(g.node), "transposes": ops.get("Transpose", 0), "py_func_nodes": []}


def inspect_saved_model(path):
    """The serving signature and graph of a SavedModel, read from its proto (nothing is run)."""
    import os

    from tensorflow.core.protobuf import saved_model_pb2
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as fh:
        sm.ParseFromString(fh.read())
    meta = sm.meta_graphs[0]
    info = _graphdef.summary(meta.graph_def)
    sig = meta.signature_def.get("serving_default")

    def desc(key, t):
        dims = None if t.tensor_shape.unknown_rank else [d.size if d.size >= 0 else None for d in t.tensor_shape.dim]
        return {"name": key, "tensor": t.name, "dtype": int(t.dtype), "shape": dims}
    info.update(format="saved_model", tags=list(meta.meta_info_def.tags),
                signatures=sorted(meta.signature_def),
                inputs=[desc(k, v) for k, v in sorted(sig.inputs.items())] if sig else [],
                outputs=[desc(k, v) for k, v in sorted(sig.outputs.items())] if sig else [])
    return info


def inspect_tflite(path):
    interp = _tflite.interpreter_class()(model_path=path)
    ops = collections.Counter()
    get_ops = getattr(interp, "_get_ops_details", None)
    if get_ops is not None:
        ops.update(op["op_name"] for op in get_ops())

    def desc(d):
        return {"name": d["name"], "dtype": str(d["dtype"].__name__), "shape": [int(x) for x in d["shape"]]}
    return {"format": "tflite", "inputs": [desc(d) for d in interp.get_input_details()],
            "outputs": [desc(d) for d in interp.get_output_details()], "ops": dict(sorted(ops.items())),
            "nodes": sum(ops.values()), "transposes": ops.get("TRANSPOSE", 0), "py_func_nodes": []}


def run(request):
    import os
    path = request["inputs"]["artifact"]
    if path.endswith(".onnx"):
        info = inspect_onnx(path)
    elif path.endswith(".tflite"):
        info = inspect_tflite(path)
    elif os.path.isdir(path):
        info = inspect_saved_model(path)
    else:
        import tensorflow as tf
        info = _graphdef.summary(_graphdef.load(tf, path))
    if not info.get("nodes"):
        # an empty or foreign file parses as an empty proto: "0 nodes" would read as a valid model
        raise _protocol.StageFailure("%s holds no graph (0 nodes): not a %s model" % (path, info["format"]),
                                     hint="pass the model file a pipeline run published", kind="EmptyGraph")
    warnings = []
    if info["py_func_nodes"]:
        warnings.append("unservable: tf.py_func nodes %s run only in the process that built the graph"
                        % info["py_func_nodes"][:10])
    return {"metrics": info, "warnings": warnings}


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
