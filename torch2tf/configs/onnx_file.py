"""An .onnx file given as the model (`model: {onnx: FILE}`), read on the host before anything runs:
its opset, IR, inputs and outputs, and the safe names its tensors carry through every stage.

Real files name tensors `0`, `input.1` or `onnx::Conv_123`; TensorFlow reads ':' as an output index
and '/' as a scope, so such names are mapped to safe ones (`t_0`, `onnx__Conv_123`) and the mapping
is printed and written in report.json. A file that cannot be read whole is refused here, naming it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from torch2tf.errors import ConfigError

SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")       # config.TENSOR_NAME: what every runtime here takes
# onnx TensorProto data types -> the dtypes a config may name
DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
          10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


@dataclass(frozen=True)
class Tensor:
    name: str                      # as the file names it
    safe: str                      # as every artifact names it
    dims: tuple                    # int sizes, or a str for a symbolic dim (None when unnamed)
    dtype: str


@dataclass(frozen=True)
class OnnxFile:
    path: Path
    opset: int
    ir_version: int
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @property
    def renamed(self) -> dict[str, str]:
        """original -> safe, for the names that change."""
        return {t.name: t.safe for t in self.inputs + self.outputs if t.name != t.safe}


def safe_name(name: str, taken: set[str]) -> str:
    """A name every runtime here accepts, unique among `taken`: ':' '/' and the like become '_'."""
    if SAFE.match(name) and name not in taken:
        return name
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    base = base if re.match(r"^[A-Za-z_]", base) else "t_" + base
    base = base[:60]
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def _load(path: Path, where: str):
    import onnx
    from google.protobuf.message import DecodeError
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"{path.name} is not a readable ONNX file ({type(exc).__name__}: {exc})", where=where,
                          hint="is it whole (not truncated) and an ONNX model? onnx.save writes one") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", where=where) from None
    if not model.graph.node and not model.graph.output:
        raise ConfigError(f"{path.name} holds no graph (an empty or truncated file?)", where=where,
                          hint="is it whole (not truncated) and an ONNX model? onnx.save writes one")
    return model


def _external_data(model, path: Path, where: str) -> None:
    """Tensors stored beside the file must be there: onnx.load would fail deep inside a stage."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data
    for tensor in list(model.graph.initializer):
        if uses_external_data(tensor):
            location = ExternalDataInfo(tensor).location
            if not (path.parent / location).is_file():
                raise ConfigError(f"{path.name} keeps tensor {tensor.name!r} in external data file {location!r}, "
                                  f"which is not beside it", where=where,
                                  hint=f"put {location} in {path.parent}, or save the model with its data inside "
                                       "(onnx.save(model, f, save_as_external_data=False))")


def _tensor(value, taken: set[str], where: str) -> Tensor:
    tt = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        raise ConfigError(f"graph value {value.name!r} is not a tensor", where=where,
                          hint="torch2tf converts models whose inputs and outputs are tensors")
    dtype = DTYPES.get(tt.elem_type)
    if dtype is None:
        from onnx import TensorProto
        kind = TensorProto.DataType.Name(tt.elem_type) if tt.elem_type in TensorProto.DataType.values() else "?"
        raise ConfigError(f"tensor {value.name!r} has ONNX data type {kind} ({tt.elem_type}), which torch2tf does "
                          "not feed",
                          where=where, hint=f"inputs and outputs of types {', '.join(sorted(DTYPES.values()))}")
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim)
    safe = safe_name(value.name, taken)
    taken.add(safe)
    return Tensor(name=value.name, safe=safe, dims=dims, dtype=dtype)


def read_onnx(path: Path, where: str) -> OnnxFile:
    """The file's opset, IR, inputs and outputs. A config is loaded several times a run (batch checks,
    plans, the matrix's digests): the file is parsed once per content (path, mtime, size)."""
    stat = path.stat()
    return _read(path, stat.st_mtime_ns, stat.st_size, where)


@functools.lru_cache(maxsize=32)
def _read(path: Path, mtime_ns: int, size: int, where: str) -> OnnxFile:
    model = _load(path, where)
    _external_data(model, path, where)
    opsets = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    others = sorted({o.domain for o in model.opset_import} - {"", "ai.onnx"})
    if others:
        raise ConfigError(f"{path.name} uses operator domains no converter here reads: {', '.join(others)}",
                          where=where, hint="export it with standard ONNX ops only")
    if not opsets:
        raise ConfigError(f"{path.name} imports no ai.onnx opset", where=where, hint="is it an ONNX model?")
    initializers = {t.name for t in model.graph.initializer}
    taken: set[str] = set()
    inputs = tuple(_tensor(v, taken, where) for v in model.graph.input if v.name not in initializers)
    outputs = tuple(_tensor(v, taken, where) for v in model.graph.output)
    both = {t.name for t in inputs} & {t.name for t in outputs}
    if both:
        raise ConfigError(f"{path.name} names {sorted(both)} both an input and an output", where=where,
                          hint="a graph output must be computed, not passed through: give it an Identity node")
    if not inputs or not outputs:
        raise ConfigError(f"{path.name} has {len(inputs)} inputs and {len(outputs)} outputs", where=where,
                          hint="a model to convert takes at least one input and gives at least one output")
    return OnnxFile(path=path, opset=max(opsets), ir_version=model.ir_version, inputs=inputs, outputs=outputs)
