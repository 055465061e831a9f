"""A model's identity for the matrix: what it is (factory, kwargs, files, inputs), not its name."""

from __future__ import annotations

from torch2tf.configs.config import PipelineConfig
from torch2tf.digests import file_digest, json_digest


def model_digest(cfg: PipelineConfig) -> str:
    if cfg.model.onnx:        # the file is the model
        return json_digest({"onnx": file_digest(cfg.model.onnx.path), "seed": cfg.seed,
                            "inputs": [[i.name, list(i.shape), i.dtype, sorted(i.dynamic.items())] for i in cfg.inputs],
                            "outputs": list(cfg.outputs)}, 16)
    ident = {
        "factory": cfg.model.factory.rpartition(":")[2] if cfg.model.model_file else cfg.model.factory,
        "kwargs": cfg.model.kwargs, "seed": cfg.seed,
        "model_file": file_digest(cfg.model.model_file) if cfg.model.model_file else None,
        "weights": file_digest(cfg.model.weights) if cfg.model.weights else None,
        "inputs": [[i.name, list(i.shape), i.dtype, sorted(i.dynamic.items())] for i in cfg.inputs],
        "outputs": list(cfg.outputs),
    }
    return json_digest(ident, 16)
