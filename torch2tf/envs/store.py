"""Locked stage environments: built once per (lock, interpreter), shared, never left half-built.

Layout of the store:
    <store>/envs/<name>-<digest12>/        a finished env (holds MARKER)
    <store>/envs/.build-<name>-<digest12>-<pid>/   a build in progress (renamed when done)
    <store>/locks/<name>-<digest12>.lock   the per-env file lock
    <store>/logs/<name>-<digest12>.log     the build log
    <store>/wheels/                        wheels built from sdists that locks name (source_builds)
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from torch2tf import atomic, proc
from torch2tf.digests import json_digest
from torch2tf.envs import installers, source_builds
from torch2tf.envs.interpreters import Interpreter, find_interpreter
from torch2tf.envs.locks import Lock, is_current, require_current
from torch2tf.envs.specs import EnvSpec, load_spec, load_specs
from torch2tf.errors import EnvError
from torch2tf.settings import Settings

SCHEMA = "1"              # bump when the layout of a built env changes
MARKER = ".torch2tf-env.json"


@dataclass(frozen=True)
class Env:
    name: str
    path: Path
    digest: str

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def environ(self, overrides: dict | None = None) -> dict:
        """Host environment cleaned for this env; its bin/ first (onnx2tf runs `onnxsim` as a program)."""
        return proc.clean_env(self.path / "bin", overrides)

    def is_built(self) -> bool:
        return (self.path / MARKER).is_file()


def env_digest(lock: Lock, interp: Interpreter) -> str:
    """Identity of a built env: the pins, the exact interpreter version, the layout schema."""
    return json_digest({"lock": lock.digest, "python": interp.version, "schema": SCHEMA}, 12)


def _paths(settings: Settings, name: str, digest: str) -> tuple[Path, Path, Path]:
    stem = f"{name}-{digest}"
    return (settings.store / "envs" / stem, settings.store / "locks" / f"{stem}.lock",
            settings.store / "logs" / f"{stem}.log")


def resolve(spec: EnvSpec, settings: Settings) -> tuple[Env, Lock, Interpreter]:
    """Where the env of this spec lives (built or not), from its current lock and interpreter."""
    lock = require_current(spec, settings)
    interp = find_interpreter(spec.python, settings)
    digest = env_digest(lock, interp)
    path, _, _ = _paths(settings, spec.name, digest)
    return Env(name=spec.name, path=path, digest=digest), lock, interp


def build(spec: EnvSpec, settings: Settings, *, fresh: bool = False) -> tuple[Env, bool]:
    """Ensure the env exists; returns (env, created). Safe against concurrent builders and kills."""
    env, lock, interp = resolve(spec, settings)
    if env.is_built() and not fresh:
        return env, False
    _, lock_file, log_path = _paths(settings, spec.name, env.digest)
    with atomic.file_lock(lock_file, what=f"building env {spec.name}"):
        if env.is_built() and not fresh:          # another builder finished while we waited
            return env, False
        _remove_leftovers(env)
        tmp = env.path.with_name(f".build-{env.path.name}-{os.getpid()}")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("")
        started = time.time()
        installer = installers.pick(settings.installer)
        try:
            _install(tmp, env.path, lock, interp, log_path, spec, installer, settings.store)
            marker = {"name": spec.name, "digest": env.digest, "python": interp.version, "installer": installer,
                      "interpreter": str(interp.path), "lock": str(lock.path), "lock_digest": lock.digest,
                      "schema": SCHEMA, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "build_seconds": round(time.time() - started, 1)}
            atomic.write_text(tmp / MARKER, json.dumps(marker, indent=2) + "\n")   # last, then rename
            atomic.replace_dir(tmp, env.path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return env, True


def _remove_leftovers(env: Env) -> None:
    """Called under the env's lock: any build dir or unmarked env dir is a killed build."""
    for stale in env.path.parent.glob(f".build-{env.path.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if env.path.exists() and not env.is_built():
        shutil.rmtree(env.path, ignore_errors=True)


def _install(target: Path, final: Path, lock: Lock, interp: Interpreter, log_path: Path, spec: EnvSpec,
             installer: str, store: Path) -> None:
    wheels = None
    if source_builds.named_in(lock.text):       # wheels torch2tf builds from sdists: in the store first
        wheels = store / "wheels"
        source_builds.ensure_wheels(lock.text, interp.path, wheels, where=f"env {spec.name} ({lock.path.name})")
    code = installers.install(installer, interp.path, lock.path, target, final, log_path, find_links=wheels)
    if code is not None:
        raise EnvError(f"building env {spec.name!r} with {installer} failed (exit {code}):\n{proc.tail(log_path)}",
                       where=f"env {spec.name} ({lock.path.name}, Python {interp.version})",
                       hint="read the log; if a package has no wheel for this Python, change its pin "
                            "and run `invoke env.lock`", log=log_path)


def get(name: str, settings: Settings) -> Env:
    """The built env for a spec name, building it if needed."""
    spec_path = settings.envs_dir / f"{name}.yml"
    if not spec_path.exists():
        known = sorted(p.stem for p in settings.envs_dir.glob("*.yml"))
        raise EnvError(f"no environment spec named {name!r}", where=str(spec_path),
                       hint=f"known envs: {', '.join(known)}")
    env, _ = build(load_spec(spec_path), settings)
    return env


def dir_size(path: Path) -> int:
    """Bytes on disk, each inode once (uv hardlinks from its cache)."""
    seen, total = set(), 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def status(settings: Settings) -> list[dict]:
    """One row per spec: name, python, digest, size, state (built / missing / stale / unlocked)."""
    rows = []
    for name, spec in load_specs(settings.envs_dir).items():
        row = {"name": name, "python": spec.python, "digest": "-", "size_mb": None, "path": None}
        if not is_current(spec, settings):
            row["state"] = "unlocked" if not (settings.locks_dir / f"{name}.{settings.platform}.txt").exists() \
                else "stale-lock"
            rows.append(row)
            continue
        try:
            env, _, interp = resolve(spec, settings)
        except EnvError:
            row["state"] = "no-python"
            rows.append(row)
            continue
        row.update(python=interp.version, digest=env.digest, path=str(env.path))
        if env.is_built():
            row.update(state="built", size_mb=round(dir_size(env.path) / 2**20))
        else:
            others = [p for p in (settings.store / "envs").glob(f"{name}-*") if (p / MARKER).exists()]
            row["state"] = "stale" if others else "missing"
        rows.append(row)
    return rows


def prune(settings: Settings, *, dry_run: bool = False) -> list[Path]:
    """Remove env dirs that no current spec + lock + interpreter resolves to."""
    keep = set()
    for spec in load_specs(settings.envs_dir).values():
        try:
            keep.add(resolve(spec, settings)[0].path.name)
        except EnvError:
            continue
    removed = []
    envs_root = settings.store / "envs"
    for path in sorted(envs_root.glob("*")) if envs_root.exists() else []:
        name = path.name
        if name.startswith(".build-"):
            name = name[len(".build-"):].rsplit("-", 1)[0]
        if name in keep and not path.name.startswith(".build-"):
            continue
        lock_file = settings.store / "locks" / f"{name}.lock"
        if not dry_run:
            with atomic.file_lock(lock_file, what=f"pruning env {name}"):   # never pull an env from under a running build
                if path.exists():
                    shutil.rmtree(path)
            lock_file.unlink(missing_ok=True)
        removed.append(path)
    return removed


def run_in(name: str, command: str, settings: Settings) -> int:
    """Run a shell-like command line inside a built env (for debugging); returns its exit code."""
    env = get(name, settings)
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise EnvError(f"cannot split the command line: {exc}", where=f"env {name}",
                       hint="quote it as a shell would, e.g. \"python -c 'import tensorflow'\"") from None
    if not argv:
        raise EnvError("empty command", where=f"env {name}", hint='e.g. invoke env.run --name tf14 "python -V"')
    if argv[0] in ("python", "python3"):
        argv[0] = str(env.python)
    try:
        return proc.run(argv, env=env.environ()).returncode
    except FileNotFoundError:
        raise EnvError(f"no program {argv[0]!r} in env {name} or on PATH", where=f"env {name} ({env.path})",
                       hint=f"see what the env has: invoke env.run --name {name} \"python -m pip list\"") from None
