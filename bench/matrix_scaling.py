"""Item 4 (#6) and the full matrix (#5): `invoke matrix` wall time with --jobs 1 and --jobs 2 on this
machine, the stage cache holding only the exports before each run (every other stage entry removed;
exports warmed first, so both runs start from the same state).

    python bench/matrix_scaling.py            # reduced: focus, multihead x tf1.4, tf1.13 (14 cells)
    python bench/matrix_scaling.py --full     # every model x every route; the --jobs 2 run's results
                                              # become artifacts/matrix (for `invoke matrix --docs`)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

from torch2tf.configs.compat import load_compat  # noqa: E402
from torch2tf.errors import Torch2TFError  # noqa: E402
from torch2tf.matrix import cells as matrix_cells  # noqa: E402
from torch2tf.run.pipeline import Options, run_pipeline  # noqa: E402
from torch2tf.settings import PROJECT_ROOT, Settings  # noqa: E402

KEEP = {"export", "locks"}
REDUCED = ["--models", "focus,multihead", "--targets", "tf1.4,tf1.13"]


def clear_all_but_exports(store: Path) -> None:
    for d in (store / "cache").iterdir() if (store / "cache").exists() else []:
        if d.name not in KEEP:
            shutil.rmtree(d)


def warm_exports(settings: Settings, cells: list) -> int:
    """One export per model and opset, as the matrix's cells will ask for them."""
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    seen = set()
    for cell in cells:
        key = (cell.model, compat.route(cell.target, cell.route).opset)
        if key not in seen:
            seen.add(key)
            try:
                run_pipeline(cell.config, settings, Options(target=cell.target, route=cell.route, export_only=True,
                                                            echo=lambda _: None))
            except Torch2TFError:
                pass        # a failing export (e.g. focus below opset 10) is a cell outcome, not cached
    return len(seen)


def run(jobs: int, artifacts: Path, selection: list[str]) -> tuple[float, dict]:
    env = dict(os.environ, INVOKE_TORCH2TF_ARTIFACTS=str(artifacts))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invoke", "matrix", *selection, "--jobs", str(jobs), "--fresh"],
                   cwd=PROJECT_ROOT, env=env, check=True)
    wall = time.perf_counter() - t0
    return wall, json.loads((artifacts / "matrix" / "results.json").read_text())


def outcome(results: dict) -> dict:
    cells = results["cells"]
    per_target = Counter(c["target"] for c in cells)
    passed = Counter(c["target"] for c in cells if c["status"] == "passed")
    errors = Counter(c.get("error_class") for c in cells if c["status"] != "passed")
    return {"cells": len(cells), "passed": sum(passed.values()),
            "pass_per_target": {t: f"{passed[t]}/{n}" for t, n in per_target.items()},
            "errors": dict(errors), "status": {c["id"]: c["status"] for c in cells}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="every model x every route")
    args = parser.parse_args()
    selection = [] if args.full else REDUCED
    settings = Settings()
    cells = matrix_cells.select(settings, *(None, None, None) if args.full else (["focus", "multihead"], ["tf1.4", "tf1.13"], None))
    exports = warm_exports(settings, cells)
    print(f"{len(cells)} cells, {exports} exports warmed", flush=True)
    times, outcomes = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (1, 2):
            clear_all_but_exports(settings.store)
            # the full run's --jobs 2 results are the project's matrix results
            where = settings.artifacts_dir if args.full and jobs == 2 else Path(tmp) / f"j{jobs}"
            times[jobs], results = run(jobs, where, selection)
            outcomes[jobs] = outcome(results)
            print(f"jobs {jobs}: {times[jobs]:.1f}s, {outcomes[jobs]['passed']}/{outcomes[jobs]['cells']} passed",
                  flush=True)
    same = outcomes[1]["status"] == outcomes[2]["status"]
    figures = {"jobs1_s": round(times[1], 1), "jobs2_s": round(times[2], 1), "speedup": round(times[1] / times[2], 2),
               "cells": len(cells), "exports_warmed": exports, "cores": os.cpu_count(),
               "same_outcome_both_runs": same,
               "how": "stage cache holding only the exports before each run; `invoke matrix --fresh --jobs N`"}
    if args.full:
        figures.update({k: v for k, v in outcomes[2].items() if k != "status"})
        record("matrix_full", figures)
    else:
        record("matrix_scaling", {**figures, "target": "speedup >= 1.6"})


if __name__ == "__main__":
    main()
