"""Pipeline configs (configs/<model>.yaml), read strictly into typed objects."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from torch2tf.configs.onnx_file import OnnxFile, read_onnx, safe_name
from torch2tf.envs.specs import is_pin, pinned_name
from torch2tf.errors import ConfigError
from torch2tf.strict import check_keys, load_yaml, typed

# a tensor name as every runtime here accepts it: no ':' (TF's output index) or '/' (TF's scopes)
TENSOR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
CONFIG_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$")
RESERVED_NAMES = {"matrix", "batch.json", "logs", "slurm"}      # what the tool itself writes under artifacts/
MIN_OPSET = 7                                          # what torch.onnx and every route here handle

DTYPES = {"float32", "float16", "float64", "int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool"}
PREPROCESS = {"imagenet", "unit"}
FORMATS = {"frozen_pb", "saved_model", "tflite"}


@dataclass(frozen=True)
class ModelSpec:
    factory: str | None               # "module:callable" or "file.py:callable"; None for an .onnx model
    kwargs: dict
    weights: Path | None
    model_file: Path | None           # set when factory names a .py file
    trust_weights: bool = False       # unpickle the weights file fully (it can run code)
    requirements: tuple[str, ...] = ()   # extra pins for the export env (torch2tf/envs/extras.py)
    torch: str | None = None          # a torch version prefix picking the export stack; None: the default
    onnx: OnnxFile | None = None      # `model: {onnx: FILE}`: the file, read, instead of an export


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
    timeout: float | None = None      # seconds a stage may take; default: invoke.yaml's stage_timeout


def _file(base: Path, value: str, where: str, what: str) -> Path:
    path = (base / value).resolve() if not Path(value).is_absolute() else Path(value)
    if not path.is_file():
        raise ConfigError(f"{what} {value!r} does not exist (looked at {path})", where=where,
                          hint="paths are relative to the config file")
    return path


def _onnx_model(raw, base: Path, where: str) -> ModelSpec:
    check_keys(raw, {"onnx"}, where, required={"onnx"})
    path = _file(base, typed(raw["onnx"], str, f"{where}.onnx", "model.onnx"), f"{where}.onnx", "ONNX file")
    return ModelSpec(factory=None, kwargs={}, weights=None, model_file=None, onnx=read_onnx(path, f"{where}.onnx"))


def _model(raw, base: Path, where: str) -> ModelSpec:
    if isinstance(raw, dict) and "onnx" in raw:
        if "factory" in raw:
            raise ConfigError("model has both factory: and onnx:", where=where,
                              hint="a model is a PyTorch factory to export, or an .onnx file: give one")
        return _onnx_model(raw, base, where)
    check_keys(raw, {"factory", "kwargs", "weights", "trust_weights", "requirements", "torch", "onnx"}, where,
               required={"factory"})
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
    trust = typed(raw.get("trust_weights", False), bool, f"{where}.trust_weights", "model.trust_weights")
    return ModelSpec(factory=factory, kwargs=kwargs, weights=weights, model_file=model_file, trust_weights=trust,
                     requirements=_requirements(raw.get("requirements"), f"{where}.requirements"),
                     torch=_torch(raw.get("torch"), f"{where}.torch"))


def _torch(raw, where: str) -> str | None:
    """model.torch: a version prefix ("1.13", "2"); YAML reads an unquoted 1.13 as a number, taken as written."""
    if raw is None:
        return None
    value = str(typed(raw, (str, int, float), where, "model.torch")).strip()
    if not re.fullmatch(r"\d+(\.\d+){0,2}", value):
        raise ConfigError(f"model.torch {raw!r} is not a version prefix", where=where,
                          hint='e.g. "1.7", "1.13" or "2" (matched against the export stacks\' torch versions)')
    return value


def _requirements(raw, where: str) -> tuple[str, ...]:
    """model.requirements: exact pins of the packages the model's code needs beyond the export env."""
    entries = typed(raw or [], list, where, "model.requirements")
    for entry in entries:
        if not isinstance(entry, str) or not is_pin(entry.strip()):
            raise ConfigError(f"model.requirements entry {entry!r} is not an exact pin", where=where,
                              hint="write package==version, e.g. scipy==1.5.4 (the lock carries the rest)")
    names = [pinned_name(e.strip()) for e in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"model.requirements names a package twice: {entries}", where=where)
    return tuple(sorted(e.strip() for e in entries))


def tensor_name(value, where: str, what: str) -> str:
    name = typed(value, str, where, what)
    if not TENSOR_NAME.match(name):
        raise ConfigError(f"{what} {name!r} is not a usable tensor name", where=where,
                          hint="letters, digits, '_', '.', '-', starting with a letter or '_', at most 64; "
                               "no ':' or '/' (TensorFlow reads them as output index and scope), no spaces")
    return name


