"""Finding a Python X.Y for an environment, in the order DESIGN.md gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from torch2tf import proc
from torch2tf.errors import EnvError
from torch2tf.settings import Settings

_PROBE = "import sys, json; print(json.dumps(list(sys.version_info[:3])))"


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: str      # full "3.6.15": part of an env's identity
    source: str       # which lookup found it, for messages


def probe_version(path: Path) -> str | None:
    """The interpreter's full version, or None if it does not run."""
    try:
        out = proc.run([path, "-c", _PROBE], env=proc.clean_env(), capture=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return ".".join(str(x) for x in json.loads(out.stdout))


def _pyenv_candidates(minor: str) -> list[Path]:
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        try:
            root = proc.run(["pyenv", "root"], capture=True).stdout.strip()
        except OSError:
            root = None
    root = Path(root) if root else Path.home() / ".pyenv"
    found = []
    for d in (root / "versions").glob(f"{minor}.*"):
        patch = d.name[len(minor) + 1:]
        if patch.isdigit() and (d / "bin" / "python").exists():
            found.append((int(patch), d / "bin" / "python"))
    return [p for _, p in sorted(found, reverse=True)]


def _conda_candidates(conda: str, minor: str) -> list[Path]:
    """An env named torch2tf-python<X.Y> that holds only that python."""
    try:
        out = proc.run([conda, "env", "list", "--json"], capture=True, timeout=120)
        envs = json.loads(out.stdout).get("envs", [])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []
    return [Path(e) / "bin" / "python" for e in envs if Path(e).name == f"torch2tf-python{minor}"]


def _uv_candidates(minor: str) -> list[Path]:
    from torch2tf.hosttools import uv_bin
    try:
        out = proc.run([uv_bin(), "python", "find", "--no-project", minor], capture=True, timeout=60)
    except OSError:
        return []
    return [Path(out.stdout.strip())] if out.returncode == 0 and out.stdout.strip() else []


def find_interpreter(minor: str, settings: Settings) -> Interpreter:
    """First interpreter of version `minor` ("3.6") from: invoke.yaml, conda, pyenv, uv, PATH."""
    lookups = [("invoke.yaml torch2tf.envs.interpreters", lambda: [Path(settings.interpreters[minor])]
                if minor in settings.interpreters else [])]
    if settings.conda:
        lookups.append((f"conda env torch2tf-python{minor} ({settings.conda})",
                        lambda: _conda_candidates(settings.conda, minor)))
    lookups += [
        ("pyenv versions", lambda: _pyenv_candidates(minor)),
        (f"uv python find {minor}", lambda: _uv_candidates(minor)),
        (f"python{minor} on PATH", lambda: [Path(p)] if (p := shutil.which(f"python{minor}")) else []),
    ]
    tried = []
    for source, candidates in lookups:
        paths = candidates()
        for path in paths:
            version = probe_version(path)
            if version and version.rsplit(".", 1)[0] == minor:
                return Interpreter(path=path, version=version, source=source)
            tried.append(f"{source}: {path} ({'runs ' + version if version else 'does not run'})")
        if not paths:
            tried.append(f"{source}: none")
    raise EnvError(
        f"no Python {minor} interpreter found",
        where="interpreter lookup: " + "; ".join(tried),
        hint=(f"install one (`pyenv install {minor}`, `uv python install {minor}`, or "
              f"`conda create -n torch2tf-python{minor} python={minor}` with torch2tf.conda set), "
              f"or set torch2tf.envs.interpreters.\"{minor}\" in invoke.yaml to its path"))
