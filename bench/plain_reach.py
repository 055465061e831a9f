"""Issue #13: does every model reach each legacy TensorFlow as a new user runs it, with a plain config
(no route:, no opset:) and no --route? Each config runs `invoke pipeline --target T` into a temp
artifacts dir; the table says which route torch2tf took (after any fallback), whether it verified,
whether the check was weak, and the max abs diff against PyTorch.

    python bench/plain_reach.py [--configs configs/matrix/*.yaml] [--targets tf1.4,tf1.13,tf1.15]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(config: Path, target: str, artifacts: Path) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "invoke", "pipeline", "--config", str(config), "--target", target],
                         cwd=ROOT, env={**os.environ, "INVOKE_TORCH2TF_ARTIFACTS": str(artifacts)},
                         capture_output=True, text=True)
    seconds = round(time.perf_counter() - t0, 1)
    reports = list(artifacts.glob("*/report.json"))
    rep = json.loads(reports[0].read_text()) if reports else {}
    verify = next((v for v in rep.get("verifications", []) if v["artifact"] == rep.get("primary")), None)
    outputs = verify["outputs"] if verify else []
    return {"config": config.name, "target": target, "exit": out.returncode, "route": rep.get("route"),
            "attempts": len(rep.get("attempts", [])), "verified": bool(verify and verify["passed"]),
            "weak": any(o.get("weak") for o in outputs),
            "max_abs_diff": max((o["max_abs_diff"] for o in outputs if o.get("max_abs_diff") is not None),
                                default=None),
            "latency_vs_pytorch": round(verify["latency_ms"] / rep["pytorch_latency_ms"], 2)
            if verify and verify.get("latency_ms") and rep.get("pytorch_latency_ms") else None,
            "export_stack": rep.get("export_stack"), "torch": (rep.get("versions") or {}).get("torch"),
            "error": (rep.get("error") or {}).get("class"), "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default=str(ROOT / "configs" / "matrix" / "*.yaml"))
    ap.add_argument("--targets", default="tf1.4,tf1.13,tf1.15")
    ap.add_argument("--section", default="plain_reach")
    args = ap.parse_args()
    rows = []
    for config in sorted(Path(p) for p in glob.glob(args.configs)):
        for target in args.targets.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                row = run(config, target, Path(tmp))
            rows.append(row)
            diff = f"{row['max_abs_diff']:.1e}" if row["max_abs_diff"] is not None else "-"
            print(f"{row['config']:<22} {target:<7} {'ok  ' if row['verified'] else 'FAIL'}"
                  f"{' WEAK' if row['weak'] else ''} {row['route'] or '-':<26} attempts {row['attempts']} "
                  f"max abs {diff} x{row['latency_vs_pytorch']} {row['export_stack']} {row['error'] or ''} "
                  f"({row['seconds']}s)", flush=True)
    reached = sum(r["verified"] and not r["weak"] for r in rows)
    print(f"{reached}/{len(rows)} (config, target) pairs verified with a check that can fail")
    record(args.section, {"rows": rows, "reached": reached, "pairs": len(rows)})


if __name__ == "__main__":
    main()
