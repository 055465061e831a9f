"""`--executor slurm`: the jobs of `invoke batch` / `invoke matrix` as one Slurm job array, through submitit.

The same contract as parallel.run_all: work(item) runs inside the job (on a node, against the same
checkout and store, which must be on a filesystem every node sees), done(n, item, result) runs here on
the submitting host as each job's result arrives. What submitit cannot tell without Slurm accounting
(sacct) is read from squeue: a job that left the queue without a result was killed by the scheduler
(scancel, time limit, preemption, node failure) and is reported as LOST, never as a failure of its
item. Ctrl-C (or SIGTERM) cancels every job not yet finished.
"""

from __future__ import annotations

import functools
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from torch2tf import proc
from torch2tf.errors import ConfigError, Torch2TFError

T = TypeVar("T")
R = TypeVar("R")
LOST = "lost"                 # a result's status when the scheduler killed its job
GRACE_SECONDS = 15.0          # a job gone from squeue may still be writing its result file


@dataclass(frozen=True)
class SlurmSettings:
    """invoke.yaml `torch2tf.slurm`, each overridable on the command line."""
    partition: str | None = None
    account: str | None = None
    time_min: int = 60            # per job (one config or one matrix cell)
    cpus: int = 1
    mem_gb: float = 4.0
    max_jobs: int = 16            # array tasks running at once
    extra: dict = field(default_factory=dict)   # more sbatch options, e.g. {"qos": "low"}
    poll_seconds: float = 2.0

    @classmethod
    def from_config(cls, raw: dict | None, where: str = "invoke.yaml: torch2tf.slurm") -> "SlurmSettings":
        raw = dict(raw or {})
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"unknown Slurm setting(s) {', '.join(unknown)}", where=where,
                              hint=f"known: {', '.join(cls.__dataclass_fields__)}")
        return cls(**{k: v for k, v in raw.items() if v is not None})


def _executor(folder: Path, s: SlurmSettings):
    try:
        import submitit
    except ImportError:
        raise ConfigError("--executor slurm needs submitit", where="--executor",
                          hint="pip install -e . (submitit is a dependency of torch2tf)") from None
    executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    params = {"name": "torch2tf", "timeout_min": int(s.time_min), "cpus_per_task": int(s.cpus),
              "mem_gb": float(s.mem_gb), "slurm_array_parallelism": int(s.max_jobs)}
    if s.partition:
        params["slurm_partition"] = s.partition
    if s.account:
        params["slurm_account"] = s.account
    if s.extra:
        params["slurm_additional_parameters"] = dict(s.extra)
    executor.update_parameters(**params)
    return executor


def in_job(work: Callable[[T], R], item: T) -> R:
    """What each Slurm job runs: Ctrl-C-like signals (scancel sends SIGTERM) stop the stage process
    groups as they do locally, then the job ends without a result and counts as lost."""
    proc.install_signal_handlers()
    return work(item)


def queue_states(job_ids: Sequence[str]) -> dict[str, str]:
    """squeue's view of these jobs: {"12_3": "PENDING" | "RUNNING" | ...}, keyed as submitit names
    them ("12_3" for an array task, "12" for a one-task array); absent = left the queue."""
    array_ids = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%F %K %T", "--jobs", ",".join(array_ids)],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Torch2TFError(f"squeue did not answer: {exc}", where="--executor slurm",
                            hint="is slurmctld up? `sinfo` should answer") from None
    if out.returncode and "Invalid job id" not in out.stderr:
        raise Torch2TFError(f"squeue failed: {out.stderr.strip()[:300]}", where="--executor slurm",
                            hint="is slurmctld up? `sinfo` should answer")
    states = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            array_id, task, state = parts
            states[f"{array_id}_{task}"] = state
            states.setdefault(array_id, state)      # submitit's id for a one-task array
    return {j: states[j] for j in job_ids if j in states}


def run_all(items: Sequence[T], work: Callable[[T], R], done: Callable[[int, T, R], None], folder: Path,
            slurm: SlurmSettings, echo: Callable[[str], None], lost: Callable[[T, str], R]) -> list[R]:
    """work(item) as one Slurm array task per item; done() here as results arrive. A task the
    scheduler killed gives lost(item, why) instead of a result."""
    if not items:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    executor = _executor(folder, slurm)
    try:
        jobs = executor.map_array(functools.partial(in_job, work), list(items))
    except Exception as exc:  # noqa: BLE001 - submitit raises sbatch's refusal (or a missing sbatch) as it comes
        raise Torch2TFError(f"Slurm refused the jobs: {str(exc).strip()[:600]}", where="sbatch (--executor slurm)",
                            hint="check invoke.yaml torch2tf.slurm (partition, account, mem_gb, cpus, time_min) "
                                 "against `sinfo`; SLURM_CONF must point at the cluster") from None
    echo(f"slurm: submitted {len(jobs)} jobs as array {jobs[0].job_id.split('_')[0]} (logs: {folder})")
    results: dict[int, R] = {}
    try:
        _wait(jobs, items, results, done, slurm, echo, lost)
    except BaseException:
        _cancel([j for i, j in enumerate(jobs) if i not in results], echo)
        raise
    return [results[i] for i in range(len(items))]


def _wait(jobs, items, results, done, slurm: SlurmSettings, echo, lost) -> None:
    gone_since: dict[int, float] = {}
    last = None
    while len(results) < len(jobs):
        states = queue_states([j.job_id for j in jobs])
        for i, job in enumerate(jobs):
            if i in results:
                continue
            if job.paths.result_pickle.exists():
                results[i] = _result(job, items[i], lost)
            elif job.job_id not in states:
                first = gone_since.setdefault(i, time.monotonic())
                if time.monotonic() - first > GRACE_SECONDS:
                    results[i] = lost(items[i], f"Slurm job {job.job_id} left the queue without a result "
                                                f"(cancelled, time limit, preemption or node failure); log: "
                                                f"{job.paths.stderr}")
            else:
                gone_since.pop(i, None)
            if i in results:
                done(len(results), items[i], results[i])
        counts = _counts(states, len(results))
        if counts != last:
            echo(f"slurm: {counts}")
            last = counts
        if len(results) < len(jobs):
            time.sleep(slurm.poll_seconds)


def _result(job, item, lost):
    try:
        return job.result()
    except Exception as exc:    # noqa: BLE001 - submitit re-raises the job's own error, or a lost job's
        return lost(item, f"Slurm job {job.job_id} ended without a result: {str(exc).splitlines()[0][:300]}")


def _counts(states: dict[str, str], finished: int) -> str:
    queued = sum(1 for s in states.values() if s in ("PENDING", "CONFIGURING", "REQUEUED"))
    running = sum(1 for s in states.values() if s in ("RUNNING", "COMPLETING"))
    return f"{queued} queued, {running} running, {finished} done"


def _cancel(jobs, echo: Callable[[str], None]) -> None:
    if not jobs:
        return
    ids = sorted({j.job_id for j in jobs})
    echo(f"slurm: cancelling {len(ids)} unfinished jobs (scancel)")
    # plain subprocess: after Ctrl-C proc.run refuses to start anything, but scancel must run
    subprocess.run(["scancel", *ids], capture_output=True, timeout=60)
