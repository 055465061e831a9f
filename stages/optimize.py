"""optimize: a frozen GraphDef -> the same computation with less overhead, in the target runtime's op set.

Runs in the target env after convert / downgrade, before verify. Rewrites, each exact and each listed
in the log: outputs nobody named pruned; constant subgraphs folded (by the runtime itself); pass-through
nodes dropped; Transposes moved down through layout-free ops and cancelled where they meet
(_layout_rules), and a Transpose that moves only size-1 dims made a Reshape; a GroupNorm's groups
taken on the NHWC tensor (_layout_group_norm); conv biases as BiasAdd;
a Pad folded into the Conv / Pool after it where the runtime's kernel takes that padding.
The example inputs run through both graphs: a result that differs is not published (the graph as
converted is, with a warning). Python 3.6+, TensorFlow of the env.
"""

import os
import time
import traceback

import numpy as np

import _graph_rewrites
import _graphdef
import _layout_group_norm
import _layout_rules
import _protocol
from _tf_graph import Graph

CONTRACT = {
    "inputs": {"graph": True, "input.*": False},
    "params": {"inputs": True, "outputs": True, "without": False},
    "outputs": ["graph"],
}

# the rules, by the name the log, the metrics and `without` use
NODE_RULES = (("forward", _graph_rewrites.forward), ("merge_depthwise", _graph_rewrites.merge_depthwise),
              ("clip_as_relu6", _graph_rewrites.clip_as_relu6),
              ("cancel_transposes", _layout_rules.cancel),
              ("push_transposes", _layout_rules.push_down), ("pad_after_transpose", _layout_rules.pad_after))
SHAPE_RULES = (("transpose_as_reshape", lambda g, n, s, x: _layout_rules.as_reshape(g, n, s)),
               ("transpose_through_reshape", lambda g, n, s, x: _layout_rules.through_reshape(g, n, s)),
               ("group_norm_channels_last", lambda g, n, s, x: _layout_group_norm.channels_last(g, n, s)),
               ("bias_add", lambda g, n, s, x: _graph_rewrites.bias_add(g, n)),
               ("fold_pad", _graph_rewrites.fold_pad))
RULE_NAMES = ("prune", "fold_constants") + tuple(n for n, _ in NODE_RULES + SHAPE_RULES)
MAX_SWEEPS = 200
SHAPE_ROUNDS = 3        # a Transpose moved past a Reshape goes on down in the next round
# how close the optimized graph's outputs must be to the converted graph's on the example inputs: the
# rewrites are exact, but a folded pad or a BiasAdd may sum in another order
SELF_CHECK_RTOL = 1e-4


def static_shapes(tf_v1, gd):
    """{tensor name: [size or None]} as the runtime's shape inference sees them."""
    graph = tf_v1.Graph()
    with graph.as_default():
        tf_v1.import_graph_def(gd, name="")
    shapes = {}
    for op in graph.get_operations():
        for t in op.outputs:
            if t.get_shape().ndims is not None:
                shapes[t.name] = t.get_shape().as_list()
    return shapes


def explicit_padding_ops(tf):
    """The ops of this runtime that take explicit paddings (Conv2D from TF 1.14)."""
    from tensorflow.python.framework import op_def_registry
    registered = op_def_registry.get_registered_ops() if hasattr(op_def_registry, "get_registered_ops") else None
    found = []
    for op in ("Conv2D", "DepthwiseConv2dNative", "MaxPool"):
        op_def = registered.get(op) if registered is not None else op_def_registry.get(op)
        if op_def is not None and any(a.name == "explicit_paddings" for a in op_def.attr):
            found.append(op)
    return found


class Rewriter(object):
    def __init__(self, tf, g, without):
        self.tf_v1, self.g, self.without = _graphdef.tf_v1(tf), g, set(without)
        self.counts, self.lines = {}, []
        self.explicit = explicit_padding_ops(tf)

    def note(self, rule, lines):
        for line in lines:
            if line:
                self.counts[rule] = self.counts.get(rule, 0) + 1
                self.lines.append("%s: %s" % (rule, line))

    def sweep(self, rules, shapes=None):
        """One pass of node rules over the graph; True when something changed."""
        changed = False
        for node in list(self.g.gd.node):
            if node.name not in self.g.nodes or self.g.nodes[node.name] is not node or not self.g.live(node.name):
                continue        # replaced, or dead (nothing reads it): pruned later, never rewritten
            for name, rule in rules:
                if name in self.without:
                    continue
                line = rule(self.g, node) if shapes is None else rule(self.g, node, shapes, self.explicit)
                if line:
                    self.note(name, [line])
                    changed = True
                    break
        return changed

    def run(self, outputs):
        g = self.g
        for node in g.gd.node:      # recorded shapes go stale as Transposes move: inferred afresh;
            for hint in ("_output_shapes", "_class"):   # colocation hints may name a node pruned here
                if hint in node.attr:
                    del node.attr[hint]
        if "prune" not in self.without:
            pruned = g.prune(outputs)
            self.note("prune", ["%d nodes no named output needs" % pruned] if pruned else [])
        if "fold_constants" not in self.without:
            self.note("fold_constants", _graph_rewrites.fold_constants(g, self.tf_v1))
            g.prune(outputs)
        for _ in range(SHAPE_ROUNDS):
            for _ in range(MAX_SWEEPS):
                if not self.sweep(NODE_RULES):
                    break
                g.prune(outputs)    # what a rewrite left unread goes, so no rule counts it as a reader
            g.sort()    # the importer infers shapes in node order: new nodes sit at the end until sorted
            through = self._moved_on()
            self.sweep(SHAPE_RULES, static_shapes(self.tf_v1, g.gd))
            g.prune(outputs)
            g.sort()
            if self._moved_on() == through:
                break           # nothing new for the node rules to carry on with

    def _moved_on(self):
        """How many Transposes the shape rules have set after a Reshape (for push_transposes to carry on)."""
        return sum(self.counts.get(rule, 0) for rule in ("transpose_through_reshape", "group_norm_channels_last"))


