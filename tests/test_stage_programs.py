"""The stage programs run under Python 3.6 (TF 1.4): they must compile there."""

from pathlib import Path

import pytest

from torch2tf.envs.interpreters import find_interpreter
from torch2tf.errors import EnvError
from torch2tf.proc import run
from torch2tf.settings import Settings

STAGES = sorted((Path(__file__).resolve().parent.parent / "stages").glob("*.py"))


def test_stage_files_exist():
    names = {p.stem for p in STAGES}
    assert {"_protocol", "export", "adapt", "convert", "verify", "inspect_graph", "probe"} <= names


@pytest.mark.parametrize("path", STAGES, ids=lambda p: p.name)
def test_stage_compiles_with_python36(path, tmp_path):
    try:
        py36 = find_interpreter("3.6", Settings())
    except EnvError as exc:
        pytest.fail(f"Python 3.6 is required to check the stages: {exc}")
    out = run([py36.path, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
               path, tmp_path / "x.pyc"], capture=True)
    assert out.returncode == 0, out.stderr


def test_no_stage_shadows_stdlib():
    import sys
    assert not ({p.stem for p in STAGES} & set(sys.stdlib_module_names))
