"""Where a TF 1.x graph's time goes: a full trace of a few runs in the target runtime (one thread), the
time summed per op type, and the share spent in layout overhead. Python 3.6+."""

import collections

# what is overhead whatever the model: moving data without computing (the optimize step removes or folds
# these where it can; what is left is counted, so a remaining strided pad shows too)
LAYOUT_OPS = ("Transpose", "Pad", "PadV2", "MirrorPad", "Reshape", "ExpandDims", "Squeeze", "Identity")
PRODUCERS_OF_BIAS = ("Conv2D", "DepthwiseConv2dNative", "Conv3D", "MatMul")
WINDOWED = ("Conv2D", "DepthwiseConv2dNative", "Conv3D", "MaxPool", "AvgPool", "MaxPool3D", "AvgPool3D")
TRACED_RUNS = 3


def is_models_padding(op):
    """A zero Pad feeding only VALID convs / pools: the model's own padding where the target's kernel cannot
    take it (PyTorch pads a stride-2 conv on both sides, TF's SAME only after; TF < 1.14 has no EXPLICIT).
    The optimize step folds every pad a kernel can take, and a graph written natively pads here too
    (bench/native_tf.py), so it is the model's work, not layout overhead: reported apart."""
    if op.type != "Pad":
        return False
    consumers = op.outputs[0].consumers()
    return bool(consumers) and all(c.type in WINDOWED and c.get_attr("padding") in (b"VALID", "VALID")
                                   for c in consumers)


def overhead_kind(op):
    """'layout' for data movement, 'bias' for a per-channel Add after a conv / matmul (a BiasAdd would do),
    'padding' for the model's own padding a kernel cannot take, else None."""
    if is_models_padding(op):
        return "padding"
    if op.type in LAYOUT_OPS or (op.type == "Split" and len(op.outputs) == 1):
        return "layout"
    if op.type in ("Add", "AddV2") and len(op.inputs) == 2:
        kinds = sorted(t.op.type for t in op.inputs)
        if kinds[0] == "Const" and kinds[1] in PRODUCERS_OF_BIAS:
            return "bias"
    return None


def profile(tf1, sess, fetch, feed):
    """{total_ms, per_op: {op type: {ms, nodes}}, layout_ms, layout_share, overhead: {op type: ms},
    padding_ms}."""
    options = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE)
    micros = collections.Counter()
    for _ in range(TRACED_RUNS):
        meta = tf1.RunMetadata()
        sess.run(fetch, feed, options=options, run_metadata=meta)
        for dev in meta.step_stats.dev_stats:
            for stat in dev.node_stats:
                micros[stat.node_name.split(":")[0]] += stat.all_end_rel_micros
    graph = sess.graph
    per_op, overhead, nodes = collections.Counter(), collections.Counter(), collections.Counter()
    padding = 0
    for name, us in micros.items():
        try:
            op = graph.get_operation_by_name(name)
        except (KeyError, ValueError):
            continue                     # the executor's own entries (_SOURCE, _Recv...)
        per_op[op.type] += us
        nodes[op.type] += 1
        kind = overhead_kind(op)
        if kind == "padding":
            padding += us
        elif kind:
            overhead[op.type if kind == "layout" else op.type + " (bias)"] += us
    total = sum(per_op.values())
    scale = 1.0 / (1000.0 * TRACED_RUNS)
    layout = sum(overhead.values())
    return {"total_ms": round(total * scale, 3),
            "per_op": dict((k, {"ms": round(v * scale, 3), "nodes": nodes[k]}) for k, v in per_op.most_common()),
            "overhead": dict((k, round(v * scale, 3)) for k, v in overhead.most_common()),
            "layout_ms": round(layout * scale, 3), "layout_share": round(layout / total, 4) if total else None,
            "padding_ms": round(padding * scale, 3)}
