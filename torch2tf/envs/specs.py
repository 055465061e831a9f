"""Environment specs: envs/<name>.yml in conda's environment.yml format, read strictly.

A spec is `python=X.Y`, `pip`, and a `pip:` list of exact pins plus the binary policy
(`--only-binary=:all:`, `--no-binary=<pkg>` for the few packages that have no wheel).
Conda/pip read the same file; torch2tf locks and installs it with uv.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from torch2tf.digests import json_digest
from torch2tf.errors import ConfigError
from torch2tf.strict import check_keys, load_yaml

_ALLOWED_KEYS = {"name", "channels", "dependencies"}
_PYTHON = re.compile(r"^python\s*=\s*(\d+\.\d+)$")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9_,.-]+\])?==([A-Za-z0-9.+!-]+)$")
_OPTION = re.compile(r"^--(only-binary|no-binary)[= ](\S+)$")


@dataclass(frozen=True)
class EnvSpec:
    name: str
    path: Path
    python: str                       # "3.6"
    requirements: tuple[str, ...]     # "tensorflow==1.4.1", in file order
    build_options: tuple[str, ...]    # "--only-binary=:all:", "--no-binary=gast"
    lock_dir: Path | None = None      # where its lock lives; None: envs/locks/ (see envs/extras.py)
    extends: str | None = None        # the spec it adds packages to (a model's requirements)

    @property
    def digest(self) -> str:
        """Digest of what the spec asks for (not its YAML bytes): drives `env.lock --check`."""
        return json_digest({"python": self.python, "requirements": sorted(self.requirements),
                            "options": list(self.build_options)})

    def requirements_in(self) -> str:
        """The pip list as a requirements file, the input of `uv pip compile`."""
        return "\n".join(self.build_options + self.requirements) + "\n"

    def pinned(self, package: str) -> str | None:
        """The version the spec pins for `package`, or None."""
        want = normalize(package)
        for req in self.requirements:
            m = _PIN.match(req)
            if m and normalize(m.group(1)) == want:
                return m.group(3)
        return None


def is_pin(entry: str) -> bool:
    return bool(_PIN.match(entry))


def pinned_name(entry: str) -> str:
    return normalize(_PIN.match(entry).group(1))


def normalize(package: str) -> str:
    return re.sub(r"[-_.]+", "-", package).lower()


def load_spec(path: Path) -> EnvSpec:
    where = str(path)
    data = check_keys(load_yaml(path), _ALLOWED_KEYS, where)
    deps = data.get("dependencies")
    if not isinstance(deps, list):
        raise ConfigError("`dependencies` must be a list", where=f"{where}: dependencies")
    python = None
    pip_list = None
    for item in deps:
        if isinstance(item, dict):
            if set(item) != {"pip"} or not isinstance(item["pip"], list):
                raise ConfigError(f"unexpected dependency entry {item!r}", where=f"{where}: dependencies",
                                  hint="only a `pip:` list may be nested")
            pip_list = item["pip"]
        elif isinstance(item, str) and _PYTHON.match(item.strip()):
            python = _PYTHON.match(item.strip()).group(1)
        elif item == "pip":
            continue
        else:
            raise ConfigError(f"unsupported conda dependency {item!r}", where=f"{where}: dependencies",
                              hint="torch2tf installs from PyPI: keep only `python=X.Y`, `pip` and the `pip:` list")
    if python is None:
        raise ConfigError("no `python=X.Y` in dependencies", where=f"{where}: dependencies")
    if not pip_list:
        raise ConfigError("no `pip:` list of pinned packages", where=f"{where}: dependencies")
    reqs, opts = [], []
    for entry in pip_list:
        entry = str(entry).strip()
        if _OPTION.match(entry):
            kind, value = _OPTION.match(entry).groups()
            opts.append(f"--{kind}={value}")
        elif _PIN.match(entry):
            reqs.append(entry)
        else:
            raise ConfigError(f"pip entry {entry!r} is not an exact pin", where=f"{where}: dependencies.pip",
                              hint="write `package==version`; the lock carries the transitive pins")
    return EnvSpec(name=path.stem, path=path, python=python,
                   requirements=tuple(reqs), build_options=tuple(opts))


def load_specs(envs_dir: Path) -> dict[str, EnvSpec]:
    specs = {p.stem: load_spec(p) for p in sorted(envs_dir.glob("*.yml"))}
    if not specs:
        raise ConfigError(f"no environment specs (*.yml) in {envs_dir}", where=str(envs_dir))
    return specs
