"""The layout's promises: no import cycle in torch2tf/, short functions, one source for stack versions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from torch2tf.configs.compat import load_compat
from torch2tf.envs.specs import load_spec
from torch2tf.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "torch2tf"
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every torch2tf module this one imports, at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n in known}
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (cycle := visit(m)):
                return cycle
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (cycle := visit(n)):
            return cycle
    return None


def test_no_import_cycle_in_the_package():
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: imports_of(p, set(files)) - {m} for m, p in files.items()}
    # a package's __init__ is not a dependency of its modules here: they are empty
    assert all(not files[m].read_text().strip() for m in files if files[m].name == "__init__.py" and m != "torch2tf")
    assert find_cycle(graph) is None, find_cycle(graph)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("folder", ["torch2tf", "stages"])
def test_no_function_over_60_lines(folder):
    long = []
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, long


def test_stack_versions_come_from_the_env_specs():
    compat = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")
    for name, stack in compat.stacks.items():
        spec = load_spec(ROOT / "envs" / f"{name}.yml")
        assert stack["python"] == spec.python
        assert stack["onnx"] == spec.pinned("onnx")
        assert stack.get("tensorflow") in (spec.pinned("tensorflow"), spec.pinned("tensorflow-cpu"))


def test_a_version_written_into_compat_yaml_is_refused(tmp_path):
    text = (ROOT / "configs" / "compat.yaml").read_text().replace(
        "tf14:     {max_ir: 3, max_opset: 7}", "tf14:     {tensorflow: 1.5.0, max_ir: 3, max_opset: 7}")
    (tmp_path / "compat.yaml").write_text(text)
    with pytest.raises(ConfigError, match="unknown key 'tensorflow'"):
        load_compat(tmp_path / "compat.yaml", ROOT / "envs")


def test_core_names_no_env():
    """Env names live in envs/ and compat.yaml; the core reads them from there."""
    envs = {p.stem for p in (ROOT / "envs").glob("*.yml")}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in envs and node.value != "onnx2tf":
                pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno} names env {node.value!r}")
