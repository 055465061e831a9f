"""Runs inside a TF 1.x env (Python 3.6, numpy + tensorflow only): builds resnet18 or mobilenet_v2 as a
person would write it natively in NHWC (BN folded into the convs, explicit pads where PyTorch's
symmetric padding differs from TF's SAME), with the weights of the exported model, checks it against
PyTorch's reference output, then times it interleaved with converted frozen graphs.

    python native_tf.py request.json      (written by native_baseline.py; prints one JSON line)
"""

import json
import sys
import time

import numpy as np
import tensorflow as tf

MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]        # torchvision's inverted_residual_setting: t, c, n, s


class Convs(object):
    """The exported model's convolutions in forward order (weights HWIO, depthwise HWC1)."""

    def __init__(self, npz):
        self.npz, self.n = npz, 0

    def __call__(self, x, relu=None):
        w, b = self.npz["conv%d_w" % self.n], self.npz["conv%d_b" % self.n]
        stride, pad, group = [int(v) for v in self.npz["conv%d_meta" % self.n]]
        self.n += 1
        k = w.shape[0]
        if pad and not (stride == 1 and 2 * pad == k - 1):     # TF's SAME would pad otherwise: pad explicitly
            x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
            padding = "VALID"
        else:
            padding = "SAME" if pad else "VALID"
        strides = [1, stride, stride, 1]
        if group > 1:
            y = tf.nn.depthwise_conv2d(x, tf.constant(w), strides, padding)
        else:
            y = tf.nn.conv2d(x, tf.constant(w), strides, padding)
        y = tf.nn.bias_add(y, tf.constant(b))
        return relu(y) if relu else y


def resnet18(x, convs):
    x = convs(x, tf.nn.relu)
    x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])      # after ReLU, zero padding is max-pool exact
    x = tf.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "VALID")
    for stage in range(4):
        for block in range(2):
            down = stage > 0 and block == 0
            y = convs(x, tf.nn.relu)
            y = convs(y)
            x = tf.nn.relu(y + (convs(x) if down else x))
    return tf.reduce_mean(x, [1, 2])


def mobilenet_v2(x, convs):
    x = convs(x, tf.nn.relu6)
    cin = 32
    for t, c, n, s in MOBILENET_V2:
        for i in range(n):
            stride = s if i == 0 else 1
            y = convs(x, tf.nn.relu6) if t != 1 else x
            y = convs(y, tf.nn.relu6)
            y = convs(y)
            x = x + y if stride == 1 and cin == c else y
            cin = c
    x = convs(x, tf.nn.relu6)
    return tf.reduce_mean(x, [1, 2])


def native_graph(kind, npz):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [1] + list(npz["input_nhwc_shape"][1:]), name="input")
        feats = {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2}[kind](x, Convs(npz))
        y = tf.nn.bias_add(tf.matmul(feats, tf.constant(npz["fc_w"])), tf.constant(npz["fc_b"]), name="output")
    return graph, x, y


def frozen_graph(path):
    graph_def = tf.GraphDef()
    with open(path, "rb") as fh:
        graph_def.ParseFromString(fh.read())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    return graph, graph.get_tensor_by_name("input:0"), graph.get_tensor_by_name("output:0")


def session(graph):
    config = tf.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    return tf.Session(graph=graph, config=config)


def main():
    with open(sys.argv[1]) as fh:
        req = json.load(fh)
    npz = dict(np.load(req["weights"]))
    image = np.load(req["input"])                      # NCHW, what the converted graphs take
    reference = np.load(req["reference"])
    graphs = {"native": native_graph(req["model"], npz)}
    for name, path in sorted(req["graphs"].items()):
        graphs[name] = frozen_graph(path)
    feeds = {"native": image.transpose(0, 2, 3, 1)}
    runs, diffs = {}, {}
    for name, (graph, x, y) in graphs.items():
        sess = session(graph)
        feed = {x: feeds.get(name, image)}
        out = sess.run(y, feed)
        for _ in range(req["warmup"]):
            sess.run(y, feed)
        diffs[name] = float(np.abs(out - reference).max())
        runs[name] = (sess, y, feed)
    times = dict((name, []) for name in runs)
    for _ in range(req["runs"]):                        # interleaved: one run of each graph per round
        for name, (sess, y, feed) in sorted(runs.items()):
            t0 = time.perf_counter()
            sess.run(y, feed)
            times[name].append((time.perf_counter() - t0) * 1000.0)
    print(json.dumps({"tensorflow": tf.__version__, "max_abs_diff": diffs,
                      "median_ms": dict((k, float(np.median(v))) for k, v in times.items()),
                      "nodes": dict((k, len(g[0].as_graph_def().node)) for k, g in graphs.items())}))


if __name__ == "__main__":
    main()
