"""A model's extra packages (`model.requirements` in a config): an env that extends the export env.

The extended spec is the base spec's pins plus the model's, named after the base and a digest of the
extra pins (torch17-plus-1a2b3c4d5e). Its hashed lock is resolved with the base lock as constraints,
so every package the base pins keeps its version, and is written beside the config
(<config dir>/locks/), to be committed with it like every other lock. It is built into the store
like any env, under its own digest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from torch2tf import atomic
from torch2tf.digests import json_digest
from torch2tf.envs import locks
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


def ensure_lock(spec: EnvSpec, settings: Settings, say=print) -> None:
    """Lock the extended spec when it has no current lock, its base's pins as constraints."""
    if locks.is_current(spec, settings):
        return
    base_spec = load_spec(settings.envs_dir / f"{spec.extends}.yml")
    base = locks.require_current(base_spec, settings)
    constraints = "".join(f"{name}=={version}\n" for name, version in sorted(base.pins().items()))
    extra = ", ".join(spec.requirements[len(base_spec.requirements):])
    with atomic.file_lock(settings.store / "locks" / f"lock-{spec.name}.lock", what=f"locking env {spec.name}"):
        if locks.is_current(spec, settings):
            return
        say(f"locking env {spec.name}: {spec.extends} + {extra}")
        locks.lock(spec, settings, constraints=constraints,
                   made_by=f"torch2tf for model.requirements ({spec.extends} + {extra})")
    say(f"wrote {locks.lock_path(spec, settings)}: commit it beside the config")