def _dynamic(raw, name: str, shape: list, where: str) -> dict:
    dynamic = raw or {}
    if isinstance(dynamic, list):          # [0] is short for {0: dim0}
        dynamic = {a: f"{name}_dim{a}" for a in dynamic}
    typed(dynamic, dict, where, "dynamic")
    for axis, label in dynamic.items():
        if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < len(shape):
            raise ConfigError(f"dynamic axis {axis!r} is not an axis of shape {shape}", where=where)
        tensor_name(label, f"{where}.{axis}", "dynamic dim name")
    return {int(k): str(v) for k, v in dynamic.items()}


def _input(raw, base: Path, where: str) -> InputSpec:
    check_keys(raw, {"name", "shape", "dtype", "dynamic", "sample", "preprocess"}, where,
               required={"name", "shape"})
    name = tensor_name(raw["name"], f"{where}.name", "input name")
    shape = typed(raw["shape"], list, f"{where}.shape", "shape")
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ConfigError(f"shape {shape} must list positive integers (the example shape; "
                          "mark symbolic dims under `dynamic:`)", where=f"{where}.shape")
    dtype = raw.get("dtype", "float32")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported", where=f"{where}.dtype",
                          hint=f"one of {', '.join(sorted(DTYPES))}")
    sample = raw.get("sample")
    sample = _file(base, typed(sample, str, f"{where}.sample", "sample"), f"{where}.sample", "sample") \
        if sample else None
    preprocess = raw.get("preprocess")
    if preprocess is not None and (not isinstance(preprocess, str) or preprocess not in PREPROCESS):
        raise ConfigError(f"preprocess {preprocess!r} is unknown", where=f"{where}.preprocess",
                          hint=f"one of {', '.join(sorted(PREPROCESS))}")
    return InputSpec(name=name, shape=tuple(shape), dtype=dtype, sample=sample, preprocess=preprocess,
                     dynamic=_dynamic(raw.get("dynamic"), name, shape, f"{where}.dynamic"))


def config_name(value, where: str) -> str:
    name = typed(value, str, where, "name")
    if not CONFIG_NAME.match(name) or name in RESERVED_NAMES:
        raise ConfigError(f"name {name!r} cannot name artifacts/<name>/", where=where,
                          hint="letters, digits, '-', '_', '.', at most 80, not starting with '.' or '-'; "
                               f"not one of {sorted(RESERVED_NAMES)} (torch2tf writes those under artifacts/)")
    return name


def _outputs(raw, inputs: tuple[InputSpec, ...], where: str) -> tuple[str, ...]:
    outputs = typed(raw, list, where, "outputs")
    if not outputs:
        raise ConfigError("outputs must list one name per model output", where=where)
    outputs = [tensor_name(o, f"{where}[{i}]", "output name") for i, o in enumerate(outputs)]
    names = [s.name for s in inputs] + outputs
    if len(set(names)) != len(names):
        raise ConfigError(f"input and output names must be unique, got {names}", where=where)
    return tuple(outputs)


def number(value, where: str, what: str, *, minimum: float = 0.0, integer: bool = False):
    """A finite number >= minimum (an int when `integer`), else a ConfigError naming it."""
    typed(value, int if integer else (int, float), where, what)
    if not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{what} must be {'an integer' if integer else 'a number'} >= {minimum:g}, got {value!r}",
                          where=where)
    return value


def _formats(raw, where: str) -> tuple[str, ...]:
    formats = raw or ["frozen_pb"]
    formats = [formats] if isinstance(formats, str) else typed(formats, list, where, "formats")
    bad = [f for f in formats if not isinstance(f, str) or f not in FORMATS]
    if bad:
        raise ConfigError(f"unknown format(s) {bad}", where=where, hint=f"a list of {sorted(FORMATS)}")
    return tuple(formats)


def _file_tensor(name: str, tensors, where: str):
    """The file's tensor a config names, by its own name or its safe one."""
    for t in tensors:
        if name in (t.name, t.safe):
            return t
    raise ConfigError(f"the ONNX file has no tensor {name!r} there", where=where,
                      hint=f"its names: {', '.join(t.safe for t in tensors)}")


def _onnx_inputs(raw, onnx: OnnxFile, base: Path, where: str) -> tuple[InputSpec, ...]:
    """The file's inputs (symbolic dims: example size 1, kept dynamic); an entry in the config sets a
    shape for its symbolic dims, a dtype check, or a sample."""
    given = {}
    for i, item in enumerate(typed(raw or [], list, f"{where}: inputs", "inputs")):
        w = f"{where}: inputs[{i}]"
        t = _file_tensor(typed(check_keys(item, {"name", "shape", "dynamic", "sample", "preprocess"}, w,
                                          required={"name"})["name"], str, f"{w}.name", "input name"),
                         onnx.inputs, f"{w}.name")
        shape = item.get("shape") or [d if isinstance(d, int) else 1 for d in t.dims]
        fixed = [(a, d) for a, d in enumerate(t.dims) if isinstance(d, int)]
        if len(shape) != len(t.dims) or any(shape[a] != d for a, d in fixed):
            raise ConfigError(f"shape {shape} does not fit the file's {list(t.dims)} for input {t.name!r}",
                              where=f"{w}.shape", hint="give sizes only where the file has a symbolic dim")
        given[t.name] = _input({**item, "name": t.safe, "shape": shape, "dtype": t.dtype,
                                "dynamic": item.get("dynamic", _symbolic(t))}, base, w)
    return tuple(given.get(t.name) or InputSpec(name=t.safe, shape=tuple(d if isinstance(d, int) else 1 for d in t.dims),
                                                dtype=t.dtype, dynamic=_symbolic(t)) for t in onnx.inputs)


