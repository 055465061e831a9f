"""inspect: inputs, outputs, shapes, op histogram and unservable py_func nodes of a .pb or .onnx.

(Not named inspect.py: a script's own directory comes first on sys.path, and that name
would shadow the standard library's inspect module that numpy and TensorFlow import.)
"""

import collections

import _graphdef
import _protocol


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


def run(request):
    path = request["inputs"]["artifact"]
    if path.endswith(".onnx"):
        info = inspect_onnx(path)
    else:
        import tensorflow as tf
        info = _graphdef.summary(_graphdef.load(tf, path))
    warnings = []
    if info["py_func_nodes"]:
        warnings.append("unservable: tf.py_func nodes %s run only in the process that built the graph"
                        % info["py_func_nodes"][:10])
    return {"metrics": info, "warnings": warnings}


if __name__ == "__main__":
    _protocol.main(run)
