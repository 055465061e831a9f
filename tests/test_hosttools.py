"""Host tools come from torch2tf's own install, whatever PATH holds (CI does not activate the venv)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from torch2tf import hosttools
from torch2tf.errors import EnvError


def test_tools_are_found_beside_the_interpreter_with_an_empty_path(monkeypatch):
    monkeypatch.setenv("PATH", "")
    for name in ("conda-lock", "invoke"):
        found = Path(hosttools.host_tool(name))
        assert found.parent == Path(sys.executable).parent and os.access(found, os.X_OK)
    assert Path(hosttools.uv_bin()).is_file()


def test_a_missing_tool_names_the_interpreter_and_the_install_command():
    with pytest.raises(EnvError) as err:
        hosttools.host_tool("no-such-tool-torch2tf")
    assert sys.executable in str(err.value) and "pip install -e ." in err.value.hint


def test_conda_lock_runs_under_a_bare_path(tmp_path):
    """The real lookup path of `invoke env.lock --conda`, in a process whose PATH has no venv."""
    code = "from torch2tf.hosttools import host_tool; import subprocess, sys; " \
           "sys.exit(subprocess.run([host_tool('conda-lock'), '--version']).returncode)"
    out = subprocess.run([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "conda-lock" in (out.stdout + out.stderr).lower()
