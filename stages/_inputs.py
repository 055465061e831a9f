"""Example inputs for a model, shared by export (torch) and onnx_import (onnxruntime): a .npy or an
image sample, else seeded random values of the config's shape and dtype. Python 3.6, numpy only."""

import numpy as np
from _protocol import ModelFailure

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


INT_HIGH = 10          # integers are drawn in [0, 10), or below the smallest table they index


def make_input(spec, sample_path, rng, index_bound=None):
    shape = [int(d) for d in spec["shape"]]
    dtype = np.dtype(spec.get("dtype", "float32"))
    if sample_path:
        if sample_path.endswith(".npy"):
            arr = np.load(sample_path)
        else:
            arr = load_image(sample_path, shape, spec.get("preprocess") or "imagenet")
        if list(arr.shape) != shape:
            raise ModelFailure("sample %s has shape %s, the config says %s" % (sample_path, list(arr.shape), shape),
                               hint="make the sample match inputs[].shape", kind="InputError")
        return arr.astype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.randint(0, 2, size=shape).astype(dtype)
    return rng.randint(0, min(INT_HIGH, index_bound or INT_HIGH), size=shape).astype(dtype)


def onnx_index_bounds(graph):
    """{graph input: rows of the smallest initializer it indexes}: an integer input that feeds a Gather
    (an Embedding's lookup; through a Cast too) is drawn inside the indexed dimension."""
    tables = dict((t.name, list(t.dims)) for t in graph.initializer)
    names = set(i.name for i in graph.input) - set(tables)
    cast_of = dict((n.output[0], n.input[0]) for n in graph.node if n.op_type == "Cast" and n.input[0] in names)
    bounds = {}
    for node in graph.node:
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[0] not in tables:
            continue
        source = cast_of.get(node.input[1], node.input[1])
        if source not in names:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        dims = tables[node.input[0]]
        rows = dims[axis] if -len(dims) <= axis < len(dims) else None
        if rows:
            bounds[source] = min(rows, bounds.get(source, rows))
    return bounds


def torch_index_bound(model, torch):
    """The rows of the model's smallest Embedding: an integer input of a model with embeddings is drawn
    below it (token ids, token types, positions all index one)."""
    rows = [m.num_embeddings for m in model.modules()
            if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag))]
    return min(rows) if rows else None


def load_image(path, shape, preprocess):
    from PIL import Image
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise ModelFailure("an image sample needs an NCHW input shape, got %s" % shape, kind="InputError")
    img = Image.open(path).convert("RGB" if shape[1] == 3 else "L").resize((shape[3], shape[2]))
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = arr.reshape(shape[2], shape[3], shape[1]).transpose(2, 0, 1)
    if preprocess == "imagenet":
        arr = (arr - np.array(IMAGENET_MEAN, np.float32)[:, None, None]) / np.array(IMAGENET_STD, np.float32)[:, None, None]
    elif preprocess != "unit":
        raise ModelFailure("unknown preprocess %r" % preprocess, hint="use imagenet or unit", kind="InputError")
    return np.broadcast_to(arr[None], shape).copy()