def _run_graph(tf_v1, gd, feeds, outputs):
    graph = tf_v1.Graph()
    with graph.as_default():
        tf_v1.import_graph_def(gd, name="")
    config = tf_v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    with tf_v1.Session(graph=graph, config=config) as sess:
        return sess.run([o + ":0" for o in outputs], dict((k + ":0", v) for k, v in feeds.items()))


def self_check(tf_v1, before, after, feeds, outputs):
    """The largest difference between the two graphs' outputs, relative to the outputs' scale."""
    worst = 0.0
    expected = _run_graph(tf_v1, before, feeds, outputs)
    try:
        got = _run_graph(tf_v1, after, feeds, outputs)
    except Exception as exc:  # noqa: BLE001 - a rewrite the runtime's kernels refuse: the graph as converted
        _protocol.log("the optimized graph does not run: %s: %s" % (type(exc).__name__, str(exc).splitlines()[0]))
        return float("inf")
    for a, b in zip(expected, got):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            return float("inf")
        scale = max(float(np.max(np.abs(a))) if a.size else 0.0, 1e-6)
        worst = max(worst, float(np.max(np.abs(a - b))) / scale if a.size else 0.0)
    return worst


def _stats(gd):
    s = _graphdef.summary(gd)
    return {"nodes": s["nodes"], "transposes": s["transposes"],
            "pads": sum(s["ops"].get(op, 0) for op in ("Pad", "PadV2", "MirrorPad"))}


def run(request):
    import tensorflow as tf
    tf_v1 = _graphdef.tf_v1(tf)
    params, inputs = request["params"], request["inputs"]
    started = time.time()
    original = _graphdef.load(tf, inputs["graph"])
    gd = _graphdef.load(tf, inputs["graph"])
    before = _stats(original)
    rewriter = Rewriter(tf, Graph(tf, gd, list(params["inputs"]) + list(params["outputs"])),
                        params.get("without") or ())
    warnings = []
    try:
        rewriter.run(params["outputs"])
    except Exception as exc:  # noqa: BLE001 - optimize only ever improves a graph: never fails a route
        _protocol.log(traceback.format_exc())
        warnings.append("optimize could not rewrite this graph (%s: %s): it is published as converted; please "
                        "report it with logs/optimize.log" % (type(exc).__name__, str(exc).splitlines()[0][:200]))
        gd, rewriter.counts = _graphdef.load(tf, inputs["graph"]), {}
    for line in rewriter.lines:
        _protocol.log(line)
    metrics = {"before": before, "after": _stats(gd), "rewrites": rewriter.counts}
    feeds = dict((k[len("input."):], np.load(v)) for k, v in inputs.items() if k.startswith("input."))
    if feeds and rewriter.counts:
        diff = self_check(tf_v1, original, gd, feeds, params["outputs"])
        metrics["self_check_rel_diff"] = diff
        if not diff <= SELF_CHECK_RTOL:
            warnings.append("optimize changed the outputs on the example inputs (max rel diff %.3g): the graph "
                            "is published as converted, unoptimized; please report it with logs/optimize.log" % diff)
            gd, metrics["after"], metrics["rewrites"] = original, before, {}
    metrics["seconds"] = round(time.time() - started, 3)
    _protocol.log("transposes %d -> %d, pads %d -> %d, nodes %d -> %d in %.1fs" % (
        before["transposes"], metrics["after"]["transposes"], before["pads"], metrics["after"]["pads"],
        before["nodes"], metrics["after"]["nodes"], metrics["seconds"]))
    _graphdef.save(gd, os.path.join(request["output_dir"], "model.pb"))
    return {"outputs": {"graph": "model.pb"}, "metrics": metrics, "warnings": warnings}


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
