"""Many requests of one stage in one env, served by one stage process (stages/_batch.py), behind the
same content-addressed cache as a single run (StageRunner): a cached request is not run again, and
requests with the same key run once.

A request that hangs past `item_timeout` or kills the process is recorded as failed (StageTimeout, or
the process's death) and the rest go on in a new process: one bad model never costs the batch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from torch2tf import atomic, proc
from torch2tf.envs import store as envs
from torch2tf.errors import StageError
from torch2tf.run.stagerun import STAGE_ENV, Artifact, StageRun, StageRunner, _death, failure_of, output_problem


@dataclass(frozen=True)
class Request:
    inputs: dict            # key -> Artifact | Path
    params: dict


@dataclass
class Outcome:
    run: StageRun | None = None
    error: StageError | None = None


@dataclass
class _Pending:
    key: str
    entry: Path
    tmp: Path

    @property
    def out_dir(self) -> Path:
        return self.tmp / "out"


def run_batch(runner: StageRunner, stage: str, env_name: str, requests: list[Request],
              item_timeout: float = 300.0) -> list[Outcome]:
    """One Outcome per request, in order."""
    keys = [runner.key(stage, env_name, r.inputs, r.params) for r in requests]
    done: dict[str, Outcome] = {}
    pending: dict[str, _Pending] = {}
    for key, request in zip(keys, requests):
        if key in done or key in pending:
            continue
        entry = runner._entry(stage, key)
        if not runner.fresh and runner._intact(entry):
            done[key] = Outcome(run=runner._load(stage, env_name, key, entry, 0.0, cached=True))
            continue
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=entry.parent))
        item = _Pending(key, entry, tmp)
        item.out_dir.mkdir()
        body = {"stage": stage, "output_dir": str(item.out_dir), "params": request.params,
                "inputs": {k: str(v.path if isinstance(v, Artifact) else v) for k, v in request.inputs.items()}}
        (tmp / "request.json").write_text(json.dumps(body, indent=2, default=str))
        pending[key] = item
    try:
        if pending:
            done.update(_serve(runner, stage, env_name, list(pending.values()), item_timeout))
    finally:
        for item in pending.values():
            shutil.rmtree(item.tmp, ignore_errors=True)
    return [done[k] for k in keys]


def _serve(runner: StageRunner, stage: str, env_name: str, items: list[_Pending],
           item_timeout: float) -> dict[str, Outcome]:
    spec, env = runner._env(env_name)
    envs.build(spec, runner.settings)
    outcomes: dict[str, Outcome] = {}
    work = Path(tempfile.mkdtemp(prefix=f".batch-{stage}-", dir=runner.settings.store / "cache"))
    try:
        rest = items
        while rest:
            progress = work / "progress.json"
            progress.unlink(missing_ok=True)
            batch = {"stage": stage, "requests": [str(i.tmp / "request.json") for i in rest], "progress": str(progress)}
            (work / "batch.json").write_text(json.dumps(batch))
            log = work / "batch.log"
            timed_out = False
            harvest = _Harvest(runner, stage, env_name, rest, progress, outcomes)
            try:
                code = proc.run([env.python, runner.settings.stages_dir / "_batch.py", work / "batch.json"],
                                env=env.environ(STAGE_ENV), cwd=work, log_path=log,
                                stalled=lambda: harvest() or _stalled(progress, item_timeout)).returncode
            except subprocess.TimeoutExpired:
                code, timed_out = -9, True
            current = _current(progress)
            left = []
            for index, item in enumerate(rest):
                if item.key in outcomes:        # harvested while the process ran
                    continue
                result = StageRunner._result(item.out_dir)
                if result:
                    outcomes[item.key] = _outcome(runner, stage, env_name, item, result)
                elif index == current:      # the request that hung or took the process down
                    outcomes[item.key] = Outcome(error=_lost(runner, stage, env_name, item, code, timed_out,
                                                             item_timeout, log))
                else:
                    left.append(item)
            if current is None and left:    # the process died before serving anything: nothing to retry
                error = StageError(f"the batch process for stage {stage} failed before its first request: "
                                   f"{_death(code, log)}\n{proc.tail(log)}", where=f"stage batch, env {env_name}",
                                   log=log, stage=stage, env=env_name, hint="a torch2tf bug, or a broken env: "
                                   f"`invoke env.build --name {env_name} --fresh`")
                outcomes.update({i.key: Outcome(error=error) for i in left})
                left = []
            rest = left
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return outcomes


class _Harvest:
    """Publishes the requests a running batch process has finished (those before the one it serves now)
    into the cache as they finish, so that a run killed halfway keeps them: a rerun takes them from
    the cache instead of converting hundreds of models again."""

    def __init__(self, runner: StageRunner, stage: str, env_name: str, items: list[_Pending], progress: Path,
                 outcomes: dict[str, Outcome]):
        self.args = (runner, stage, env_name)
        self.items, self.progress, self.outcomes, self.next = items, progress, outcomes, 0

    def __call__(self) -> bool:
        current = _current(self.progress)
        while current is not None and self.next < current:
            item = self.items[self.next]
            result = StageRunner._result(item.out_dir)
            if result and item.key not in self.outcomes:
                self.outcomes[item.key] = _outcome(*self.args, item, result)
            self.next += 1
        return False


def _stalled(progress: Path, item_timeout: float) -> bool:
    try:
        started = json.loads(progress.read_text())["started"]
    except (OSError, ValueError, KeyError):
        return False
    return time.time() - started > item_timeout


def _current(progress: Path) -> int | None:
    try:
        return int(json.loads(progress.read_text())["index"])
    except (OSError, ValueError, KeyError):
        return None


def _outcome(runner: StageRunner, stage: str, env_name: str, item: _Pending, result: dict) -> Outcome:
    if result.get("status") != "ok":
        return Outcome(error=failure_of(stage, env_name, result, 1, runner._keep_failed(stage, item.out_dir, item.key)))
    problem = output_problem(stage, env_name, item.out_dir, result)
    if problem:
        return Outcome(error=problem)
    atomic.replace_dir(item.out_dir, item.entry)
    return Outcome(run=runner._load(stage, env_name, item.key, item.entry, 0.0, cached=False))


def _lost(runner: StageRunner, stage: str, env_name: str, item: _Pending, code: int, timed_out: bool,
          item_timeout: float, batch_log: Path) -> StageError:
    """The request the process was serving when it hung or died."""
    log = runner._keep_failed(stage, item.out_dir, item.key)
    if timed_out:
        return StageError(f"stage {stage} did not finish within {item_timeout:g} s and was stopped\n"
                          f"{proc.tail(log, 8)}",
                          where=f"stage {stage}, env {env_name}", log=log, error_class="StageTimeout",
                          stage=stage, env=env_name, hint="a converter that never returns on this model")
    return failure_of(stage, env_name, {}, code, log if log.exists() and log.stat().st_size else batch_log)
