"""The ONNX backend node tests: an outside conformance suite of small one-op models, each with its
inputs and the outputs the ONNX reference gives (onnx/backend/test/data/node/<test>/ with
model.onnx and test_data_set_0/{input,output}_<i>.pb).

The suite is the copy in the default export stack's onnx wheel (onnx 1.8.1 in torch17: 775 tests,
467 at opset <= 11, the opsets a TF 1.x route reads); onnx >= 1.23 ships none. The tensors are read
on the host and written once as .npy, the form the verify stage feeds and compares.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from torch2tf.configs.onnx_file import read_onnx
from torch2tf.errors import ConfigError
from torch2tf.settings import PROJECT_ROOT

DATA = "onnx/backend/test/data"
# what `invoke conformance --suite` takes: the one-op node tests, or the model files the wheel ships that
# torch 0.4 / onnx 1.2 exported (opset 6: the files labs still hold), each with its inputs and outputs
SUITES = {"node": ("node",), "pytorch": ("pytorch-converted", "pytorch-operator")}


READER = 2          # data_dir's index.json is read again when what read_test records changes


@dataclass(frozen=True)
class NodeTest:
    name: str
    model: Path
    opset: int
    ops: tuple[str, ...]
    inputs: tuple[tuple[str, Path], ...]       # graph input name -> its .npy
    outputs: tuple[tuple[str, Path], ...]      # graph output name -> the expected .npy
    problem: str = ""                           # why its data cannot be fed (a sequence input) or compared
                                                # (a random reference): every route fails alike
    problem_class: str = "NotFeedable"


def find_suite(env_path: Path, suite: str = "node") -> list[Path]:
    """The test directories of a suite inside a built env's onnx package."""
    if suite not in SUITES:
        raise ConfigError(f"no conformance suite {suite!r}", where="--suite", hint=f"suites: {', '.join(SUITES)}")
    found = [sorted(env_path.glob(f"lib/python*/site-packages/{DATA}/{part}")) for part in SUITES[suite]]
    if not all(found):
        raise ConfigError(f"no ONNX {suite} tests in {env_path}", where=str(env_path),
                          hint="the default export stack's onnx wheel ships them (onnx <= 1.20): rebuild it with "
                               "`invoke env.build --name torch17 --fresh`")
    return [paths[0] for paths in found]


def _opset(model) -> int | None:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return max(versions) if versions else None


def _tensor(pb: Path):
    """A test_data_set .pb as its TensorProto; None when the test has no such file."""
    import onnx
    if not pb.is_file():
        return None
    tensor = onnx.TensorProto()
    tensor.ParseFromString(pb.read_bytes())
    return tensor


def _tensor_file(pb: Path, npy: Path) -> str:
    """One test_data_set .pb (a TensorProto) as .npy; '' or why it cannot be."""
    import numpy as np
    from onnx import numpy_helper
    array = numpy_helper.to_array(_tensor(pb))
    if array.dtype.kind in "OSU":
        return f"{pb.name} holds strings"
    if not npy.exists():
        npy.parent.mkdir(parents=True, exist_ok=True)
        tmp = npy.with_suffix(".tmp.npy")
        np.save(tmp, array)
        tmp.replace(npy)
    return ""


def _io(directory: Path, values, kind: str, data_dir: Path, positions: list[int] | None = None) -> tuple[tuple, str]:
    """(name, .npy) per value; `positions`: each value's index among the test's files (inputs folded
    into initializers leave gaps)."""
    pairs, problem = [], ""
    for i, value in zip(positions or range(len(values)), values):
        pb = directory / "test_data_set_0" / f"{kind}_{i}.pb"
        npy = data_dir / f"{kind}.{value.name}.npy"
        if not value.type.HasField("tensor_type"):
            problem = problem or f"{kind} {value.name!r} is a {value.type.WhichOneof('value')}, not a tensor"
        elif not pb.is_file():
            problem = problem or f"the test has no {pb.name}"
        else:
            problem = problem or _tensor_file(pb, npy)
        pairs.append((value.name, npy))
    return tuple(pairs), problem


# operands opset 13 moved from attributes to inputs (op -> input index): a real model holds them as
# constants, which the version converter needs to bring the node back to an attribute; a node test
# feeds them as graph inputs, so the suite makes them initializers of the test's own values
ATTRIBUTES_AS_INPUTS = {"ReduceSum": 1, "Split": 1, "Squeeze": 1, "Unsqueeze": 1}


def _constant_operands(model, directory: Path) -> list[str]:
    """Fold the graph inputs that feed an ATTRIBUTES_AS_INPUTS slot into initializers, in place."""
    slots = {n.input[i] for n in model.graph.node for op, i in ATTRIBUTES_AS_INPUTS.items()
             if n.op_type == op and len(n.input) > i and n.input[i]}
    inputs = [v.name for v in model.graph.input]
    folded = []
    for name in slots & set(inputs):
        tensor = _tensor(directory / "test_data_set_0" / f"input_{inputs.index(name)}.pb")
        if tensor is None:
            continue
        tensor.name = name
        model.graph.initializer.append(tensor)
        folded.append(name)
    kept = [v for v in model.graph.input if v.name not in folded]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    return folded


