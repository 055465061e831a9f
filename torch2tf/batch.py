"""`invoke batch`: many pipeline configs in one go, as a lab server's nightly run does.

Every config is read and checked before anything runs (a typo in the tenth config must not surface
an hour in); the pipelines then run in parallel over the shared stage cache, each publishing its own
artifacts/<name>/; one config's failure never stops the rest. artifacts/batch.json holds the outcome.
"""

from __future__ import annotations

import functools
import glob
import json
import time
from pathlib import Path
from typing import Callable

from torch2tf import atomic, routing
from torch2tf.configs.compat import load_compat
from torch2tf.configs.config import load_config, no_target
from torch2tf.errors import ConfigError, Torch2TFError
from torch2tf.executors import Executor
from torch2tf.run.pipeline import Options, run_pipeline
from torch2tf.settings import Settings
from torch2tf.slurm import LOST


def expand(patterns: list[str]) -> list[Path]:
    """Config paths from paths and globs, in the order given, each once."""
    paths: list[Path] = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern] if Path(pattern).exists() else []
        if not found:
            raise ConfigError(f"no config matches {pattern!r}", where="--configs",
                              hint="give YAML paths or quoted globs, e.g. --configs 'configs/*.yaml'")
        for p in map(Path, found):
            if p.resolve() not in [q.resolve() for q in paths] and p.name != "compat.yaml":
                paths.append(p)
    return paths


def check(paths: list[Path], settings: Settings, target: str | None) -> None:
    """Every config valid, its target known, and no two writing the same artifacts/<name>/."""
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    owners: dict[str, Path] = {}
    for path in paths:
        cfg = load_config(path)
        if not (target or cfg.target):
            raise no_target(str(path), compat.targets)
        routes = compat.routes(target or cfg.target, routing.export_stack(compat, cfg))
        if cfg.route and cfg.route not in [r.name for r in routes]:
            compat.route(target or cfg.target, cfg.route)      # raises, naming the routes there are
        if cfg.name in owners:
            raise ConfigError(f"two configs are both named {cfg.name!r}: {owners[cfg.name]} and {path}",
                              where=str(path), hint="give each config its own name: (it is the artifacts folder)")
        owners[cfg.name] = path


def run_one(path: Path, settings: Settings, target: str | None, fresh: bool) -> dict:
    started = time.time()
    row = {"config": str(path)}
    try:
        rep = run_pipeline(path, settings, Options(target=target, fresh=fresh, echo=lambda _: None))
        row.update(name=rep.name, status=rep.status.value, target=rep.target, route=rep.route,
                   route_reason=rep.route_reason, report=str(settings.artifacts_dir / rep.name / "report.json"),
                   max_abs_diff=rep.verify.max_abs_diff)
    except Torch2TFError as exc:
        row.update(name=load_config(path).name, status="failed", error=exc.as_dict())
    except Exception as exc:  # noqa: BLE001 - one config's bug must not lose the other rows
        row.update(name=path.stem, status="failed",
                   error={"class": "InternalError", "message": f"{type(exc).__name__}: {exc}", "where": str(path),
                          "hint": "a torch2tf bug: please report it with this config", "log": None})
    row["seconds"] = round(time.time() - started, 2)
    return row


def lost_row(path: Path, why: str) -> dict:
    """A config whose Slurm job the scheduler killed: not a conversion failure, and a re-run redoes it."""
    return {"config": str(path), "name": load_config(path).name, "status": LOST, "seconds": 0.0,
            "error": {"class": "SchedulerKilled", "message": why, "where": "Slurm",
                      "hint": "run the batch again: configs that finished come from the stage cache in seconds",
                      "log": None}}


def run_batch(patterns: list[str], settings: Settings, *, target: str | None = None, jobs: int = 1,
              fresh: bool = False, echo: Callable[[str], None] = print, executor: Executor | None = None) -> dict:
    executor = executor or Executor("local", jobs)
    paths = expand(patterns)
    check(paths, settings, target)
    echo(f"batch: {len(paths)} configs, {executor.describe()}")
    started = time.time()

    def done(n: int, path: Path, row: dict) -> None:
        detail = (f"{row['target']} via {row['route']}, max abs {row['max_abs_diff']:.1e}" if row["status"] == "passed"
                  else f"{row['error']['class']}: {row['error']['message'].splitlines()[0][:120]}")
        echo(f"[{n}/{len(paths)}] {row['name']:<20} {row['status']:<6} {detail} ({row['seconds']:.0f}s)")

    rows = executor.run_all(paths, functools.partial(run_one, settings=settings, target=target, fresh=fresh), done,
                            echo, lost_row, settings)
    summary = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(time.time() - started, 1),
               **executor.record(), "passed": sum(r["status"] == "passed" for r in rows), "runs": rows}
    atomic.write_text(settings.artifacts_dir / "batch.json", json.dumps(summary, indent=2) + "\n")
    return summary


def render(summary: dict) -> str:
    lines = [f"{summary['passed']}/{len(summary['runs'])} configs passed in {summary['seconds']:.0f}s"]
    for r in summary["runs"]:
        if r["status"] in ("failed", LOST):
            e = r["error"]
            lines.append(f"  {r['status'].upper()} {r['name']} ({r['config']}): {e['class']}\n"
                         f"    where: {e['where']}\n    what to do: {e['hint']}" + (f"\n    log: {e['log']}" if e["log"] else ""))
    return "\n".join(lines)
