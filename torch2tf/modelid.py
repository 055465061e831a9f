"""A model's identity for the matrix: what it is (factory, kwargs, files, inputs), not its name."""

from __future__ import annotations

import hashlib
import json

from torch2tf.config import PipelineConfig
from torch2tf.stagerun import file_digest


def model_digest(cfg: PipelineConfig) -> str:
    ident = {
        "factory": cfg.model.factory.rpartition(":")[2] if cfg.model.model_file else cfg.model.factory,
        "kwargs": cfg.model.kwargs, "seed": cfg.seed,
        "model_file": file_digest(cfg.model.model_file) if cfg.model.model_file else None,
        "weights": file_digest(cfg.model.weights) if cfg.model.weights else None,
        "inputs": [[i.name, list(i.shape), i.dtype, sorted(i.dynamic.items())] for i in cfg.inputs],
        "outputs": list(cfg.outputs),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
