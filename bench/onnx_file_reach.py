"""Issue #27: every model file the onnx 1.8.1 wheel ships under backend/test/data/pytorch-converted and
pytorch-operator (torch 0.4 / onnx 1.2 exports, opset 6: the files labs still hold), each given as a
plain `model: {onnx: FILE}` config with nothing else named, run by `invoke batch --target T --jobs 2`
as a user runs a folder of files: per target, how many verified, by which route, and every failure
with its reason (it must name what the runtime cannot express).

    python bench/onnx_file_reach.py [--targets tf1.4,tf1.13,tf1.15] [--jobs 2]
    python bench/onnx_file_reach.py --record artifacts/batch-tf1.4.json ...   # figures from batches already run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def write_configs(folder: Path) -> int:
    """One plain config per model file of the suite (the default export stack's onnx wheel)."""
    sys.path.insert(0, str(ROOT))
    from torch2tf.configs.compat import load_compat
    from torch2tf.conformance.suite import find_suite
    from torch2tf.envs import store
    from torch2tf.run.stagerun import StageRunner
    from torch2tf.settings import Settings
    settings = Settings()
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    spec, env = StageRunner(settings)._env(compat.default_export)
    store.build(spec, settings)
    count = 0
    for part in find_suite(env.path, "pytorch"):
        for model in sorted(part.glob("*/model.onnx")):
            name = model.parent.name.replace("test_", "pt_", 1)
            (folder / f"{name}.yaml").write_text(f"name: {name}\nmodel: {{onnx: {model}}}\n")
            count += 1
    return count


def summarize(batch: dict, target: str) -> dict:
    runs = batch["runs"]
    failed = [r for r in runs if r["status"] != "passed"]
    return {"target": target, "files": len(runs), "verified": len(runs) - len(failed),
            "seconds": batch["seconds"], "routes": dict(Counter(r["route"] for r in runs if r["status"] == "passed")),
            "failures": [{"name": r["name"], "class": r["error"]["class"],
                          "message": r["error"]["message"].splitlines()[0][:300]} for r in failed]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", default="tf1.4,tf1.13,tf1.15")
    ap.add_argument("--jobs", default="2")
    ap.add_argument("--record", nargs="*", help="batch.json files of runs already made (target read from their rows)")
    args = ap.parse_args()
    rows = []
    if args.record:
        for path in args.record:
            batch = json.loads(Path(path).read_text())
            rows.append(summarize(batch, batch["runs"][0].get("target") or Path(path).stem))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            configs = Path(tmp) / "configs"
            configs.mkdir()
            print(f"{write_configs(configs)} model files")
            for target in args.targets.split(","):
                artifacts = Path(tmp) / target
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "invoke", "batch", "--configs", str(configs / "*.yaml"),
                                "--target", target, "--jobs", args.jobs], cwd=ROOT,
                               env={**os.environ, "INVOKE_TORCH2TF_ARTIFACTS": str(artifacts)})
                row = summarize(json.loads((artifacts / "batch.json").read_text()), target)
                row["wall_seconds"] = round(time.perf_counter() - t0, 1)
                rows.append(row)
    for row in rows:
        print(f"{row['target']:<7} {row['verified']}/{row['files']} verified  routes {row['routes']}  "
              f"({row['seconds']:.0f}s)")
        for f in row["failures"]:
            print(f"    {f['name']}: {f['class']}: {f['message']}")
    record("onnx_file_reach", {"rows": rows})


if __name__ == "__main__":
    main()
