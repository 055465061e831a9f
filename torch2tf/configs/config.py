"""Pipeline configs (configs/<model>.yaml), read strictly into typed objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch2tf.errors import ConfigError
from torch2tf.strict import check_keys, load_yaml, typed

DTYPES = {"float32", "float16", "float64", "int64", "int32", "uint8", "bool"}
PREPROCESS = {"imagenet", "unit"}
FORMATS = {"frozen_pb", "saved_model", "tflite"}


@dataclass(frozen=True)
class ModelSpec:
    factory: str                      # "module:callable" or "file.py:callable"
    kwargs: dict
    weights: Path | None
    model_file: Path | None           # set when factory names a .py file


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    dynamic: dict = field(default_factory=dict)    # axis -> symbolic name, e.g. {0: "batch"}
    sample: Path | None = None
    preprocess: str | None = None


@dataclass(frozen=True)
class PipelineConfig:
    path: Path
    name: str
    model: ModelSpec
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    target: str
    opset: int | None = None
    atol: float = 1e-4
    rtol: float = 1e-3
    seed: int = 0
    route: str | None = None
    formats: tuple[str, ...] = ("frozen_pb",)


def _file(base: Path, value: str, where: str, what: str) -> Path:
    path = (base / value).resolve() if not Path(value).is_absolute() else Path(value)
    if not path.is_file():
        raise ConfigError(f"{what} {value!r} does not exist (looked at {path})", where=where,
                          hint="paths are relative to the config file")
    return path


def _model(raw, base: Path, where: str) -> ModelSpec:
    check_keys(raw, {"factory", "kwargs", "weights"}, where, required={"factory"})
    factory = typed(raw["factory"], str, f"{where}.factory", "model.factory")
    module, sep, attr = factory.rpartition(":")
    if not sep or not module or not attr:
        raise ConfigError(f"model.factory {factory!r} is not 'module:callable' or 'file.py:callable'",
                          where=f"{where}.factory", hint="e.g. torchvision.models:resnet18 or models/net.py:build")
    model_file = _file(base, module, f"{where}.factory", "model file") if module.endswith(".py") else None
    kwargs = typed(raw.get("kwargs") or {}, dict, f"{where}.kwargs", "model.kwargs")
    weights = raw.get("weights")
    weights = _file(base, typed(weights, str, f"{where}.weights", "model.weights"), f"{where}.weights",
                    "weights file") if weights else None
    return ModelSpec(factory=factory, kwargs=kwargs, weights=weights, model_file=model_file)


def _input(raw, base: Path, where: str) -> InputSpec:
    check_keys(raw, {"name", "shape", "dtype", "dynamic", "sample", "preprocess"}, where,
               required={"name", "shape"})
    name = typed(raw["name"], str, f"{where}.name", "input name")
    shape = typed(raw["shape"], list, f"{where}.shape", "shape")
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ConfigError(f"shape {shape} must list positive integers (the example shape; "
                          "mark symbolic dims under `dynamic:`)", where=f"{where}.shape")
    dtype = raw.get("dtype", "float32")
    if dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported", where=f"{where}.dtype",
                          hint=f"one of {', '.join(sorted(DTYPES))}")
    dynamic = raw.get("dynamic") or {}
    if isinstance(dynamic, list):          # [0] is short for {0: dim0}
        dynamic = {a: f"{name}_dim{a}" for a in dynamic}
    typed(dynamic, dict, f"{where}.dynamic", "dynamic")
    for axis in dynamic:
        if not isinstance(axis, int) or not 0 <= axis < len(shape):
            raise ConfigError(f"dynamic axis {axis!r} is not an axis of shape {shape}", where=f"{where}.dynamic")
    sample = raw.get("sample")
    sample = _file(base, typed(sample, str, f"{where}.sample", "sample"), f"{where}.sample", "sample") \
        if sample else None
    preprocess = raw.get("preprocess")
    if preprocess is not None and preprocess not in PREPROCESS:
        raise ConfigError(f"preprocess {preprocess!r} is unknown", where=f"{where}.preprocess",
                          hint=f"one of {', '.join(sorted(PREPROCESS))}")
    return InputSpec(name=name, shape=tuple(shape), dtype=dtype, dynamic={int(k): str(v) for k, v in dynamic.items()},
                     sample=sample, preprocess=preprocess)


def load_config(path: Path) -> PipelineConfig:
    path = Path(path).resolve()
    raw = load_yaml(path)
    where = str(path)
    check_keys(raw, {"name", "model", "inputs", "outputs", "target", "opset", "tolerance", "seed",
                     "route", "formats"}, where, required={"name", "model", "inputs", "outputs", "target"})
    name = typed(raw["name"], str, f"{where}: name", "name")
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"name {name!r} must be letters, digits, '-', '_' or '.' (it names artifacts/<name>/)",
                          where=f"{where}: name")
    inputs = typed(raw["inputs"], list, f"{where}: inputs", "inputs")
    if not inputs:
        raise ConfigError("inputs must list at least one input", where=f"{where}: inputs")
    specs = tuple(_input(item, path.parent, f"{where}: inputs[{i}]") for i, item in enumerate(inputs))
    outputs = typed(raw["outputs"], list, f"{where}: outputs", "outputs")
    if not outputs or not all(isinstance(o, str) and o for o in outputs):
        raise ConfigError("outputs must list one name per model output", where=f"{where}: outputs")
    names = [s.name for s in specs] + list(outputs)
    if len(set(names)) != len(names):
        raise ConfigError(f"input and output names must be unique, got {names}", where=f"{where}: outputs")
    tol = raw.get("tolerance") or {}
    check_keys(tol, {"atol", "rtol"}, f"{where}: tolerance")
    opset = raw.get("opset")
    if opset is not None:
        typed(opset, int, f"{where}: opset", "opset")
    formats = tuple(raw.get("formats") or ("frozen_pb",))
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(f"unknown format(s) {bad}", where=f"{where}: formats", hint=f"one of {sorted(FORMATS)}")
    return PipelineConfig(
        path=path, name=name, model=_model(raw["model"], path.parent, f"{where}: model"), inputs=specs,
        outputs=tuple(outputs), target=typed(raw["target"], str, f"{where}: target", "target"), opset=opset,
        atol=float(typed(tol.get("atol", 1e-4), (int, float), f"{where}: tolerance.atol", "atol")),
        rtol=float(typed(tol.get("rtol", 1e-3), (int, float), f"{where}: tolerance.rtol", "rtol")),
        seed=typed(raw.get("seed", 0), int, f"{where}: seed", "seed"),
        route=raw.get("route"), formats=formats)
