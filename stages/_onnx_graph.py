"""Reading and rebuilding ONNX graphs, for the rewrites in _onnx_rewrites (Python 3.6; onnx + numpy)."""


def attrs(helper, node):
    return dict((a.name, helper.get_attribute_value(a)) for a in node.attribute)


def initializers(graph, numpy_helper):
    return dict((t.name, numpy_helper.to_array(t)) for t in graph.initializer)


def constants(graph, numpy_helper, helper):
    """name -> numpy value of every initializer and Constant node."""
    known = initializers(graph, numpy_helper)
    for node in graph.node:
        if node.op_type == "Constant":
            known[node.output[0]] = numpy_helper.to_array(attrs(helper, node)["value"])
    return known


def unique_name(graph, base):
    taken = set(n for node in graph.node for n in node.output) | set(t.name for t in graph.initializer)
    name, i = base, 0
    while name in taken:
        i += 1
        name = "%s_%d" % (base, i)
    return name


def replace_nodes(graph, nodes, count):
    """The graph's nodes become `nodes` when a rewrite changed `count` of them; returns count."""
    if count:
        del graph.node[:]
        graph.node.extend(nodes)
    return count


def live_nodes(graph, nodes):
    """The nodes whose outputs something still reads (folding leaves the old constants unread)."""
    wanted = set(o.name for o in graph.output)
    kept = []
    for node in reversed(nodes):
        if any(o in wanted for o in node.output):
            kept.append(node)
            wanted.update(node.input)
    return list(reversed(kept))


def shapes_of(model):
    """name -> list of dims (int, or None when symbolic) from onnx's shape inference."""
    from onnx import shape_inference
    inferred = shape_inference.infer_shapes(model).graph
    shapes = {}
    for value in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        t = value.type.tensor_type
        if t.HasField("shape"):
            shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    for init in inferred.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def np_dtype(code):
    """numpy dtype of an ONNX TensorProto type code (onnx.mapping in the stage envs' onnx 1.8; newer
    onnx, as on the host for tests, has only helper.tensor_dtype_to_np_dtype)."""
    from onnx import helper
    if hasattr(helper, "tensor_dtype_to_np_dtype"):
        return helper.tensor_dtype_to_np_dtype(code)
    from onnx import mapping
    return mapping.TENSOR_TYPE_TO_NP_TYPE[code]


def rename_tensors(model, names):
    """Every use of each original tensor name -> its new name (graph inputs, outputs, nodes, value_info,
    initializers); in place, returns the model."""
    graph = model.graph
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        value.name = names.get(value.name, value.name)
    for init in graph.initializer:
        init.name = names.get(init.name, init.name)
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    return model
