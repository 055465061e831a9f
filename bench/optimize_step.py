"""Issue #25: the optimize step's own time, and what it removed, per (config, target, route): each pair is
run with --fresh so that the step really runs, and its report's `optimize` block and step time are read.

    python bench/optimize_step.py [--pairs resnet18.yaml:tf1.4:onnx-tf-1.1.2-opset7,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ("resnet18.yaml:tf1.4:onnx-tf-1.1.2-opset7", "resnet18.yaml:tf1.13:onnx-tf-1.3.0-opset9",
         "resnet18.yaml:tf1.15:onnx-tf-1.5.0-opset11", "resnet18.yaml:tf1.13:onnx2tf-downgrade",
         "mobilenet_v2.yaml:tf1.13:onnx-tf-1.10-downgrade", "libraries/yolov8n.yaml:tf1.13:onnx-tf-1.10-downgrade")


def run(config: str, target: str, route: str, artifacts: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "invoke", "pipeline", "--config", f"configs/{config}", "--target",
                          target, "--route", route], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "INVOKE_TORCH2TF_ARTIFACTS": str(artifacts)})
    reports = list(artifacts.glob("*/report.json"))
    rep = json.loads(reports[0].read_text()) if reports else {}
    step = next((s for s in rep.get("steps", []) if s["label"] == "optimize"), {})
    opt = rep.get("optimize") or {}
    return {"config": config, "target": target, "route": route, "exit": out.returncode, "cached": step.get("cached"),
            "step_seconds": step.get("seconds"), "rewrite_seconds": opt.get("seconds"),
            "before": opt.get("before"), "after": opt.get("after"), "rewrites": opt.get("rewrites")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", default=",".join(PAIRS))
    args = ap.parse_args()
    rows = []
    for pair in args.pairs.split(","):
        config, target, route = pair.split(":")
        with tempfile.TemporaryDirectory() as tmp:
            row = run(config, target, route, Path(tmp))
        rows.append(row)
        before, after = row["before"] or {}, row["after"] or {}
        print(f"{config:<26} {target:<7} {route:<26} optimize {row['step_seconds']}s (rewrites {row['rewrite_seconds']}s"
              f"{', cached' if row['cached'] else ''}) Transpose {before.get('transposes')}->{after.get('transposes')} "
              f"Pad {before.get('pads')}->{after.get('pads')} nodes {before.get('nodes')}->{after.get('nodes')}", flush=True)
    record("optimize_step", {"rows": rows})


if __name__ == "__main__":
    main()