def _symbolic(t) -> dict:
    return {a: (safe_name(d, set()) if isinstance(d, str) else f"{t.safe}_dim{a}")
            for a, d in enumerate(t.dims) if not isinstance(d, int)}


def _onnx_outputs(raw, onnx: OnnxFile, where: str) -> tuple[str, ...]:
    if raw is None:
        return tuple(t.safe for t in onnx.outputs)
    names = typed(raw, list, where, "outputs")
    return tuple(_file_tensor(typed(n, str, f"{where}[{i}]", "output name"), onnx.outputs, f"{where}[{i}]").safe
                 for i, n in enumerate(names))


def load_config(path: Path) -> PipelineConfig:
    path = Path(path).resolve()
    raw = load_yaml(path)
    where = str(path)
    check_keys(raw, {"name", "model", "inputs", "outputs", "target", "opset", "tolerance", "seed",
                     "route", "formats", "timeout"}, where, required={"name", "model"})
    model = _model(raw["model"], path.parent, f"{where}: model")
    if model.onnx:
        if raw.get("opset") is not None:
            raise ConfigError("opset: sets the export's opset; an .onnx model is taken at its own "
                              f"(opset {model.onnx.opset}) and converted to each route's", where=f"{where}: opset",
                              hint="drop opset:, or force one route with route:")
        specs = _onnx_inputs(raw.get("inputs"), model.onnx, path.parent, where)
        outputs = _onnx_outputs(raw.get("outputs"), model.onnx, f"{where}: outputs")
    else:
        missing = sorted({"inputs", "outputs"} - set(raw))
        if missing:      # required for a model to export; an .onnx model's file says them
            raise ConfigError(f"missing required key(s): {', '.join(missing)}", where=where)
        inputs = typed(raw["inputs"], list, f"{where}: inputs", "inputs")
        if not inputs:
            raise ConfigError("inputs must list at least one input", where=f"{where}: inputs")
        specs = tuple(_input(item, path.parent, f"{where}: inputs[{i}]") for i, item in enumerate(inputs))
        outputs = _outputs(raw["outputs"], specs, f"{where}: outputs")
    tol = check_keys(raw.get("tolerance") or {}, {"atol", "rtol"}, f"{where}: tolerance")
    opset, timeout, route = raw.get("opset"), raw.get("timeout"), raw.get("route")
    return PipelineConfig(
        path=path, name=config_name(raw["name"], f"{where}: name"),
        model=model, inputs=specs, outputs=outputs,
        # may be left to the command (--target): a batch of files to every target needs no copy per target
        target=typed(raw.get("target", ""), str, f"{where}: target", "target"),
        opset=None if opset is None else number(opset, f"{where}: opset", "opset", minimum=MIN_OPSET, integer=True),
        atol=float(number(tol.get("atol", 1e-4), f"{where}: tolerance.atol", "atol")),
        rtol=float(number(tol.get("rtol", 1e-3), f"{where}: tolerance.rtol", "rtol")),
        seed=number(raw.get("seed", 0), f"{where}: seed", "seed", integer=True),
        route=None if route is None else typed(route, str, f"{where}: route", "route"),
        formats=_formats(raw.get("formats"), f"{where}: formats"),
        timeout=None if timeout is None else float(number(timeout, f"{where}: timeout", "timeout", minimum=1)))


def no_target(where: str, targets) -> ConfigError:
    """A config without target: run without --target."""
    return ConfigError("no target: the config names none and no --target was given", where=where,
                       hint=f"add `target: tf1.13` to the config or pass --target (targets: {', '.join(targets)})")


def onnx_file_config(onnx_path: Path, name: str, target: str, atol: float, rtol: float) -> PipelineConfig:
    """What a config of `model: {onnx: FILE}` and nothing else (no inputs:, no outputs:) loads as:
    for `invoke conformance`, which converts hundreds of files it holds no YAML for."""
    where = str(onnx_path)
    onnx = read_onnx(onnx_path, where)
    return PipelineConfig(path=onnx_path, name=config_name(name, where),
                          model=ModelSpec(factory=None, kwargs={}, weights=None, model_file=None, onnx=onnx),
                          inputs=_onnx_inputs(None, onnx, onnx_path.parent, where),
                          outputs=_onnx_outputs(None, onnx, where), target=target, atol=atol, rtol=rtol)
