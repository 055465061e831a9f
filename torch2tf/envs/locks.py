"""Hashed locks of the env specs: every transitive pin, per spec and platform, under envs/locks/."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from torch2tf import atomic, proc
from torch2tf.envs.interpreters import find_interpreter
from torch2tf.envs.specs import EnvSpec
from torch2tf.errors import EnvError
from torch2tf.hosttools import host_tool, uv_bin
from torch2tf.settings import Settings

_HEADER = re.compile(r"^# torch2tf-lock spec=([0-9a-f]{64}) python=(\S+) platform=(\S+)$")


@dataclass(frozen=True)
class Lock:
    path: Path
    spec_digest: str
    python: str
    platform: str
    text: str

    @property
    def digest(self) -> str:
        """Digest of the pins and hashes only: comments and uv's header do not change an env."""
        body = [ln.strip() for ln in self.text.splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
        return hashlib.sha256("\n".join(body).encode()).hexdigest()

    def pins(self) -> dict[str, str]:
        return dict(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", self.text, re.M))


def pip_ordered(text: str) -> str:
    """`--only-binary :all:` before the `--no-binary X` exceptions: pip applies them in order (a
    later :all: cancels an earlier exception), uv reads either; so the lock also works with pip."""
    lines = text.splitlines()
    opts = sorted((ln for ln in lines if ln.startswith("--")), key=lambda ln: not ln.startswith("--only-binary"))
    return "\n".join(opts + [ln for ln in lines if not ln.startswith("--")]) + "\n"


def lock_path(spec: EnvSpec, settings: Settings) -> Path:
    return (spec.lock_dir or settings.locks_dir) / f"{spec.name}.{settings.platform}.txt"


def read_lock(spec: EnvSpec, settings: Settings) -> Lock:
    path = lock_path(spec, settings)
    if not path.exists():
        raise EnvError(f"env {spec.name!r} has no lock for {settings.platform}", where=str(path),
                       hint=f"run `invoke env.lock --name {spec.name}` and commit the lock")
    text = path.read_text()
    m = _HEADER.match(text.splitlines()[0] if text else "")
    if not m:
        raise EnvError("lock file has no torch2tf header (was it written by hand?)", where=str(path),
                       hint=f"regenerate it with `invoke env.lock --name {spec.name}`")
    return Lock(path=path, spec_digest=m.group(1), python=m.group(2), platform=m.group(3), text=text)


def is_current(spec: EnvSpec, settings: Settings) -> bool:
    """True when the lock exists and was made from the spec as it is now."""
    try:
        return read_lock(spec, settings).spec_digest == spec.digest
    except EnvError:
        return False


def require_current(spec: EnvSpec, settings: Settings) -> Lock:
    lock = read_lock(spec, settings)
    if lock.spec_digest != spec.digest:
        raise EnvError(f"the lock of env {spec.name!r} no longer matches its spec", where=str(lock.path),
                       hint=f"run `invoke env.lock --name {spec.name}` and commit the new lock")
    return lock


class ResolutionFailed(EnvError):
    """uv found no set of versions: `reasons` is its explanation, a few readable lines."""

    def __init__(self, message: str, reasons: list[str], **kw):
        super().__init__(message, **kw)
        self.reasons = reasons


FAR_FUTURE = "2100-01-01T00:00:00Z"


def uv_reasons(stderr: str, limit: int = 5) -> list[str]:
    """uv's page-long resolution failure as at most `limit` lines: its "Because ..." sentences, without
    the box drawing and its hints (which name uv's flags, not a config's keys)."""
    text = stderr.split("╰─▶", 1)[1] if "╰─▶" in stderr else stderr
    paragraphs, current = [], []
    for raw in text.splitlines():
        line = re.sub(r"^(cause:|Caused by:)\s*", "", raw.strip().lstrip("×╰─▶ ").strip())
        if line.startswith(("error:", "No solution found")):
            continue
        if not line or line.startswith("hint:"):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            if line.startswith("hint:"):
                break
            continue
        current.append(line)
    if current:
        paragraphs.append(" ".join(current))
    sentences = [s.strip() for p in paragraphs for s in re.split(r"(?<=\.)\s+(?=And because|Because|So |we can)", p) if s.strip()]
    return [s if len(s) <= 300 else s[:297] + "..." for s in sentences[:limit]] or [stderr.strip()[:300]]


def lock(spec: EnvSpec, settings: Settings, *, log_path: Path | None = None, constraints: str = "",
         made_by: str = "", exclude_newer: str | None = None, exempt: tuple[str, ...] = (),
         from_source: tuple[str, ...] = ()) -> Lock:
    """Resolve the spec with uv for its python and platform and write the hashed lock atomically.
    `constraints` (pip constraints text) holds packages to the versions given when they are needed;
    `exclude_newer` (YYYY-MM-DD) takes only what was published before it, `exempt` packages aside."""
    interp = find_interpreter(spec.python, settings)   # builds sdist metadata with the real target python
    path = lock_path(spec, settings)
    with tempfile.TemporaryDirectory() as tmp:
        req_in = Path(tmp) / f"{spec.name}.in"
        # from_source: packages published as sdists only, built from them (pip's --no-binary exception)
        req_in.write_text("".join(f"--no-binary={name}\n" for name in from_source) + spec.requirements_in())
        out = Path(tmp) / "lock.txt"
        argv = [uv_bin(), "pip", "compile", str(req_in), "-o", str(out), "--quiet",
                "--python", str(interp.path), "--python-version", spec.python,
                "--python-platform", settings.platform, "--generate-hashes", "--emit-build-options",
                "--no-header", "--annotation-style", "line"]
        if constraints:
            (Path(tmp) / "constraints.txt").write_text(constraints)
            argv += ["--constraint", str(Path(tmp) / "constraints.txt")]
        if exclude_newer:
            argv += ["--exclude-newer", f"{exclude_newer}T00:00:00Z"]
            for name in exempt:
                argv += ["--exclude-newer-package", f"{name}={FAR_FUTURE}"]
        result = proc.run(argv, env=proc.clean_env(), capture=True)
        if result.returncode != 0:
            if log_path:
                atomic.write_text(log_path, result.stdout + result.stderr)
            if "No solution found" in result.stderr:
                raise ResolutionFailed(f"uv could not lock env {spec.name!r}", uv_reasons(result.stderr),
                                       where=str(spec.path), hint="relax or change a pin")
            raise EnvError(f"uv could not lock env {spec.name!r}:\n{result.stderr.strip()[-3000:]}",
                           where=str(spec.path),
                           hint="relax or change a pin in the spec; a package with no wheel needs "
                                "`--no-binary=<package>` in the pip list")
        default_by = f"`invoke env.lock --name {spec.name}`"
        header = (f"# torch2tf-lock spec={spec.digest} python={spec.python} platform={settings.platform}\n"
                  f"# generated by {made_by or default_by} from {spec.path.name}; do not edit\n")
        atomic.write_text(path, header + pip_ordered(out.read_text()))
    return read_lock(spec, settings)


def conda_lock(spec: EnvSpec, settings: Settings, *, platforms: tuple[str, ...] = ("linux-64",)) -> Path:
    """Lock the spec with conda-lock, for machines that reach conda channels."""
    out = settings.locks_dir / f"{spec.name}.conda-lock.yml"
    tmp = out.with_name(f".{out.name}.tmp")
    argv = [host_tool("conda-lock"), "lock", "--file", str(spec.path), "--lockfile", str(tmp)]
    for p in platforms:
        argv += ["--platform", p]
    try:
        result = proc.run(argv, env=proc.clean_env(), capture=True, timeout=900)
    except subprocess.TimeoutExpired:
        result = None
    if result is None or result.returncode != 0:
        tmp.unlink(missing_ok=True)
        detail = (result.stderr or result.stdout).strip()[-1500:] if result else "timed out after 900 s"
        raise EnvError(
            f"conda-lock could not lock env {spec.name!r}: it needs a conda/mamba/micromamba executable "
            f"and reachable conda channels, and this machine has neither\n{detail}",
            where=str(spec.path),
            hint="run `invoke env.lock --conda` on a machine that reaches conda channels; "
                 "the uv locks in envs/locks/ work without conda")
    tmp.replace(out)
    return out
