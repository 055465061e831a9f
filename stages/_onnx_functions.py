"""ONNX ops that the standard defines as functions of other ops, written out as those ops for a
converter that has no handler of its own (Python 3.6+; onnx >= 1.13, whose schemas build a node's
context-dependent function body).

SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss (opset 12/13) have no handler in onnx-tf 1.10 or
onnx2tf, yet each is exactly its function body: LogSoftmax, Gather / GatherElements, Mul, ReduceSum ...,
ops every TF has. The body comes from the onnx schema itself, for this node's attributes and input
types, so the expansion is the standard's, not a re-derivation.
"""

# per converter: the function ops it lacks (a converter's own handler, where it has one, is kept)
LACKED = {
    "onnx-tf": ("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"),
    "onnx2tf": ("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"),
}


def _input_types(model, onnx):
    """name -> TypeProto of every value shape inference can type (graph inputs and initializers too)."""
    inferred = onnx.shape_inference.infer_shapes(model).graph
    types = dict((v.name, v.type) for v in list(inferred.input) + list(inferred.value_info) + list(inferred.output))
    for init in model.graph.initializer:
        if init.name not in types:
            types[init.name] = onnx.helper.make_tensor_type_proto(init.data_type, list(init.dims))
    return types


def _body(node, schema, types, onnx):
    """The FunctionProto of this node (its attributes and input types bound), or None."""
    if schema.has_function:
        return schema.function_body
    if not schema.has_context_dependent_function:
        return None
    if any(name and name not in types for name in node.input):
        return None
    raw = schema.get_context_dependent_function(node.SerializeToString(),
                                                [types[name].SerializeToString() for name in node.input if name])
    body = onnx.FunctionProto()
    body.ParseFromString(raw)
    return body


def _bound(body, node, prefix, onnx):
    """The body's nodes with the function's formal names bound to the node's, the rest prefixed, and
    attribute references resolved from the node's attributes."""
    names = dict(zip(body.input, node.input))
    names.update(zip(body.output, node.output))
    given = dict((a.name, a) for a in node.attribute)
    out = []
    for inner in body.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        copy.name = prefix + (inner.name or inner.output[0])
        del copy.input[:]
        copy.input.extend([names.get(n, prefix + n) if n else "" for n in inner.input])
        del copy.output[:]
        copy.output.extend([names.get(n, prefix + n) for n in inner.output])
        kept = []
        for attr in copy.attribute:
            if attr.ref_attr_name:
                if attr.ref_attr_name not in given:
                    continue                       # not set on the node: the op's default applies
                resolved = onnx.AttributeProto()
                resolved.CopyFrom(given[attr.ref_attr_name])
                resolved.name = attr.name
                kept.append(resolved)
            else:
                kept.append(attr)
        del copy.attribute[:]
        copy.attribute.extend(kept)
        out.append(copy)
    return out


MAX_DEPTH = 4      # a body may hold another lacked op (SoftmaxCrossEntropyLoss's holds NegativeLogLikelihoodLoss)


def inline_lacked(model, converter, onnx):
    """Write out, in place, every node of an op the converter lacks as its function body, and the lacked
    ops inside those bodies in turn; how many nodes were written out."""
    lacked = LACKED.get(converter, ())
    graph = model.graph
    count = 0
    for depth in range(MAX_DEPTH):
        if not any(n.op_type in lacked and n.domain in ("", "ai.onnx") for n in graph.node):
            break
        opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        types = _input_types(model, onnx)
        nodes, written = [], 0
        for i, node in enumerate(graph.node):
            body = None
            if node.op_type in lacked and node.domain in ("", "ai.onnx"):
                body = _body(node, onnx.defs.get_schema(node.op_type, opset, ""), types, onnx)
            if body is None:
                nodes.append(node)
                continue
            prefix = "%s__fn%d/" % (node.op_type, i) if depth == 0 else "%s__fn%d_%d/" % (node.op_type, depth, i)
            nodes.extend(_bound(body, node, prefix, onnx))
            written += 1
        del graph.node[:]
        graph.node.extend(nodes)
        count += written
        if not written:
            break              # what is left has no body for these inputs: the converter names it
    return count
