"""`invoke inspect PATH`: run the inspect stage on a .pb / .onnx / SavedModel dir / .tflite
in an env that reads it."""

from __future__ import annotations

from pathlib import Path

from torch2tf.configs.compat import load_compat
from torch2tf.errors import ConfigError
from torch2tf.run.stagerun import StageRunner
from torch2tf.settings import Settings

KINDS = {".onnx": "onnx", ".pb": "frozen_pb", ".tflite": "tflite"}     # suffix -> compat.yaml readers: key


def inspect_artifact(path: Path, settings: Settings, env: str | None = None) -> dict:
    path = Path(path).resolve()
    if not path.exists():
        raise ConfigError(f"{path} does not exist", where=str(path), hint="pass an artifact from artifacts/<name>/")
    if path.is_dir() and (path / "saved_model.pb").is_file():
        kind = "saved_model"
    elif path.is_file() and path.suffix in KINDS:
        kind = KINDS[path.suffix]
    else:
        raise ConfigError(f"cannot inspect {path}: not a .pb, .onnx, .tflite or SavedModel directory",
                          where=str(path), hint="pass an artifact from artifacts/<name>/")
    if path.is_file() and path.stat().st_size == 0:
        raise ConfigError(f"{path} is empty (0 bytes): not a model", where=str(path),
                          hint="re-run the pipeline that published it; pass an artifact from artifacts/<name>/")
    if env is None:
        env = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir).readers[kind]
    run = StageRunner(settings).run("inspect_graph", env, {"artifact": path}, {})
    return run.metrics
