"""Packages a model's requirements take from their sdists (published as source only): each is built once
when its lock is written, with the stack's own interpreter and the lock's hashes, and must come out pure
Python. A package that compiles code is refused by name: its build would depend on each machine's
compiler and headers, and a stage env must install the same everywhere from its lock.

uv keeps the built wheel in its cache under the sdist's hash (the one the lock pins), so the env build
that follows installs it without building again.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from torch2tf import proc
from torch2tf.errors import ConfigError
from torch2tf.hosttools import uv_bin

# what a failed build says when it needed a compiler or C headers
COMPILER_SIGNS = re.compile(r"(gcc|g\+\+|clang|cc1|\bcc\b|Python\.h|command '.*' failed|Microsoft Visual C\+\+|"
                            r"unable to execute|error: command)", re.I)


def lock_block(lock_text: str, name: str) -> str | None:
    """`name==version` with its --hash lines, as the lock writes it (names compare PEP 503-normalized)."""
    wanted = _normalized(name)
    for block in re.split(r"\n(?=\S)", lock_text):
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", block)
        if m and _normalized(m.group(1)) == wanted:
            return "\n".join(line for line in block.splitlines() if not line.strip().startswith("#"))
    return None


def verdict(returncode: int, output: str, wheel_metadata: str | None) -> str | None:
    """Why the package cannot be taken from source, or None when it built into a pure-Python wheel."""
    if returncode != 0:
        sign = next((line.strip() for line in output.splitlines() if COMPILER_SIGNS.search(line)), None)
        if sign:
            return f"it compiles code (its build failed: {sign[:160]})"
        last = [line.strip() for line in output.splitlines() if line.strip()][-1:] or ["no output"]
        return f"its build failed ({last[0][:160]})"
    if wheel_metadata is None:
        return "its build left no wheel metadata"
    pure = re.search(r"^Root-Is-Purelib:\s*true\s*$", wheel_metadata, re.M | re.I)
    if not pure:
        tags = ", ".join(re.findall(r"^Tag:\s*(\S+)", wheel_metadata, re.M)) or "a platform tag"
        return f"it compiles code (its wheel is {tags}, not pure Python)"
    return None


def check_pure(names: list[str], lock_text: str, python: Path, where: str) -> list[str]:
    """Build each source-only package of the lock once with the stack's interpreter; the pins built.
    Raises ConfigError naming the package and why when one needs a compiler or does not build."""
    built = []
    for name in names:
        block = lock_block(lock_text, name)
        if block is None:
            continue                       # not needed after all (another release of its dependant)
        with tempfile.TemporaryDirectory(prefix="torch2tf-sdist-") as tmp:
            req = Path(tmp) / "req.txt"
            req.write_text(block + "\n")
            argv = [uv_bin(), "pip", "install", "--no-deps", "--require-hashes", "--no-binary", name,
                    "--python", str(python), "--target", str(Path(tmp) / "site"), "-r", str(req)]
            result = proc.run(argv, env=proc.clean_env(), capture=True)
            wheel = next((Path(tmp) / "site").glob("*.dist-info/WHEEL"), None)
            why = verdict(result.returncode, result.stdout + result.stderr, wheel.read_text() if wheel else None)
        pinned = block.split()[0]
        if why:
            raise ConfigError(f"{pinned} is published as source only, and {why}", where=where,
                              hint=f"torch2tf takes only pure-Python sdists; pin a release of {name} that has a "
                                   "wheel for this stack's Python, or another release of the library that needs it")
        built.append(pinned)
    return built


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
