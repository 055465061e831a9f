"""Run inside a TF env (tests/test_optimize_real.py): each case builds a small frozen graph with the
pattern one optimize rule targets, optimizes it with the stage's own code, and prints one JSON line per
case: the rules that fired, Transpose / Pad counts before and after, and the largest difference of the
outputs on a random input. Python 3.6-compatible, like the stages it imports."""

import json
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])      # stages/

import tensorflow as tf  # noqa: E402

import _graphdef  # noqa: E402
import _trace  # noqa: E402
import optimize  # noqa: E402
from _tf_graph import Graph  # noqa: E402

v1 = _graphdef.tf_v1(tf)
if hasattr(v1, "disable_eager_execution"):
    v1.disable_eager_execution()
RNG = np.random.RandomState(0)
NCHW, NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def conv(x, cin, cout, k=3, stride=1, pad=1):
    """onnx-tf's conv: Pad in NCHW, Transpose to NHWC, VALID conv, bias Add, Transpose back."""
    if pad:
        x = v1.pad(x, [[0, 0], [0, 0], [pad, pad], [pad, pad]])
    y = v1.nn.conv2d(v1.transpose(x, NHWC), RNG.randn(k, k, cin, cout).astype(np.float32) * 0.2,
                     [1, stride, stride, 1], "VALID")
    return v1.transpose(y + RNG.randn(cout).astype(np.float32), NCHW)


def case_resnet_block(x):
    y = v1.nn.relu(conv(x, 4, 4) * RNG.rand(1, 4, 1, 1).astype(np.float32))
    y = conv(y, 4, 4) + x                    # the residual: both sides NCHW
    return v1.reduce_mean(v1.nn.relu(y), [2, 3], keep_dims=False)


def case_concat_slice_split(x):
    a = conv(x, 4, 6)
    parts = v1.split(a, 2, axis=1)
    s = v1.strided_slice(parts[0], [0, 0, 1, 0], [1, 3, 8, 8], [1, 1, 2, 1])
    c = v1.concat([parts[1][:, :, 1::2, :], s], axis=1)
    return v1.maximum(v1.minimum(conv(v1.nn.relu6(c), 6, 2), 6.0), 0.0)      # onnx-tf's Clip(0, 6)


def case_strided_pads(x):
    """3x3 stride 2 pad 1: not SAME's padding (that pads 0 before, 1 after): kept, or explicit where the
    runtime's Conv2D takes explicit paddings."""
    return conv(x, 4, 3, stride=2)


def case_maxpool_pad(x):
    y = v1.pad(x, [[0, 0], [0, 0], [1, 1], [1, 1]], constant_values=np.finfo(np.float32).min)
    y = v1.transpose(v1.nn.max_pool(v1.transpose(y, NHWC), [1, 3, 3, 1], [1, 1, 1, 1], "VALID"), NCHW)
    return conv(y, 4, 2)


def case_split_depthwise(x):
    """onnx-tf <= 1.3's depthwise conv: the channels split, one Conv2D each, concatenated (multiplier 2)."""
    y = v1.transpose(v1.pad(x, [[0, 0], [0, 0], [1, 1], [1, 1]]), NHWC)
    parts = v1.split(y, 4, axis=3)
    convs = [v1.nn.conv2d(p, RNG.randn(3, 3, 1, 2).astype(np.float32), [1, 1, 1, 1], "VALID") for p in parts]
    return v1.nn.relu(v1.transpose(v1.concat(convs, axis=3) + RNG.randn(8).astype(np.float32), NCHW))


def case_strided_depthwise(x):
    """PyTorch's strided depthwise convs (3x3 pad 1, then 5x5 pad 2; stride 2 on even sizes): padded on
    both sides, which SAME is not, but SAME with a zero tap after the kernel is."""
    y = x
    for k in (3, 5):
        p = (k - 1) // 2
        y = v1.transpose(v1.pad(y, [[0, 0], [0, 0], [p, p], [p, p]]), NHWC)
        y = v1.nn.depthwise_conv2d_native(y, RNG.randn(k, k, 4, 1).astype(np.float32), [1, 2, 2, 1], "VALID")
        y = v1.nn.relu(v1.transpose(y, NCHW))
    return y


