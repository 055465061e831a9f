"""Where the jobs of `invoke batch` and `invoke matrix` run: threads here (`local`, the default) or
one Slurm array task each (`slurm`). Both take work(item) -> result and call done(n, item, result)
on this host as results arrive; only Slurm can lose a job (the scheduler killed it), and then
lost(item, why) stands in for its result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from torch2tf import parallel, slurm
from torch2tf.envs import store as envs
from torch2tf.envs.specs import load_specs
from torch2tf.errors import ConfigError
from torch2tf.settings import Settings
from torch2tf.slurm import SlurmSettings

T = TypeVar("T")
R = TypeVar("R")
KINDS = ("local", "slurm")


@dataclass(frozen=True)
class Executor:
    kind: str = "local"
    jobs: int = 1                        # local: threads at once
    slurm: SlurmSettings = SlurmSettings()
    folder: Path | None = None           # slurm: submitit's job folder (scripts, logs, results)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"unknown executor {self.kind!r}", where="--executor", hint=f"one of {', '.join(KINDS)}")

    def record(self) -> dict:
        """What batch.json and matrix results.json say about where the jobs ran."""
        return {"executor": self.kind, "jobs": self.jobs if self.kind == "local" else None}

    def describe(self) -> str:
        return f"{self.jobs} in parallel" if self.kind == "local" else \
            f"on Slurm (up to {self.slurm.max_jobs} jobs at once)"

    def run_all(self, items: Sequence[T], work: Callable[[T], R], done: Callable[[int, T, R], None],
                echo: Callable[[str], None], lost: Callable[[T, str], R], settings: Settings) -> list[R]:
        if self.kind == "local":
            return parallel.run_all(items, work, self.jobs, done)
        settings.check_store()
        _build_envs(settings, echo)
        return slurm.run_all(items, work, done, self.folder, self.slurm, echo, lost)


def _build_envs(settings: Settings, echo: Callable[[str], None]) -> None:
    """Every env, built here once before any job starts (a no-op when built): otherwise the first
    jobs would each wait on one node's build of the same env."""
    for name, spec in load_specs(settings.envs_dir).items():
        env, created = envs.build(spec, settings)
        if created:
            echo(f"slurm: built env {name} in the store for the jobs: {env.path}")
