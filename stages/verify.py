"""verify: run an artifact in its runtime on the reference inputs and compare with PyTorch.

runtime "tf_graph": a frozen model.pb via import_graph_def in this env's TensorFlow (1.4 ... 2.x);
runtime "onnxruntime": model.onnx in onnxruntime (the middle hop, in the torch17 env).
The stage succeeds whenever it could run the model; the core decides pass/fail from the metrics.
"""

import time

import numpy as np

import _graphdef
import _protocol
from _protocol import StageFailure


def compare(name, got, ref, atol, rtol):
    row = {"name": name, "shape": list(ref.shape), "got_shape": list(got.shape)}
    if got.shape != ref.shape:
        row.update(passed=False, max_abs_diff=None, max_rel_diff=None,
                   problem="shape %s, reference %s" % (list(got.shape), list(ref.shape)))
        return row
    got = got.astype(np.float64)
    ref = ref.astype(np.float64)
    diff = np.abs(got - ref)
    finite = bool(np.all(np.isfinite(got)))
    row.update(max_abs_diff=float(diff.max()) if diff.size else 0.0,
               max_rel_diff=float((diff / np.maximum(np.abs(ref), 1e-6)).max()) if diff.size else 0.0,
               passed=finite and bool(np.all(diff <= atol + rtol * np.abs(ref))))
    if not finite:
        row["problem"] = "non-finite values in the output"
    return row


def timed(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return float(np.median(samples)) * 1000.0 if samples else None


def run_tf_graph(path, feeds, outputs, threads, bench):
    import tensorflow as tf
    tf1 = _graphdef.tf_v1(tf)
    gd = _graphdef.load(tf, path)
    graph = tf1.Graph()
    with graph.as_default():
        try:
            tf1.import_graph_def(gd, name="")
        except Exception as exc:
            raise StageFailure("TensorFlow %s cannot load the graph: %s: %s" % (tf.__version__, type(exc).__name__, exc),
                               hint="the graph uses ops or attrs this TensorFlow lacks: take a route that "
                                    "converts in this runtime or downgrades the graph to it",
                               kind=type(exc).__name__)
    config = tf1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
    with tf1.Session(graph=graph, config=config) as sess:
        feed = dict((name + ":0", arr) for name, arr in feeds.items())
        fetch = [name + ":0" for name in outputs]
        got = sess.run(fetch, feed)
        latency = timed(lambda: sess.run(fetch, feed), *bench)
    return got, latency, {"tensorflow": tf.__version__}


def run_onnxruntime(path, feeds, outputs, threads, bench):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = threads
    sess = ort.InferenceSession(path, opts)
    got = sess.run(outputs, feeds)
    latency = timed(lambda: sess.run(outputs, feeds), *bench)
    return got, latency, {"onnxruntime": ort.__version__}


RUNTIMES = {"tf_graph": run_tf_graph, "onnxruntime": run_onnxruntime}


def run(request):
    params = request["params"]
    inputs = request["inputs"]
    feeds = dict((name, np.load(inputs["input." + name])) for name in params["inputs"])
    refs = [np.load(inputs["ref." + name]) for name in params["outputs"]]
    bench = (params.get("warmup", 3), params.get("runs", 10))
    runner = RUNTIMES[params["runtime"]]
    got, latency, versions = runner(inputs["artifact"], feeds, params["outputs"], params.get("threads", 1), bench)
    rows = [compare(name, np.asarray(g), r, params["atol"], params["rtol"])
            for name, g, r in zip(params["outputs"], got, refs)]
    passed = all(r["passed"] for r in rows)
    _protocol.log("%s: %s" % (params["runtime"], "passed" if passed else "MISMATCH"))
    metrics = {"passed": passed, "outputs": rows, "latency_ms": latency, "threads": params.get("threads", 1)}
    metrics.update(versions)
    return {"metrics": metrics}


if __name__ == "__main__":
    _protocol.main(run)
