"""Where things live: the project's envs/configs and the shared store, from invoke.yaml and env vars."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCK_PLATFORM = "x86_64-manylinux_2_28"


def default_store() -> Path:
    if os.environ.get("TORCH2TF_STORE"):
        return Path(os.environ["TORCH2TF_STORE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "torch2tf"


@dataclass(frozen=True)
class Settings:
    root: Path = PROJECT_ROOT
    store: Path = field(default_factory=default_store)
    interpreters: Mapping[str, str] = field(default_factory=dict)   # "3.6" -> /path/to/python
    conda: str | None = None                                        # conda/micromamba executable
    installer: str | None = None                                    # uv | pip; default uv, else pip
    platform: str = LOCK_PLATFORM
    artifacts: Path | None = None

    @property
    def artifacts_dir(self) -> Path:
        return self.artifacts or self.root / "artifacts"

    @property
    def matrix_dir(self) -> Path:
        """`invoke matrix`'s results, cells and reports."""
        return self.artifacts_dir / "matrix"

    @property
    def envs_dir(self) -> Path:
        return self.root / "envs"

    @property
    def locks_dir(self) -> Path:
        return self.envs_dir / "locks"

    @property
    def stages_dir(self) -> Path:
        return self.root / "stages"

    @property
    def configs_dir(self) -> Path:
        return self.root / "configs"

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any] | None) -> "Settings":
        """Build from invoke's `torch2tf:` config section; TORCH2TF_STORE beats invoke.yaml."""
        cfg = dict(cfg or {})
        store = default_store() if os.environ.get("TORCH2TF_STORE") or not cfg.get("store") \
            else Path(str(cfg["store"])).expanduser()
        return cls(root=Path(cfg.get("root") or PROJECT_ROOT), store=store,
                   interpreters={str(k): str(v) for k, v in (cfg.get("interpreters") or {}).items()},
                   conda=cfg.get("conda") or None, installer=cfg.get("installer") or None,
                   artifacts=Path(str(cfg["artifacts"])).expanduser() if cfg.get("artifacts") else None)
