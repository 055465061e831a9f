"""Example inputs for a model, shared by export (torch) and onnx_import (onnxruntime): a .npy or an
image sample, else seeded random values of the config's shape and dtype. Python 3.6, numpy only."""

import numpy as np
from _protocol import ModelFailure

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def make_input(spec, sample_path, rng):
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
    return rng.randint(0, 10, size=shape).astype(dtype)


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
