"""Issue #25 item 4: a fresh machine to the first verified resnet18, as the README's main command runs it:
a clean clone, its own venv, an empty torch2tf store and an empty uv cache (every wheel downloaded),
then `invoke pipeline --config configs/resnet18.yaml`. Times the host install and the pipeline apart,
and the pipeline's stages from its report.

    python bench/first_run.py [--keep]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str], cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    return round(time.perf_counter() - t0, 1), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", action="store_true", help="keep the clone, store and caches")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="torch2tf-first-run-"))
    clone = scratch / "torch2tf"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "VIRTUAL_ENV", "TORCH2TF_"))}
    env.update(TORCH2TF_STORE=str(scratch / "store"), UV_CACHE_DIR=str(scratch / "uv-cache"))
    install_s, install = timed(["bash", "-c", "python3 -m venv .venv && .venv/bin/pip install -q -e ."], clone, env)
    run_s, run = timed([".venv/bin/invoke", "pipeline", "--config", "configs/resnet18.yaml"], clone, env)
    report = json.loads((clone / "artifacts" / "resnet18" / "report.json").read_text()) if run.returncode == 0 else {}
    row = {"host_install_s": install_s, "install_exit": install.returncode, "pipeline_s": run_s,
           "pipeline_exit": run.returncode, "route": report.get("route"),
           "verified": bool(report.get("status") == "passed"),
           "steps": {s["label"]: s["seconds"] for s in report.get("steps", [])},
           "stage_seconds": round(sum(s["seconds"] or 0 for s in report.get("steps", [])), 1),
           "envs": sorted(p.name for p in (scratch / "store" / "envs").glob("*") if p.is_dir())}
    print(json.dumps(row, indent=1))
    if run.returncode:
        print(run.stdout[-2000:], run.stderr[-2000:])
    record("first_run", row)
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
