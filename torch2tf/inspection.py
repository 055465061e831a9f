"""`invoke inspect PATH`: run the inspect stage on any .pb / .onnx in an env that reads it."""

from __future__ import annotations

from pathlib import Path

from torch2tf.errors import ConfigError
from torch2tf.settings import Settings
from torch2tf.stagerun import StageRunner

DEFAULT_ENV = {".onnx": "torch17", ".pb": "tf115"}


def inspect_artifact(path: Path, settings: Settings, env: str | None = None) -> dict:
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"no such file: {path}", where=str(path))
    if path.suffix not in DEFAULT_ENV:
        raise ConfigError(f"cannot inspect {path.name}: not a .pb or .onnx", where=str(path))
    run = StageRunner(settings).run("inspect_graph", env or DEFAULT_ENV[path.suffix], {"artifact": path}, {})
    return run.metrics
