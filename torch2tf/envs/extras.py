"""A model's extra packages (`model.requirements` in a config): an env that extends the export env.

The extended spec is the base spec's pins plus the model's, named after the base and a digest of the
extra pins (torch17-plus-1a2b3c4d5e). Its hashed lock holds the base spec's own pins exactly (what the
export needs: torch, numpy, onnx ...), resolves the rest as of the library's release or the stack's
era, and is written beside the config (<config dir>/locks/), to be committed with it like every other
lock. It is built into the store like any env, under its own digest.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from pathlib import Path

from torch2tf import atomic
from torch2tf.digests import json_digest
from torch2tf.envs import locks, package_index, source_builds
from torch2tf.envs.interpreters import find_interpreter
from torch2tf.envs.release_dates import resolve_as_of
from torch2tf.envs.specs import EnvSpec, load_spec, pinned_name
from torch2tf.errors import ConfigError
from torch2tf.settings import Settings


@dataclass(frozen=True)
class Extension:
    """What a config adds to a base env: enough to name the env and, on the host, to lock and build it."""
    base: str                          # the env spec extended (the route's export env)
    packages: tuple[str, ...]          # exact pins, e.g. ("scipy==1.5.4",)
    lock_dir: Path                     # <config dir>/locks
    where: str                         # the config key, for messages
    era: str | None = None             # YYYY-MM-DD: resolve as of this date (the stack's, compat.yaml)

    @property
    def name(self) -> str:
        return f"{self.base}-plus-{json_digest(sorted(self.packages), 10)}"


def extended_spec(ext: Extension, settings: Settings) -> EnvSpec:
    """The base spec with the extra pins; a package the base already pins is refused (one version)."""
    base = load_spec(settings.envs_dir / f"{ext.base}.yml")
    for entry in ext.packages:
        if base.pinned(pinned_name(entry)):
            raise ConfigError(f"{entry!r} is pinned by the export env already ({pinned_name(entry)}=="
                              f"{base.pinned(pinned_name(entry))} in {base.path.name})", where=ext.where,
                              hint="drop it from model.requirements; the export env's version is the one used")
    return dataclasses.replace(base, name=ext.name, requirements=base.requirements + tuple(ext.packages),
                               lock_dir=ext.lock_dir, extends=ext.base)


def extension_locked(ext: Extension, settings: Settings) -> bool:
    return locks.is_current(extended_spec(ext, settings), settings)


def ensure_lock(spec: EnvSpec, settings: Settings, say=print, era: str | None = None,
                where: str = "model.requirements") -> bool:
    """Lock the extended spec when it has no current lock. It is resolved against what the export needs
    of the stack, the base spec's own pins (torch, torchvision, numpy, onnx, onnxruntime, protobuf ...),
    which it holds exactly, not against every transitive pin of the base lock (requests' idna): the
    model's library gets what it declares. As of the stack's era, so that old code gets the packages
    of its time; the stack's and the config's own pins are exempt. True when it wrote a lock."""
    if locks.is_current(spec, settings):
        return False
    base_spec = load_spec(settings.envs_dir / f"{spec.extends}.yml")
    extra = spec.requirements[len(base_spec.requirements):]
    with atomic.file_lock(settings.store / "locks" / f"lock-{spec.name}.lock", what=f"locking env {spec.name}"):
        if locks.is_current(spec, settings):
            return False
        as_of, why = resolve_as_of(era, [(pinned_name(r), r.split("==", 1)[1]) for r in extra if _is_pin(r)])
        say(f"locking env {spec.name}: {spec.extends} + {', '.join(extra)}" + (f", as of {as_of} ({why})" if as_of else ""))
        started = time.perf_counter()
        from_source: list[str] = []
        while True:
            try:
                locks.lock(spec, settings, exclude_newer=as_of, from_source=tuple(from_source),
                           exempt=tuple(pinned_name(r) for r in spec.requirements if _is_pin(r)),
                           made_by=f"torch2tf for model.requirements ({spec.extends} + {', '.join(extra)})")
                break
            except locks.ResolutionFailed as exc:
                only_sdist = _sdist_only(exc.reasons)
                wheels = _wheels_elsewhere(exc.reasons, only_sdist) if only_sdist else []
                if wheels:
                    raise ConfigError(f"model.requirements {', '.join(extra)} cannot be installed beside the "
                                      f"{spec.extends} stack: {only_sdist} has wheels, none for its Python "
                                      f"{spec.python} on {settings.platform} (they are for {', '.join(wheels)})",
                                      where=where, hint=_hint(exc.reasons, base_spec)) from None
                if only_sdist and only_sdist not in from_source and len(from_source) < MAX_FROM_SOURCE:
                    say(f"  {only_sdist} is published as source only: built from its sdist with the stack's Python")
                    from_source.append(only_sdist)
                    continue
                raise ConfigError(f"model.requirements {', '.join(extra)} cannot be installed beside the "
                                  f"{spec.extends} stack:\n" + "\n".join(f"  {line}" for line in exc.reasons),
                                  where=where, hint=_hint(exc.reasons, base_spec)) from None
        if from_source:
            path = locks.lock_path(spec, settings)
            try:
                text, built = source_builds.build_into_lock(
                    from_source, path.read_text(), find_interpreter(spec.python, settings).path,
                    as_of or time.strftime("%Y-%m-%d", time.gmtime()), settings.store / "wheels", where)
            except ConfigError:
                path.unlink(missing_ok=True)       # a lock naming a package that will not install: none
                if not any(path.parent.iterdir()):
                    path.parent.rmdir()
                raise
            atomic.write_text(path, text)
            say(f"  built from source with Python {spec.python}, pure Python, kept in the store: {', '.join(built)}")
    say(f"wrote {locks.lock_path(spec, settings)} in {time.perf_counter() - started:.0f}s: commit it beside the config")
    return True


MAX_FROM_SOURCE = 12


def _sdist_only(reasons: list[str]) -> str | None:
    """The package uv could not take because it has no wheels, from its explanation."""
    m = re.search(r"(?:all versions of|only) ([A-Za-z0-9][A-Za-z0-9._-]*)(?:[=<>!~]=?\S+)? (?:have|has) no usable wheels",
                  " ".join(reasons)) or re.search(r"\b([A-Za-z0-9][A-Za-z0-9._-]*)==\S+ has no usable wheels", " ".join(reasons))
    return m.group(1).lower() if m else None


def _wheels_elsewhere(reasons: list[str], name: str) -> list[str]:
    """The Python tags of the wheels the named release does have (uv says "no usable wheels" alike for
    a source-only package and for one whose wheels are all for other Pythons): [] when it has none."""
    m = re.search(rf"\b{re.escape(name)}==(\S+) has no usable wheels", " ".join(reasons), re.I)
    if not m:
        return []
    files = package_index.release_files(name, m.group(1), package_index.files(name))
    return sorted({f["filename"].split("-")[-3] for f in files if f["filename"].endswith(".whl")})


def _is_pin(requirement: str) -> bool:
    return not requirement.startswith("-") and "==" in requirement


def _hint(reasons: list[str], base: EnvSpec) -> str:
    """What to change: a stack pin named in the conflict cannot move; another version of the library can."""
    text = " ".join(reasons)
    held = [r for r in base.requirements if _is_pin(r) and re.search(rf"\b{re.escape(pinned_name(r))}\b", text, re.I)]
    stack = f" (the stack holds {', '.join(held)})" if held else ""
    return (f"pin another release of the library in model.requirements, one written for this stack{stack}, or set "
            "model.torch to a stack it was written for")
