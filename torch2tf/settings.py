"""Where things live: the project's envs/configs and the shared store, from invoke.yaml and env vars."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCK_PLATFORM = "x86_64-manylinux_2_28"
DEFAULT_STAGE_TIMEOUT = 3600.0      # generous: a cold TF 1.x convert of a big net takes minutes, not an hour


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
    stage_timeout: float = DEFAULT_STAGE_TIMEOUT                    # seconds one stage process may take

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
                   artifacts=Path(str(cfg["artifacts"])).expanduser() if cfg.get("artifacts") else None,
                   stage_timeout=_seconds(cfg.get("stage_timeout"), "torch2tf.stage_timeout"))

    def check_store(self) -> None:
        """The store is a directory this process can write (TORCH2TF_STORE may point anywhere)."""
        from torch2tf.errors import ConfigError
        try:
            self.store.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.store):
                pass
        except OSError as exc:
            raise ConfigError(f"the store {self.store} is not a writable directory: {exc.strerror}",
                              where="TORCH2TF_STORE / torch2tf.store in invoke.yaml",
                              hint="point it at a directory (default ~/.cache/torch2tf)") from None


def _seconds(value, where: str) -> float:
    if value is None:
        return DEFAULT_STAGE_TIMEOUT
    from torch2tf.errors import ConfigError
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds >= 1:
        raise ConfigError(f"{where} must be a number of seconds >= 1, got {value!r}", where=where)
    return seconds
