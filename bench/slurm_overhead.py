"""Issue #14: the reduced matrix's wall time with `--executor local` against `--executor slurm` on the
same machine (a real single-node Slurm started from tests/slurm_cluster.py), and the scheduler's
overhead per job. The stage cache is warmed first, so what differs is the scheduling, not the work;
the two executors alternate, each run into a fresh artifacts dir (every cell runs).

    python bench/slurm_overhead.py [--repeats 3] [--models focus,multihead] [--targets tf1.4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import slurm_cluster  # noqa: E402
from _common import record, stats  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def matrix(artifacts: Path, cluster, models: str, targets: str, *extra: str) -> float:
    env = {**os.environ, "INVOKE_TORCH2TF_ARTIFACTS": str(artifacts), **cluster.env}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "invoke", "matrix", "--models", models, "--targets", targets, *extra],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"matrix {extra} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="focus,multihead")
    ap.add_argument("--targets", default="tf1.4")
    args = ap.parse_args()
    why = slurm_cluster.available()
    if why:
        raise SystemExit(why)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cluster = slurm_cluster.Cluster(tmp / "cluster").start()
        try:
            matrix(tmp / "warm", cluster, args.models, args.targets, "--jobs", "2")      # the stage cache
            cells = len(list((tmp / "warm" / "matrix" / "cells").glob("*.json")))
            local, on_slurm = [], []
            for n in range(args.repeats):
                local.append(matrix(tmp / f"local{n}", cluster, args.models, args.targets, "--jobs", "2"))
                on_slurm.append(matrix(tmp / f"slurm{n}", cluster, args.models, args.targets,
                                       "--executor", "slurm", "--max-jobs", "2"))
                print(f"run {n}: local {local[-1]:.1f} s, slurm {on_slurm[-1]:.1f} s ({cells} cells)", flush=True)
        finally:
            cluster.stop()
    lo, sl = stats(local), stats(on_slurm)
    per_job = round((sl["median"] - lo["median"]) / cells, 2)
    print(f"local {lo['median']} s, slurm {sl['median']} s, overhead per job {per_job} s", flush=True)
    record("slurm_overhead", {"cells": cells, "models": args.models, "targets": args.targets, "local_s": lo,
                              "slurm_s": sl, "overhead_per_job_s": per_job, "parallel": 2})


if __name__ == "__main__":
    main()
