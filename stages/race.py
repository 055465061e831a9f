"""race: several frozen graphs of one model timed against each other in one process of the target
runtime, interleaved round by round (1 thread, median), so that a busy machine slows them alike.

--best runs its routes in parallel, each timing its own graph while the others convert: on a shared
machine those latencies differ by 2x for the same graph. The race decides. Python 3.6+.
"""

import time

import numpy as np

import _graphdef
import _protocol

CONTRACT = {
    "inputs": {"graph.*": True, "input.*": True},
    "params": {"inputs": True, "outputs": True, "rounds": True},
    "outputs": [],
}
WARMUP = 3


def _session(tf1, path):
    import tensorflow as tf
    graph = tf1.Graph()
    with graph.as_default():
        tf1.import_graph_def(_graphdef.load(tf, path), name="")
    config = tf1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    return tf1.Session(graph=graph, config=config)


def run(request):
    import tensorflow as tf
    tf1 = _graphdef.tf_v1(tf)
    params, inputs = request["params"], request["inputs"]
    feed = dict((name + ":0", np.load(inputs["input." + name])) for name in params["inputs"])
    fetch = [name + ":0" for name in params["outputs"]]
    graphs = sorted(k[len("graph."):] for k in inputs if k.startswith("graph."))
    sessions = [_session(tf1, inputs["graph." + g]) for g in graphs]
    for sess in sessions:
        for _ in range(WARMUP):
            sess.run(fetch, feed)
    samples = [[] for _ in graphs]
    for _ in range(params["rounds"]):
        for i, sess in enumerate(sessions):
            t0 = time.perf_counter()
            sess.run(fetch, feed)
            samples[i].append(time.perf_counter() - t0)
    latency = dict((g, float(np.median(s)) * 1000.0) for g, s in zip(graphs, samples))
    _protocol.log("raced %s" % ", ".join("%s %.1f ms" % kv for kv in sorted(latency.items(), key=lambda kv: kv[1])))
    return {"metrics": {"latency_ms": latency, "rounds": params["rounds"], "threads": 1}}


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
