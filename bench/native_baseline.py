"""The limit a conversion can reach: each route's frozen graph against the same network written natively
in NHWC for the same TF runtime (bench/native_tf.py), same weights, timed interleaved in one process,
1 thread, median. Also says which route the default run picks, before (declared order) and now
(ranked by the shipped measurements).

    python bench/native_baseline.py [--runs 60] [--targets tf1.4,tf1.13,tf1.15] [--models resnet18,mobilenet_v2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import HERE, previous, record  # noqa: E402

from torch2tf import routing  # noqa: E402
from torch2tf.configs.compat import load_compat  # noqa: E402
from torch2tf.configs.config import load_config  # noqa: E402
from torch2tf.envs import store  # noqa: E402
from torch2tf.envs.specs import load_spec  # noqa: E402
from torch2tf.errors import Torch2TFError  # noqa: E402
from torch2tf.model_ops import op_tokens  # noqa: E402
from torch2tf.run.pipeline import Options, run_pipeline  # noqa: E402
from torch2tf.settings import Settings  # noqa: E402

CONFIGS = {"resnet18": "configs/resnet18.yaml", "mobilenet_v2": "configs/mobilenet_v2.yaml"}


def onnx_weights(path: Path, out: Path) -> None:
    """The exported model's convs (BN already folded by torch's eval export) and final Gemm, for TF:
    conv weights OIHW -> HWIO, depthwise (group == channels) OIHW -> HWC1."""
    model = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    arrays, n = {}, 0
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            w = init[node.input[1]]
            b = init[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
            group = int(attrs.get("group", 1))
            arrays[f"conv{n}_w"] = w.transpose(2, 3, 0, 1) if group > 1 else w.transpose(2, 3, 1, 0)
            arrays[f"conv{n}_b"] = b
            arrays[f"conv{n}_meta"] = np.array([attrs.get("strides", [1])[0], attrs.get("pads", [0])[0], group])
            n += 1
        elif node.op_type == "BatchNormalization":
            raise SystemExit(f"{path}: a BatchNormalization the export did not fold; fold it here first")
        elif node.op_type == "Gemm":
            w = init[node.input[1]]
            arrays["fc_w"] = w.T if attrs.get("transB") else w
            arrays["fc_b"] = init[node.input[2]]
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    arrays["input_nhwc_shape"] = np.array([dims[0], dims[2], dims[3], dims[1]])
    np.savez(out, **arrays)


def convert_all(cfg_path: Path, target: str, routes, settings: Settings, out: Path) -> dict:
    """Every route's published model.pb (or why it failed)."""
    graphs, failures = {}, {}
    for route in routes:
        try:
            run_pipeline(cfg_path, settings, Options(target=target, route=route.name, artifacts_dir=out / route.name,
                                                     latency_runs=3, echo=lambda _: None))
        except Torch2TFError as exc:
            failures[route.name] = f"{exc.error_class}: {exc.message.splitlines()[0][:120]}"
            continue
        graphs[route.name] = str(next((out / route.name).glob("*/model.pb")))
    return {"graphs": graphs, "failures": failures}


def time_in_runtime(settings: Settings, env_name: str, request: dict, tmp: Path) -> dict:
    spec = load_spec(settings.envs_dir / f"{env_name}.yml")
    env, _ = store.build(spec, settings)
    path = tmp / "request.json"
    path.write_text(json.dumps(request))
    proc = subprocess.run([str(env.python), str(HERE / "native_tf.py"), str(path)], capture_output=True, text=True,
                          env=env.environ({"TF_CPP_MIN_LOG_LEVEL": "2"}))
    if proc.returncode:
        raise SystemExit(f"native_tf.py failed in {env_name}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def one(model: str, target: str, settings: Settings, compat, runs: int, tmp: Path) -> dict:
    cfg_path = settings.root / CONFIGS[model]
    routes = compat.routes(target)
    conv = convert_all(cfg_path, target, routes, settings, tmp / target)
    published = Path(next(iter(conv["graphs"].values()))).parent
    cfg = load_config(cfg_path)
    onnx_weights(published / "model.onnx", tmp / f"{model}.npz")
    request = {"model": model, "weights": str(tmp / f"{model}.npz"), "runs": runs, "warmup": 5,
               "input": str(next(published.glob("input.*.npy"))), "reference": str(next(published.glob("ref.*.npy"))),
               "graphs": conv["graphs"]}
    timing = time_in_runtime(settings, routes[0].verify_env, request, tmp)
    native = timing["median_ms"]["native"]
    # the order a run takes: ranked by the model's ops, read from its export as the pipeline reads them
    ranked = routing.candidates(compat, cfg, target, None, settings, op_tokens(published / "model.onnx"))
    row = {"model": model, "target": target, "tensorflow": timing["tensorflow"], "native_ms": round(native, 2),
           "native_max_abs": timing["max_abs_diff"]["native"], "failures": conv["failures"],
           "default_before": routes[0].name, "default_now": ranked[0][0].name, "default_now_why": ranked[0][1],
           "routes": {r: {"ms": round(ms, 2), "over_native": round(ms / native, 3), "nodes": timing["nodes"][r],
                          "max_abs": timing["max_abs_diff"][r]}
                      for r, ms in timing["median_ms"].items() if r != "native"}}
    print(f"{model} {target} (TF {timing['tensorflow']}): native {native:.1f} ms, max abs "
          f"{timing['max_abs_diff']['native']:.1e}", flush=True)
    for r, v in row["routes"].items():
        tag = " <- default now" if r == row["default_now"] else " <- default before" if r == row["default_before"] else ""
        print(f"  {r:<26} {v['ms']:8.1f} ms  x{v['over_native']:.2f} native  {v['nodes']} nodes{tag}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--targets", default="tf1.4,tf1.13,tf1.15")
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    args = ap.parse_args()
    settings = Settings()
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            for target in args.targets.split(","):
                rows.append(one(model, target, settings, compat, args.runs, Path(tmp) / model))
    # rows of models / targets not re-run this time are kept (a re-run of one model replaces its own rows)
    fresh = {(r["model"], r["target"]) for r in rows}
    kept = [r for r in previous("native_baseline").get("rows", []) if (r["model"], r["target"]) not in fresh]
    record("native_baseline", {"runs": args.runs, "rows": kept + rows})


if __name__ == "__main__":
    main()
