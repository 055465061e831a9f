"""Issue #25: models built by the libraries labs use (timm, ultralytics, smp, transformers; random init, plain
configs with the library pinned in model.requirements), each run with `--best` to every legacy target.
Per (model, target): the default pick (the route ranked first without --best), whether it verified, its
latency against the fastest verified route of the same --best run, its layout overhead, PyTorch eager's
latency, and the Transposes before and after optimize.

    python bench/library_models.py [--configs 'configs/libraries/*.yaml,...'] [--targets tf1.4,tf1.13,tf1.15]
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


def invoke(*args: str, artifacts: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "INVOKE_TORCH2TF_ARTIFACTS": str(artifacts)})


def default_pick(config: Path, target: str, artifacts: Path) -> str | None:
    """The route `invoke pipeline` tries first for this config (its --plan's first line)."""
    out = invoke("pipeline", "--config", str(config), "--target", target, "--plan", artifacts=artifacts)
    first = out.stdout.splitlines()[0] if out.stdout else ""
    return first.split(" via route ")[1].split(" ")[0] if " via route " in first else None


def run(config: Path, target: str, artifacts: Path, jobs: int) -> dict:
    pick = default_pick(config, target, artifacts)
    t0 = time.perf_counter()
    out = invoke("pipeline", "--config", str(config), "--target", target, "--best", "--jobs", str(jobs),
                 artifacts=artifacts)
    reports = list(artifacts.glob("*/report.json"))
    rep = json.loads(reports[0].read_text()) if reports else {}
    attempts = {a["route"]: a for a in rep.get("attempts", [])}
    verified = {r: a for r, a in attempts.items() if a["status"] == "passed" and a.get("latency_ms")}
    fastest = min(verified.values(), key=lambda a: a["latency_ms"]) if verified else None
    chosen = attempts.get(pick or "", {})
    opt = rep.get("optimize") or {}
    return {"config": config.stem, "target": target, "exit": out.returncode, "default_pick": pick,
            "pick_verified": chosen.get("status") == "passed", "pick_latency_ms": chosen.get("latency_ms"),
            "pick_layout_share": chosen.get("layout_share"), "pick_transposes": chosen.get("transposes"),
            "fastest_route": fastest["route"] if fastest else None,
            "fastest_latency_ms": fastest["latency_ms"] if fastest else None,
            "pick_vs_fastest": round(chosen["latency_ms"] / fastest["latency_ms"], 3)
            if fastest and chosen.get("latency_ms") else None,
            "pytorch_latency_ms": rep.get("pytorch_latency_ms"),
            "published_transposes_before_optimize": (opt.get("before") or {}).get("transposes"),
            "published_transposes_after_optimize": (opt.get("after") or {}).get("transposes"),
            "attempts": [{k: a.get(k) for k in ("route", "status", "failed_step", "error_class", "latency_ms",
                                                  "transposes", "layout_share")} for a in attempts.values()],
            "error": (rep.get("error") or {}).get("class"), "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default=str(ROOT / "configs" / "libraries" / "*.yaml"))
    ap.add_argument("--targets", default="tf1.4,tf1.13,tf1.15")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--section", default="library_models")
    args = ap.parse_args()
    rows = []
    configs = sorted({Path(p) for pattern in args.configs.split(",") for p in glob.glob(pattern)})
    for config in configs:
        for target in args.targets.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                row = run(config, target, Path(tmp), args.jobs)
            rows.append(row)
            share = row["pick_layout_share"]
            print(f"{row['config']:<28} {target:<7} pick {row['default_pick'] or '-':<24} "
                  f"{'ok ' if row['pick_verified'] else 'NO '} {row['pick_latency_ms'] or 0:7.1f} ms "
                  f"x{row['pick_vs_fastest']} of fastest ({row['fastest_route']}) layout "
                  f"{'-' if share is None else f'{100 * share:.1f}%'} T {row['published_transposes_before_optimize']}"
                  f"->{row['published_transposes_after_optimize']} torch {row['pytorch_latency_ms']} "
                  f"{row['error'] or ''} ({row['seconds']}s)", flush=True)
            record(args.section, {"rows": rows})        # after each row: an hours-long run keeps what it has


if __name__ == "__main__":
    main()
