"""Item 5: per route, CPU latency of the converted resnet18 in its runtime over PyTorch eager on the same
input and thread count (1), median of 50 runs after 3 warm-up runs.

    python bench/model_speed.py [--runs 50] [--targets tf1.4,tf1.13,tf1.15,tf2.15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

from torch2tf.configs.compat import load_compat  # noqa: E402
from torch2tf.errors import Torch2TFError  # noqa: E402
from torch2tf.run.pipeline import Options, run_pipeline  # noqa: E402
from torch2tf.settings import Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--targets", default="")
    args = ap.parse_args()
    settings = Settings()
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for target in (args.targets.split(",") if args.targets else compat.targets):
            for route in compat.routes(target):
                try:
                    rep = run_pipeline(settings.configs_dir / "resnet18.yaml", settings, Options(
                        target=target, route=route.name, artifacts_dir=Path(tmp), latency_runs=args.runs,
                        echo=lambda _: None))
                except Torch2TFError as exc:
                    rows.append({"target": target, "route": route.name, "status": "failed",
                                 "error": exc.message.splitlines()[0][:200]})
                    print(target, route.name, "failed", flush=True)
                    continue
                torch_ms, ms = rep.pytorch_latency_ms, rep.verify.latency_ms
                rows.append({"target": target, "route": route.name, "status": "passed", "latency_ms": round(ms, 2),
                             "pytorch_ms": round(torch_ms, 2), "ratio": round(ms / torch_ms, 3),
                             "transposes": rep.graph["transposes"], "tensorflow": rep.verify.versions["tensorflow"]})
                print(target, route.name, f"{ms:.1f} ms vs torch {torch_ms:.1f} ms x{ms / torch_ms:.2f}", flush=True)
    best = {}
    for r in rows:
        if r["status"] == "passed" and (r["target"] not in best or r["ratio"] < best[r["target"]]["ratio"]):
            best[r["target"]] = r
    record("model_speed", {"rows": rows, "best_per_target": {t: {"route": r["route"], "ratio": r["ratio"]}
                                                             for t, r in best.items()},
                           "target": "best route per target <= 1.0x PyTorch (resnet18)",
                           "how": f"median of {args.runs} runs after 3 warm-up, 1 thread, same input"})


if __name__ == "__main__":
    main()
