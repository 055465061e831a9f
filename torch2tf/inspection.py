"""`invoke inspect PATH`: run the inspect stage on a .pb / .onnx / SavedModel dir / .tflite
in an env that reads it."""

from __future__ import annotations

from pathlib import Path

from torch2tf.errors import ConfigError
from torch2tf.settings import Settings
from torch2tf.stagerun import StageRunner

DEFAULT_ENV = {".onnx": "torch17", ".pb": "tf115", ".tflite": "onnx2tf", "saved_model": "tf115"}


def inspect_artifact(path: Path, settings: Settings, env: str | None = None) -> dict:
    path = Path(path).resolve()
    if path.is_dir() and (path / "saved_model.pb").is_file():
        kind = "saved_model"
    elif path.is_file() and path.suffix in DEFAULT_ENV:
        kind = path.suffix
    else:
        raise ConfigError(f"cannot inspect {path}: not a .pb, .onnx, .tflite or SavedModel directory",
                          where=str(path), hint="pass an artifact from artifacts/<name>/")
    run = StageRunner(settings).run("inspect_graph", env or DEFAULT_ENV[kind], {"artifact": path}, {})
    return run.metrics