@functools.lru_cache(maxsize=None)
def _stage_helper(name: str):
    """A stdlib-plus-onnx helper module of stages/, the same code the stages run."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"torch2tf_stages_{name}", PROJECT_ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_test(directory: Path, data_dir: Path) -> NodeTest | None:
    """One node test, its tensors written under data_dir; None when it is not ai.onnx (training ops)."""
    import onnx
    model = onnx.load(str(directory / "model.onnx"))
    opset = _opset(model)
    if opset is None:
        return None
    model_path = directory / "model.onnx"
    positions = {v.name: i for i, v in enumerate(model.graph.input)}
    folded = _constant_operands(model, directory)
    try:
        renamed = read_onnx(model_path, str(model_path)).renamed     # torch's "0", "input.1": as the pipeline's import
    except ConfigError:
        renamed = {}                   # not a tensor model (a sequence input): _io says why it cannot be fed
    if renamed:
        _stage_helper("_onnx_graph").rename_tensors(model, renamed)
        positions = {renamed.get(k, k): i for k, i in positions.items()}
    if folded or renamed:
        model_path = data_dir / "model.onnx"
        data_dir.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(model_path))
    initializers = {t.name for t in model.graph.initializer}
    ins, p_in = _io(directory, [v for v in model.graph.input if v.name not in initializers], "input", data_dir,
                    [positions[v.name] for v in model.graph.input if v.name not in initializers])
    outs, p_out = _io(directory, list(model.graph.output), "output", data_dir)
    random = _random_reference(model, directory, positions)
    return NodeTest(name=directory.name, model=model_path, opset=opset,
                    ops=tuple(sorted({n.op_type for n in model.graph.node})), inputs=ins, outputs=outs,
                    problem=p_in or p_out or random,
                    problem_class="NotFeedable" if p_in or p_out else "RandomReference" if random else "")


def _random_reference(model, directory: Path, positions: dict[str, int]) -> str:
    """Why the expected outputs cannot be matched, when they come from a random draw: a Dropout in
    training mode with a ratio above 0 drops by numpy's generator, which no runtime repeats."""
    from onnx import numpy_helper
    initializers = {t.name: t for t in model.graph.initializer}

    def value(name: str, default):
        tensor = initializers.get(name) or (
            _tensor(directory / "test_data_set_0" / f"input_{positions[name]}.pb") if name in positions else None)
        return default if tensor is None else numpy_helper.to_array(tensor)

    for node in model.graph.node:
        if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
            ratio = float(value(node.input[1] if len(node.input) > 1 else "", 0.5))
            if bool(value(node.input[2], False)) and ratio > 0:
                return f"a random reference: Dropout in training mode (ratio {ratio:g}) drops by numpy's generator"
    return ""


def load_suite(suite_dirs: list[Path], data_dir: Path, pattern: str = "", max_opset: int = 11) -> list[NodeTest]:
    """The tests whose names match `pattern` (comma-separated fnmatch patterns; '' takes all) at
    opset <= max_opset, sorted by name. Read once: data_dir keeps an index of what was read."""
    index_path = data_dir / "index.json"
    index = {}
    if index_path.is_file():
        index = json.loads(index_path.read_text())
    if index.get("suite") != [str(d) for d in suite_dirs] or index.get("reader") != READER:
        index = {"suite": [str(d) for d in suite_dirs], "reader": READER, "tests": {}}
    patterns = [p.strip() for p in pattern.split(",") if p.strip()]
    tests = []
    for directory in sorted((p for d in suite_dirs for p in d.iterdir() if (p / "model.onnx").is_file()),
                            key=lambda p: p.name):
        if patterns and not any(fnmatch.fnmatchcase(directory.name, p) for p in patterns):
            continue
        if directory.name not in index["tests"]:
            test = read_test(directory, data_dir / directory.name)
            index["tests"][directory.name] = _as_json(test)
        test = _from_json(index["tests"][directory.name])
        if test is not None and test.opset <= max_opset:
            tests.append(test)
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = index_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(index))
    tmp.replace(index_path)
    if patterns and not tests:
        raise ConfigError(f"no node test at opset <= {max_opset} matches {pattern!r}", where="--tests",
                          hint=f"names as in {suite_dirs[0]} (e.g. test_relu, 'test_gru_*')")
    return tests


def _as_json(test: NodeTest | None):
    if test is None:
        return None
    return {"name": test.name, "model": str(test.model), "opset": test.opset, "ops": list(test.ops),
            "inputs": [[n, str(p)] for n, p in test.inputs], "outputs": [[n, str(p)] for n, p in test.outputs],
            "problem": test.problem, "problem_class": test.problem_class}


def _from_json(raw) -> NodeTest | None:
    if raw is None:
        return None
    return NodeTest(name=raw["name"], model=Path(raw["model"]), opset=raw["opset"], ops=tuple(raw["ops"]),
                    inputs=tuple((n, Path(p)) for n, p in raw["inputs"]),
                    outputs=tuple((n, Path(p)) for n, p in raw["outputs"]), problem=raw["problem"],
                    problem_class=raw.get("problem_class", "NotFeedable"))