def case_detect_head(x):
    """YOLO's Detect: the conv's output back to NCHW, view(b, anchors, outputs, h, w), permute(0, 1, 3, 4, 2)."""
    y = v1.reshape(conv(x, 4, 6, pad=0, k=1), [1, 2, 3, 8, 8])
    return v1.transpose(y, [0, 1, 3, 4, 2])


def case_group_norm(x):
    """PyTorch's GroupNorm(2, 6) as exported and converted: Reshape [N, G, -1], the instance norm over
    axis 2 (its [G, 1] scale and bias), Reshape back to NCHW, the affine per channel, ReLU, conv."""
    y = v1.reshape(conv(x, 4, 6), v1.constant([1, 2, -1], v1.int64))        # onnx-tf's int64 shapes
    mean = v1.reduce_mean(y, [2], keep_dims=True)
    var = v1.reduce_mean(v1.squared_difference(y, v1.stop_gradient(mean)), [2], keep_dims=True)
    y = RNG.rand(2, 1).astype(np.float32) * (y - mean) * v1.rsqrt(var + 1e-5) + RNG.randn(2, 1).astype(np.float32)
    y = v1.reshape(y, [1, 6, 8, 8]) * RNG.rand(6, 1, 1).astype(np.float32) + RNG.randn(6, 1, 1).astype(np.float32)
    return conv(v1.nn.relu(y), 6, 2)


def case_matmul_bias_and_dead_output(x):
    flat = v1.reshape(x, [1, -1])
    dense = v1.matmul(flat, RNG.randn(256, 5).astype(np.float32)) + RNG.randn(5).astype(np.float32)
    v1.identity(dense * 2.0, name="unused_output")        # nobody named it: pruned
    return dense


CASES = dict((k[5:], v) for k, v in sorted(globals().items()) if k.startswith("case_"))


def build(fn):
    graph = v1.Graph()
    with graph.as_default():
        x = v1.placeholder(v1.float32, [1, 4, 8, 8], name="input")
        v1.identity(fn(x), name="output")
    return graph.as_graph_def()


def traced(gd, feeds):
    """The optimized graph's full trace, as verify takes it: what counts as layout, what as padding."""
    graph = v1.Graph()
    with graph.as_default():
        v1.import_graph_def(gd, name="")
    with v1.Session(graph=graph) as sess:
        t = _trace.profile(v1, sess, "output:0", {"input:0": feeds["input"]})
    kinds = dict((op.type, _trace.overhead_kind(op)) for op in graph.get_operations() if _trace.overhead_kind(op))
    return {"kinds": kinds, "overhead": sorted(t["overhead"]), "padding_ms": t["padding_ms"]}


def main():
    feeds = {"input": RNG.randn(1, 4, 8, 8).astype(np.float32)}
    for name, fn in CASES.items():
        original = build(fn)
        gd = v1.GraphDef()
        gd.CopyFrom(original)
        rewriter = optimize.Rewriter(tf, Graph(tf, gd, ["input", "output"]), ())
        rewriter.run(["output"])
        before, after = optimize._stats(original), optimize._stats(gd)
        diff = optimize.self_check(v1, original, gd, feeds, ["output"])
        print(json.dumps({"case": name, "rewrites": rewriter.counts, "before": before, "after": after,
                          "rel_diff": diff, "ops": sorted(set(n.op for n in gd.node)),
                          "padding": sorted(set(n.attr["padding"].s.decode() for n in gd.node if "padding" in n.attr)),
                          "explicit": optimize.explicit_padding_ops(tf), "trace": traced(gd, feeds)}))


if __name__ == "__main__":
    main()
