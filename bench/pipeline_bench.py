"""Items 1, 2 and 6: cached re-run time, orchestration overhead, and the orchestrator's peak RSS,
on the default pipeline (configs/resnet18.yaml, envs built).

    cold      `invoke pipeline --fresh` (every stage re-runs, as with an empty stage cache)
    cached    `invoke pipeline` with nothing changed
    overhead  cold wall / sum of the stage processes' own wall times (from report.json)
    baseline  the same stage programs run as plain scripts, one after another, in the same envs,
              with hand-written request files: what people do today, minus the copying by hand
    rss       VmHWM of the invoke process itself (stage processes excluded), read from /proc
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record, stats  # noqa: E402

from torch2tf.envs import store as envs  # noqa: E402
from torch2tf.run.report import Report  # noqa: E402
from torch2tf.settings import PROJECT_ROOT, Settings  # noqa: E402

CONFIG = "configs/resnet18.yaml"


def run_pipeline(artifacts: Path, *extra: str) -> tuple[float, int, Report]:
    """Wall seconds, peak RSS (bytes) of the orchestrator process, and its report."""
    env = dict(os.environ, INVOKE_TORCH2TF_ARTIFACTS=str(artifacts))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "pipeline", "--config", CONFIG, *extra],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"pipeline failed: {proc.stderr.read()}")
    return wall, peak, Report.load(artifacts / "resnet18" / "report.json")


def baseline(work: Path) -> float:
    """The stage programs by hand: write each request, run each script in its env, in order."""
    py = {n: str(envs.get(n, Settings()).python) for n in ("torch17", "tf113")}
    stages = PROJECT_ROOT / "stages"
    io = {"inputs": ["input"], "outputs": ["output"], "atol": 1e-4, "rtol": 1e-3, "runs": 10}
    d = {k: work / k for k in ("export", "check", "adapt", "convert", "verify", "inspect")}
    refs = {"input.input": str(d["export"] / "input.input.npy"), "ref.output": str(d["export"] / "ref.output.npy")}
    steps = [
        ("torch17", "export", {}, {"factory": "torchvision.models:resnet18", "kwargs": {}, "seed": 0, "opset": 9,
                                   "inputs": [{"name": "input", "shape": [1, 3, 224, 224], "dtype": "float32",
                                               "dynamic": {}, "preprocess": None}],
                                   "outputs": ["output"], "keep_initializers_as_inputs": True, "runs": 10}),
        ("torch17", "check", {"artifact": str(d["export"] / "model.onnx"), **refs}, {"runtime": "onnxruntime", **io}),
        ("torch17", "adapt", {"model": str(d["export"] / "model.onnx")}, {"ir_version": 4, "initializers_as_inputs": True}),
        ("tf113", "convert", {"model": str(d["adapt"] / "model.onnx")},
         {"tool": "onnx-tf", "layout": "nchw", "inputs": ["input"], "outputs": ["output"]}),
        ("tf113", "verify", {"artifact": str(d["convert"] / "model.pb"), **refs}, {"runtime": "tf_graph", "layout": "nchw", **io}),
        ("tf113", "inspect", {"artifact": str(d["convert"] / "model.pb")}, {}),
    ]
    program = {"check": "verify", "inspect": "inspect_graph"}
    t0 = time.perf_counter()
    for env, name, inputs, params in steps:
        d[name].mkdir(parents=True)
        req = work / f"{name}.json"
        req.write_text(json.dumps({"stage": name, "inputs": inputs, "output_dir": str(d[name]), "params": params}))
        with open(work / f"{name}.log", "w") as log:
            subprocess.run([py[env], str(stages / f"{program.get(name, name)}.py"), str(req)], cwd=d[name],
                           stdout=log, stderr=subprocess.STDOUT, check=True,
                           env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")})
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold", type=int, default=3)
    ap.add_argument("--cached", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cold, ratios, base, base_ratio, rss = [], [], [], [], []
        for i in range(args.cold):
            wall, peak, rep = run_pipeline(tmp / "art", "--fresh")
            stage_sum = sum(s.process_seconds for s in rep.steps)
            b = baseline(tmp / f"base{i}")
            cold.append(wall), ratios.append(wall / stage_sum), base.append(b), base_ratio.append(wall / b)
            rss.append(peak / 2**20)
            print(f"cold {wall:.1f}s  stages {stage_sum:.1f}s  x{wall / stage_sum:.3f}  baseline {b:.1f}s "
                  f"x{wall / b:.3f}  rss {peak / 2**20:.0f} MB", flush=True)
        cached = []
        for _ in range(args.cached):
            wall, peak, rep = run_pipeline(tmp / "art")
            assert all(s.cached for s in rep.steps)
            cached.append(wall)
            rss.append(peak / 2**20)
        print(f"cached median {stats(cached)['median']:.2f}s")
    record("pipeline", {
        "cold_wall_s": stats(cold), "cached_wall_s": stats(cached),
        "cached_over_cold": round(stats(cached)["median"] / stats(cold)["median"], 4),
        "wall_over_stage_processes": stats(ratios), "wall_over_handwritten_baseline": stats(base_ratio),
        "baseline_wall_s": stats(base), "orchestrator_peak_rss_mb": stats(rss),
        "how": "resnet18 -> tf1.13 (onnx-tf 1.3.0 opset 9); cold = --fresh; overhead = pipeline wall / sum of "
               "stage process walls; baseline = same stage programs run by hand in the same envs",
        "targets": {"cached_s": "<= 1.0", "cached_over_cold": "<= 0.05", "wall_over_stage_processes": "<= 1.10",
                    "wall_over_handwritten_baseline": "<= 1.15", "orchestrator_peak_rss_mb": "<= 150"}})


if __name__ == "__main__":
    main()
