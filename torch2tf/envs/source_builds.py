"""Packages a model's requirements take from their sdists (published as source only).

Each is built into a wheel once, when its lock is written: with the stack's own interpreter, from the
sdist whose hash uv resolved, and reproducibly (its build requirements as of the lock's date, every
file stamped with that date through SOURCE_DATE_EPOCH), so that another machine building the same
sdist gets the same bytes. The wheel must come out pure Python: a package that compiles code is
refused by name (its build would depend on each machine's compiler and headers). The wheel is kept in
the store (<store>/wheels/) and the lock names it by its own hash, with a `# torch2tf-wheel` line that
says which sdist it was built from and as of when: an env build on a machine without the wheel builds
it again that way and installs it only when it is the very wheel the lock names.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from torch2tf import proc
from torch2tf.envs import package_index
from torch2tf.errors import ConfigError, EnvError
from torch2tf.hosttools import uv_bin

# what a failed build says when it needed a compiler or C headers
COMPILER_SIGNS = re.compile(r"(gcc|g\+\+|clang|cc1|\bcc\b|Python\.h|command '.*' failed|Microsoft Visual C\+\+|"
                            r"unable to execute|error: command)", re.I)
_LINE = re.compile(r"^# torch2tf-wheel (\S+)==(\S+) file=(\S+) sdist-sha256=([0-9a-f]{64}) as-of=(\d{4}-\d\d-\d\d)$", re.M)


@dataclass(frozen=True)
class SdistWheel:
    """A wheel the lock names that torch2tf builds from an sdist."""
    name: str
    version: str
    file: str                  # the wheel's file name in the store
    sdist_sha256: str
    as_of: str                 # YYYY-MM-DD: build requirements as of then, files stamped with it

    def line(self) -> str:
        return (f"# torch2tf-wheel {self.name}=={self.version} file={self.file} sdist-sha256={self.sdist_sha256} "
                f"as-of={self.as_of}")


def named_in(lock_text: str) -> list[SdistWheel]:
    return [SdistWheel(*m) for m in _LINE.findall(lock_text)]


def lock_block(lock_text: str, name: str) -> str | None:
    """`name==version` with its --hash lines, as the lock writes it (names compare PEP 503-normalized)."""
    wanted = package_index.normalized(name)
    for block in re.split(r"\n(?=\S)", lock_text):
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", block)
        if m and package_index.normalized(m.group(1)) == wanted:
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


def build_wheel(name: str, sdist_sha256: str, python: Path, as_of: str, out_dir: Path) -> tuple[Path | None, str | None]:
    """Build the sdist of `name` with this hash into out_dir; (wheel, None) or (None, why not)."""
    with tempfile.TemporaryDirectory(prefix="torch2tf-sdist-") as tmp:
        try:
            sdist = package_index.download(name, sdist_sha256, Path(tmp))
        except OSError as exc:
            return None, f"its sdist could not be fetched ({exc})"
        stamp = calendar.timegm(time.strptime(as_of, "%Y-%m-%d"))
        argv = [uv_bin(), "build", "--wheel", str(sdist), "--out-dir", str(Path(tmp) / "dist"), "--python", str(python),
                "--exclude-newer", f"{as_of}T00:00:00Z", "--no-config"]
        result = proc.run(argv, env=proc.clean_env(overrides={"SOURCE_DATE_EPOCH": str(stamp)}), capture=True)
        wheel = next((Path(tmp) / "dist").glob("*.whl"), None)
        metadata = None
        if result.returncode == 0 and wheel is not None:
            with zipfile.ZipFile(wheel) as zf:
                info = next((n for n in zf.namelist() if n.endswith(".dist-info/WHEEL")), None)
                metadata = zf.read(info).decode() if info else None
        why = verdict(result.returncode, result.stdout + result.stderr, metadata)
        if why:
            return None, why
        out_dir.mkdir(parents=True, exist_ok=True)
        kept = out_dir / wheel.name
        staged = out_dir / f".{wheel.name}.{os.getpid()}"
        shutil.copyfile(wheel, staged)
        os.replace(staged, kept)          # whole or absent: builders may race for one file
        return kept, None


def build_into_lock(names: list[str], lock_text: str, python: Path, as_of: str, wheels: Path, where: str) -> tuple[str, list[str]]:
    """Build each source-only package of a fresh lock; the lock's text naming the wheels instead of the
    sdists, and the pins built. Raises ConfigError naming the package and why when one needs a compiler
    or does not build."""
    built = []
    for name in names:
        block = lock_block(lock_text, name)
        if block is None:
            continue                       # not needed after all (another release of its dependant)
        pinned = block.split()[0]
        version = pinned.split("==", 1)[1]
        sdist_hash = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        wheel, why = build_wheel(name, sdist_hash[0], python, as_of, wheels) if len(sdist_hash) == 1 \
            else (None, f"its lock names {len(sdist_hash)} source files, not one")
        if why:
            raise ConfigError(f"{pinned} is published as source only, and {why}", where=where,
                              hint=f"torch2tf takes only pure-Python sdists; pin a release of {name} that has a "
                                   "wheel for this stack's Python, or another release of the library that needs it")
        entry = SdistWheel(pinned.split("==")[0], version, wheel.name, sdist_hash[0], as_of)
        lock_text = (lock_text.replace(f"--hash=sha256:{sdist_hash[0]}", f"--hash=sha256:{_sha256(wheel)}")
                     .replace(f"--no-binary {name}\n", ""))
        head, _, body = lock_text.partition("\n\n")
        lock_text = f"{head}\n{entry.line()}\n\n{body}"
        built.append(pinned)
    return lock_text, built


def ensure_wheels(lock_text: str, python: Path, wheels: Path, where: str) -> list[str]:
    """Every wheel the lock names as built from an sdist, in the store: built again where missing and
    checked against the lock's hash. Returns the file names built now."""
    made = []
    for entry in named_in(lock_text):
        block = lock_block(lock_text, entry.name) or ""
        wanted = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
        kept = wheels / entry.file
        if kept.is_file() and _sha256(kept) in wanted:
            continue
        wheel, why = build_wheel(entry.name, entry.sdist_sha256, python, entry.as_of, wheels)
        if why:
            raise EnvError(f"{entry.name}=={entry.version} is built from its sdist, and {why}", where=where,
                           hint="check the network to the package index and the build log above")
        got = _sha256(wheel)
        if got not in wanted:
            wheel.unlink()
            raise EnvError(f"the wheel built here from {entry.name}=={entry.version}'s sdist (sha256 {got[:12]}...) is "
                           f"not the one its lock names ({', '.join(h[:12] + '...' for h in sorted(wanted))}): its build "
                           "is not reproducible on this machine", where=where,
                           hint="lock the config again on this machine (delete the lock and run it), and commit the new lock")
        made.append(wheel.name)
    return made


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
