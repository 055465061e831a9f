"""Programs that torch2tf's own install brings (uv, conda-lock), found in the running interpreter's
environment, never looked up on PATH: CI and the README call `.venv/bin/invoke` without activating
the venv, so PATH holds whatever else the machine has (or nothing of ours)."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from torch2tf.errors import EnvError


def _scripts_dirs() -> list[Path]:
    """Where pip put this interpreter's console scripts: the venv's bin/ (sys.executable may be a
    symlink out of it, so its unresolved parent first), then sysconfig's scripts dir."""
    dirs = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    return list(dict.fromkeys(dirs))


def host_tool(name: str) -> str:
    """The path of console script `name` installed beside this interpreter, else a clear error."""
    for d in _scripts_dirs():
        if (d / name).is_file():
            return str(d / name)
    raise EnvError(f"{name} is not installed beside this Python ({sys.executable})", where="host environment",
                   hint="install torch2tf with its dependencies: `.venv/bin/pip install -e .`")


def uv_bin() -> str:
    try:
        from uv import (
            find_uv_bin,  # the `uv` PyPI package ships the binary inside the package
        )
        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return host_tool("uv")
