"""Issue #20: the wall time of the whole ONNX node-test suite over every route of tf1.4, tf1.13 and
tf1.15 (the issue's bound: 30 minutes on 2 cores), cold: `invoke conformance --fresh --jobs 2`, the
stage cache ignored, the envs already built (their build is bench/env_builds.py's figure).

    python bench/conformance_suite.py [--jobs 2] [--without unroll_gru,...] [--warm]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--without", default="")
    ap.add_argument("--warm", action="store_true", help="reuse the stage cache (a re-run's time)")
    args = ap.parse_args()
    argv = [sys.executable, "-m", "invoke", "conformance", "--jobs", str(args.jobs)]
    argv += ["--without", args.without] if args.without else []
    argv += [] if args.warm else ["--fresh"]
    t0 = time.perf_counter()
    code = subprocess.run(argv, cwd=ROOT, env=os.environ).returncode
    wall = round(time.perf_counter() - t0, 1)
    if code:
        sys.exit(f"invoke conformance failed (exit {code})")
    name = "results-without.json" if args.without else "results.json"
    results = json.loads((ROOT / "artifacts" / "conformance" / name).read_text())
    totals = defaultdict(dict)
    for target, routes in results["targets"].items():
        cells = [c for c in results["cells"] if c["target"] == target]
        for route in routes:
            totals[target][route] = sum(1 for c in cells if c["route"] == route and c.get("passed"))
        totals[target]["any route"] = len({c["test"] for c in cells if c.get("passed")})
    by_stage = defaultdict(float)
    for cost in results["costs"]:
        by_stage[f"{cost['stage']} ({cost['env']})"] += cost["seconds"]
    section = "conformance_ablated" if args.without else "conformance"
    record(section, {"command": " ".join(argv[2:]), "wall_seconds": wall, "cores": os.cpu_count(), "jobs": args.jobs,
                     "cold": not args.warm, "tests": results["suite"]["tests"], "without": results["without"],
                     "passes": dict(totals), "stage_process_seconds": dict(sorted(by_stage.items()))})
    print(json.dumps({"wall_seconds": wall, "passes": totals}, indent=1))


if __name__ == "__main__":
    main()
