"""The single way torch2tf starts a subprocess: an argv list, never a shell string."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

log = logging.getLogger("torch2tf")

# Variables that would make a stage env's interpreter import the host's packages.
_LEAKY_VARS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONSTARTUP")


def clean_env(extra_path: Path | None = None, overrides: Mapping[str, str] | None = None) -> dict:
    """The host environment minus what leaks into another interpreter; `extra_path` goes first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_VARS}
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    env.update(overrides or {})
    return env


def run(argv: Sequence[str | os.PathLike], *, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, log_path: Path | None = None,
        capture: bool = False, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run argv to completion; output goes to `log_path` (appended) or is captured.

    Never raises on a non-zero exit: callers turn the code into a Torch2TFError that names
    what was running and where its log is.
    """
    argv = [os.fspath(a) for a in argv]
    log.debug("run: %s", shlex.join(argv))
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as fh:
            fh.write(f"$ {shlex.join(argv)}\n".encode())
            fh.flush()
            return subprocess.run(argv, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout)
    if capture:
        return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)
    return subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, timeout=timeout)


def tail(path: Path, lines: int = 15) -> str:
    """Last lines of a log, for error messages."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])
