"""Item 4: the reduced matrix (focus, multihead x tf1.4, tf1.13) with --jobs 1 and --jobs 2 on this
machine, the stage cache holding only the exports (every other stage entry removed before each run).

    python bench/matrix_scaling.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

from torch2tf.settings import PROJECT_ROOT, Settings  # noqa: E402

KEEP = {"export", "locks"}


def clear_all_but_exports(store: Path) -> None:
    for d in (store / "cache").iterdir() if (store / "cache").exists() else []:
        if d.name not in KEEP:
            shutil.rmtree(d)


def run(jobs: int, artifacts: Path) -> float:
    env = dict(os.environ, INVOKE_TORCH2TF_ARTIFACTS=str(artifacts))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invoke", "matrix", "--models", "focus,multihead", "--targets", "tf1.4,tf1.13",
                    "--jobs", str(jobs), "--fresh"], cwd=PROJECT_ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    store = Settings().store
    with tempfile.TemporaryDirectory() as tmp:
        times = {}     # (exports: cached by any earlier run of these cells, e.g. the matrix test)
        for jobs in (1, 2):
            clear_all_but_exports(store)
            times[jobs] = run(jobs, Path(tmp) / f"j{jobs}")
            print(f"jobs {jobs}: {times[jobs]:.1f}s", flush=True)
    record("matrix_scaling", {"jobs1_s": round(times[1], 1), "jobs2_s": round(times[2], 1),
                              "speedup": round(times[1] / times[2], 2), "cells": 14, "cores": os.cpu_count(),
                              "target": "speedup >= 1.6",
                              "how": "reduced matrix, stage cache holding only the exports before each run"})


if __name__ == "__main__":
    main()
