"""verify: run an artifact in its runtime on the reference inputs and compare with PyTorch.

runtime "tf_graph": a frozen model.pb via import_graph_def in this env's TensorFlow (1.4 ... 2.x);
runtime "onnxruntime": model.onnx in onnxruntime (the middle hop, in the torch17 env).
The stage succeeds whenever it could run the model; the core decides pass/fail from the metrics.
"""

import time

import _compare
import _graphdef
import _ort
import _protocol
import _tflite
import _trace
import numpy as np
from _protocol import StageFailure

THREADS, WARMUP = 1, 3        # latency: median of `runs` timed runs after WARMUP, one thread

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {
    "inputs": {"artifact": True, "input.*": False, "ref.*": False},
    "params": {"runtime": True, "inputs": True, "outputs": True, "atol": True, "rtol": True, "runs": True,
               "layout": False},
    "outputs": [],
}


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
                               kind=type(exc).__name__, wrapped=True)
    config = tf1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
    with tf1.Session(graph=graph, config=config) as sess:
        feed = dict((name + ":0", arr) for name, arr in feeds.items())
        fetch = [name + ":0" for name in outputs]
        got = sess.run(fetch, feed)
        latency = timed(lambda: sess.run(fetch, feed), *bench)
        # where the time goes, traced in this runtime: every TF graph verified gets it (report, matrix)
        traced = _trace.profile(tf1, sess, fetch, feed) if hasattr(tf1, "RunMetadata") else None
    return got, latency, {"tensorflow": tf.__version__, "profile": traced}


def run_onnxruntime(path, feeds, outputs, threads, bench):
    import onnxruntime as ort
    # a file of the oldest op versions runs raised to an opset onnxruntime has kernels for, as its
    # references were made (stages/_ort.py)
    sess, _ = _ort.reference_session(path, threads)
    got = sess.run(outputs, feeds)
    latency = timed(lambda: sess.run(outputs, feeds), *bench)
    return got, latency, {"onnxruntime": ort.__version__}


def run_saved_model(path, feeds, outputs, threads, bench):
    """Load with the TF1 loader and run the serving_default signature, as TF Serving does."""
    import tensorflow as tf
    tf1 = _graphdef.tf_v1(tf)
    config = tf1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
    graph = tf1.Graph()
    with tf1.Session(graph=graph, config=config) as sess:
        meta = tf1.saved_model.loader.load(sess, [tf1.saved_model.tag_constants.SERVING], path)
        if "serving_default" not in meta.signature_def:
            raise StageFailure("the SavedModel has no serving_default signature", kind="PackageError")
        sig = meta.signature_def["serving_default"]
        missing = [n for n in list(feeds) + list(outputs) if n not in sig.inputs and n not in sig.outputs]
        if missing:
            raise StageFailure("signature keys %s are missing from serving_default" % missing, kind="PackageError")
        feed = dict((sig.inputs[n].name, a) for n, a in feeds.items())
        fetch = [sig.outputs[n].name for n in outputs]
        got = sess.run(fetch, feed)
        latency = timed(lambda: sess.run(fetch, feed), *bench)
        # where the time goes, traced in this runtime: every TF graph verified gets it (report, matrix)
        traced = _trace.profile(tf1, sess, fetch, feed) if hasattr(tf1, "RunMetadata") else None
    return got, latency, {"tensorflow": tf.__version__, "profile": traced}


def run_tflite(path, feeds, outputs, threads, bench):
    Interpreter = _tflite.interpreter_class()
    interp = Interpreter(model_path=path, num_threads=threads)
    ins, outs = interp.get_input_details(), interp.get_output_details()

    def index(details, name, i):
        """A tensor by the config's name (as the converters spell it), else by position."""
        for d in details:
            if d["name"] in (name, name + ":0", "serving_default_" + name + ":0"):
                return d["index"]
        return details[i]["index"]

    # a dynamic batch is -1 in shape_signature and 1 in shape: size the inputs to what is fed
    for i, (name, arr) in enumerate(feeds.items()):
        d = [x for x in ins if x["index"] == index(ins, name, i)][0]
        if list(d["shape"]) != list(arr.shape):
            fixed = [a for a, b in zip(d.get("shape_signature", d["shape"]), arr.shape) if a != -1 and a != b]
            if fixed or len(d["shape"]) != arr.ndim:
                raise StageFailure("the .tflite takes %s of shape %s, the input is %s"
                                   % (name, list(d.get("shape_signature", d["shape"])), list(arr.shape)),
                                   hint="only dims the converter left dynamic (-1) can change", kind="TfliteShape")
            interp.resize_tensor_input(d["index"], list(arr.shape))
    interp.allocate_tensors()

    def once():
        for i, (name, arr) in enumerate(feeds.items()):
            interp.set_tensor(index(ins, name, i), arr)
        interp.invoke()
        return [interp.get_tensor(index(outs, name, i)) for i, name in enumerate(outputs)]
    got = once()
    latency = timed(once, *bench)
    return got, latency, {"tflite": "ai_edge_litert" if "ai_edge_litert" in Interpreter.__module__ else "tf.lite"}


RUNTIMES = {"tf_graph": run_tf_graph, "onnxruntime": run_onnxruntime, "saved_model": run_saved_model,
            "tflite": run_tflite}


def run(request):
    params = request["params"]
    inputs = request["inputs"]
    feeds = dict((name, np.load(inputs["input." + name])) for name in params["inputs"])
    if params.get("layout") == "nhwc":       # the route's graph takes NHWC images: feed it so
        feeds = dict((k, v.transpose(0, 2, 3, 1) if v.ndim == 4 else v) for k, v in feeds.items())
    refs = [np.load(inputs["ref." + name]) for name in params["outputs"]]
    bench = (WARMUP, params["runs"])
    runner = RUNTIMES[params["runtime"]]
    got, latency, versions = runner(inputs["artifact"], feeds, params["outputs"], THREADS, bench)
    if params.get("layout") == "nhwc":
        got = [g.transpose(0, 3, 1, 2) if np.ndim(g) == 4 else g for g in got]
    got = [np.asarray(g) for g in got]
    channels_last = []
    if params["runtime"] == "tflite":
        # onnx2tf's .tflite keeps NCHW inputs but gives rank-4/5 outputs channels-last
        for i, (g, r) in enumerate(zip(got, refs)):
            if g.ndim in (4, 5) and g.shape != r.shape and g.shape == np.moveaxis(r, 1, -1).shape:
                got[i] = np.moveaxis(g, -1, 1)
                channels_last.append(params["outputs"][i])
    rows = [_compare.compare(name, g, r, params["atol"], params["rtol"])
            for name, g, r in zip(params["outputs"], got, refs)]
    for row in rows:
        if row["name"] in channels_last:
            row["layout"] = "channels_last"
    passed = all(r["passed"] for r in rows)
    _protocol.log("%s: %s" % (params["runtime"], "passed" if passed else "MISMATCH"))
    metrics = {"passed": passed, "weak": any(r.get("weak") for r in rows), "outputs": rows,
               "latency_ms": latency, "threads": THREADS}
    metrics.update(versions)
    return {"metrics": metrics}


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
