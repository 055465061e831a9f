"""onnx_cut: the sub-model of model.onnx that ends at one tensor, and onnxruntime's value of that tensor
on the run's inputs. `invoke pipeline --locate` converts such sub-models through the failed route to
find the first node whose output the target runtime computes differently.

The sub-model keeps what the converter was handed: the same graph inputs, IR version, opsets, and
initializers listed as graph inputs where the file listed them. The cut tensor leaves through an
Identity named by the host (a safe name: torch names tensors '191' or 'onnx::Conv_12').
Runs in the env whose onnxruntime read the file for the run's own check; Python 3.6-compatible.
"""

import os

import _protocol
import numpy as np
from _protocol import StageFailure

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {
    "inputs": {"model": True, "input.*": True},
    "params": {"tensor": True, "output": True},
    "outputs": ["model", "ref.*"],
}


def needed_nodes(graph, tensor):
    """The nodes that compute `tensor`, in the graph's (topological) order."""
    producer = {}
    for i, node in enumerate(graph.node):
        for out in node.output:
            producer[out] = i
    if tensor not in producer:
        raise StageFailure("no node computes %r" % tensor, kind="CannotCut")
    keep, todo = set(), [producer[tensor]]
    while todo:
        i = todo.pop()
        if i in keep:
            continue
        keep.add(i)
        todo.extend(producer[name] for name in graph.node[i].input if name in producer)
    return [graph.node[i] for i in sorted(keep)]


def value_type(model, tensor):
    from onnx import shape_inference
    inferred = shape_inference.infer_shapes(model)
    for value in list(inferred.graph.value_info) + list(inferred.graph.output):
        if value.name == tensor:
            return value
    raise StageFailure("the type of %r cannot be inferred, so the graph cannot end there" % tensor, kind="CannotCut")


def cut(model, tensor, output):
    from onnx import helper
    graph = model.graph
    nodes = needed_nodes(graph, tensor)
    used = set(name for node in nodes for name in node.input)
    typed = value_type(model, tensor)
    out = helper.make_tensor_value_info(output, typed.type.tensor_type.elem_type,
                                        [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                                         for d in typed.type.tensor_type.shape.dim])
    inits = [i for i in graph.initializer if i.name in used]
    init_names = set(i.name for i in graph.initializer)
    inputs = [v for v in graph.input if v.name not in init_names or v.name in used]
    sub = helper.make_graph(nodes + [helper.make_node("Identity", [tensor], [output], name="torch2tf_cut")],
                            graph.name + "_cut", inputs, [out], inits)
    result = helper.make_model(sub, opset_imports=list(model.opset_import), producer_name="torch2tf-locate")
    result.ir_version = model.ir_version
    return result


def run(request):
    import onnx
    import onnxruntime as ort
    params = request["params"]
    inputs = request["inputs"]
    model = onnx.load(inputs["model"])
    sub = cut(model, params["tensor"], params["output"])
    path = os.path.join(request["output_dir"], "model.onnx")
    onnx.save(sub, path)
    init_names = set(i.name for i in sub.graph.initializer)
    feeds = {}
    for value in sub.graph.input:
        if value.name not in init_names:
            feeds[value.name] = np.load(inputs["input." + value.name])
    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        value = ort.InferenceSession(path, options).run([params["output"]], feeds)[0]
    except Exception as exc:  # noqa: BLE001 - onnxruntime refusing a sub-model: the host moves on
        raise StageFailure("onnxruntime cannot run the graph cut at %r: %s"
                           % (params["tensor"], str(exc).strip().splitlines()[0]), kind="CannotCut")
    np.save(os.path.join(request["output_dir"], "ref.%s.npy" % params["output"]), np.asarray(value))
    _protocol.log("cut at %s: %d of %d nodes, output shape %s"
                  % (params["tensor"], len(sub.graph.node) - 1, len(model.graph.node), list(np.shape(value))))
    return {"outputs": {"model": "model.onnx", "ref." + params["output"]: "ref.%s.npy" % params["output"]},
            "metrics": {"nodes": len(sub.graph.node) - 1, "inputs": sorted(feeds)}}


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
