"""Locating the uv binary that the host install brought along."""

from __future__ import annotations

import shutil

from torch2tf.errors import EnvError


def uv_bin() -> str:
    try:
        from uv import find_uv_bin   # the `uv` PyPI package ships the binary
        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if not found:
        raise EnvError("uv is not installed", where="host environment",
                       hint="`pip install -e .` installs it (it is a dependency of torch2tf)")
    return found
