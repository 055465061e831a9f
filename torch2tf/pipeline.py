"""One model through one route: export -> onnxruntime check -> adapt -> convert -> verify -> inspect,
then publish artifacts/<name>/ atomically with report.json."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch2tf import atomic, catalogue, proc
from torch2tf.compat import Compat, Route, load_compat
from torch2tf.config import PipelineConfig, load_config
from torch2tf.errors import ConfigError, StageError, Torch2TFError, VerifyError
from torch2tf.settings import Settings
from torch2tf.stagerun import StageRun, StageRunner

TFLITE_ENV = "onnx2tf"     # TF 2.20 + ai-edge-litert: converts and runs .tflite


@dataclass
class Options:
    target: str | None = None
    route: str | None = None
    opset: int | None = None
    fresh: bool = False
    artifacts_dir: Path | None = None      # default: <project>/artifacts
    latency_runs: int = 10                 # timed runs (after 3 warm-up) per artifact and for PyTorch
    export_only: bool = False              # stop after the export (warms the stage cache; nothing published)
    echo: Callable[[str], None] = print


def pick_route(compat: Compat, cfg: PipelineConfig, target: str, forced: str | None,
               settings: Settings) -> tuple[Route, str]:
    """--route, else what `invoke matrix` measured, else the declared order."""
    if forced:
        return compat.route(target, forced), "forced with --route / route: in the config"
    from torch2tf.matrix import measured_route
    from torch2tf.modelid import model_digest
    declared = [r.name for r in compat.routes(target)]
    measured = measured_route(settings, target, model_digest(cfg), declared)
    if measured:
        return compat.route(target, measured[0]), measured[1]
    return compat.routes(target)[0], "first declared route for " + target + " (no matrix results yet)"


@dataclass
class _Run:
    cfg: PipelineConfig
    target: str
    route: Route
    reason: str
    runner: StageRunner
    echo: Callable[[str], None]
    runs: list[StageRun] = field(default_factory=list)
    packages: dict = field(default_factory=dict)     # format -> (artifact, verify metrics)
    primary: tuple | None = None     # (file name, artifact) the target runtime loads
    total: int = 6

    def step(self, label: str, stage: str, env: str, inputs: dict, params: dict) -> StageRun:
        n = len(self.runs) + 1
        self.echo(f"[{n}/{self.total}] {label:<9} ({env}) ...")
        run = self.runner.run(stage, env, inputs, params)
        run.label = label
        self.runs.append(run)
        self.echo(f"[{n}/{self.total}] {label:<9} ({env}) {'cached' if run.cached else 'done'} "
                  f"in {run.seconds:.1f}s")
        for w in run.warnings:
            self.echo(f"      warning: {w}")
        return run


def run_pipeline(config_path: Path, settings: Settings, options: Options | None = None) -> dict:
    """Run the config end to end; returns report.json's content. Raises Torch2TFError on failure."""
    options = options or Options()
    cfg = load_config(config_path)
    target = options.target or cfg.target
    compat = load_compat(settings.configs_dir / "compat.yaml")
    route, reason = pick_route(compat, cfg, target, options.route or cfg.route, settings)
    out_root = options.artifacts_dir or settings.artifacts_dir
    echo = options.echo
    echo(f"torch2tf: {cfg.name} -> {target} via route {route.name} ({reason})")
    state = _Run(cfg=cfg, target=target, route=route, reason=reason, echo=echo,
                 runner=StageRunner(settings, fresh=options.fresh),
                 total=_stage_count(cfg, route))
    _check_formats(cfg, route)
    started = time.perf_counter()
    try:
        _execute(state, options)
    except Torch2TFError as exc:
        report = _report(state, "failed", time.perf_counter() - started, error=exc)
        _publish_failure(out_root / cfg.name, report, state)
        raise
    report = _report(state, "passed", time.perf_counter() - started)
    if options.export_only:
        return report
    report["artifacts"] = _publish(out_root / cfg.name, report, state)
    return report


def _stage_count(cfg: PipelineConfig, route: Route) -> int:
    if route.artifact == "tflite":
        return 5 + bool(route.adapt) + (route.convert.params["tool"] != "onnx2tf")
    return 5 + bool(route.adapt) + 3 * route.downgrade + 2 * len([f for f in cfg.formats if f != "frozen_pb"])


def _check_formats(cfg: PipelineConfig, route: Route) -> None:
    extra = [f for f in cfg.formats if f not in ("frozen_pb", "tflite")]
    if route.artifact == "tflite" and extra:
        raise ConfigError(f"target {route.target!r} makes a .tflite; formats {extra} need a TensorFlow target",
                          where=f"{cfg.path}: formats", hint="drop them, or run the config again with a TF target")


def _execute(state: _Run, options: Options) -> None:
    cfg, route = state.cfg, state.route
    names_in = [i.name for i in cfg.inputs]
    opset = options.opset or cfg.opset or route.opset
    export_inputs: dict = {}
    if cfg.model.model_file:
        export_inputs["model_file"] = cfg.model.model_file
    if cfg.model.weights:
        export_inputs["weights"] = cfg.model.weights
    for i in cfg.inputs:
        if i.sample:
            export_inputs["sample." + i.name] = i.sample
    factory = cfg.model.factory
    if cfg.model.model_file:
        factory = "user_model:" + factory.rpartition(":")[2]
    export = state.step("export", "export", route.export.env, export_inputs, {
        "factory": factory, "kwargs": cfg.model.kwargs, "seed": cfg.seed, "opset": opset,
        "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype, "dynamic": i.dynamic,
                    "preprocess": i.preprocess} for i in cfg.inputs],
        "outputs": list(cfg.outputs), "keep_initializers_as_inputs": True, "runs": options.latency_runs})
    if options.export_only:
        return
    refs = {k: v for k, v in export.outputs.items() if k.startswith(("input.", "ref."))}
    verify_params = {"inputs": names_in, "outputs": list(cfg.outputs), "atol": cfg.atol, "rtol": cfg.rtol,
                     "runs": options.latency_runs}

    middle = state.step("onnx-check", "verify", route.export.env, {"artifact": export.outputs["model"], **refs},
                        {"runtime": "onnxruntime", **verify_params})
    _require_passed(middle, state, "onnxruntime (the ONNX export itself)",
                    "the export is already wrong before any TensorFlow: try another opset or check the model",
                    explain=export.log)

    model = export.outputs["model"]
    if route.adapt:
        params = dict(route.adapt.params)
        if params.pop("static_shapes", False):
            params["static_shapes"] = {i.name: list(i.shape) for i in cfg.inputs}
        model = state.step("adapt", "adapt", route.adapt.env, {"model": model}, params).outputs["model"]

    io = {"inputs": names_in, "outputs": list(cfg.outputs)}
    if route.artifact == "tflite":
        _to_tflite(state, model, io, refs, verify_params)
        return
    graph = state.step("convert", "convert", route.convert.env, {"model": model},
                       {"tool": route.convert.params["tool"], "layout": route.layout, **io}).outputs["graph"]
    if route.downgrade:
        source = state.step("registry", "opregistry", route.convert.env, {}, {}).outputs["registry"]
        target = state.step("registry", "opregistry", route.verify_env, {}, {}).outputs["registry"]
        graph = state.step("downgrade", "downgrade", route.verify_env,
                           {"graph": graph, "source_registry": source, "target_registry": target}, {}).outputs["graph"]
    verify_params["layout"] = route.layout
    verify = state.step("verify", "verify", route.verify_env, {"artifact": graph, **refs},
                        {"runtime": "tf_graph", **verify_params})
    _require_passed(verify, state, f"TensorFlow ({route.verify_env})",
                    "the conversion changed the numbers: try another route (`--route`) or looser "
                    "tolerance: if the model is sensitive")
    state.step("inspect", "inspect_graph", route.verify_env, {"artifact": graph}, {})
    state.primary = ("model.pb", graph)
    for fmt in cfg.formats:
        if fmt == "frozen_pb":
            continue
        # SavedModel: built by the target runtime's own TF1 builder from the verified graph;
        # TFLite: by onnx2tf from the ONNX file (no flex ops), I/O kept NCHW
        env = route.verify_env if fmt == "saved_model" else TFLITE_ENV
        source = {"graph": graph} if fmt == "saved_model" else {"model": export.outputs["model"]}
        pkg = state.step(fmt, "package", env, source, {"format": fmt, **io})
        artifact = pkg.outputs[fmt]
        checked = state.step(f"verify-{fmt}", "verify", env, {"artifact": artifact, **refs},
                             {**verify_params, "runtime": fmt,
                              "layout": route.layout if fmt == "saved_model" else "nchw"})
        _require_passed(checked, state, f"{fmt} ({env})", "the package changed the numbers; see the log")
        state.packages[fmt] = (artifact, checked.metrics)


def _to_tflite(state: _Run, model, io: dict, refs: dict, verify_params: dict) -> None:
    """A tflite target: onnx2tf from the ONNX file, or the converter's frozen graph through
    TFLiteConverter; then run in the target's TFLite interpreter."""
    route = state.route
    if route.convert.params["tool"] == "onnx2tf":
        tflite = state.step("convert", "package", route.convert.env, {"model": model},
                            {"format": "tflite", **io}).outputs["tflite"]
    else:
        graph = state.step("convert", "convert", route.convert.env, {"model": model},
                           {"tool": route.convert.params["tool"], "layout": route.layout, **io}).outputs["graph"]
        tflite = state.step("tflite", "package", route.convert.env, {"graph": graph},
                            {"format": "tflite", **io}).outputs["tflite"]
    verify = state.step("verify", "verify", route.verify_env, {"artifact": tflite, **refs},
                        {"runtime": "tflite", **verify_params, "layout": "nchw"})
    _require_passed(verify, state, f"TFLite ({route.verify_env})",
                    "the conversion changed the numbers: try the other tflite route (`--route`)")
    state.step("inspect", "inspect_graph", route.verify_env, {"artifact": tflite}, {})
    state.primary = ("model.tflite", tflite)


def _require_passed(run: StageRun, state: _Run, hop: str, hint: str, explain: Path | None = None) -> None:
    """Raise VerifyMismatch unless the run passed; `explain`: a log whose known warnings say why."""
    if run.metrics.get("passed"):
        return
    known = catalogue.match(proc.tail(explain, 200)) if explain else None
    bad = [o for o in run.metrics.get("outputs", []) if not o.get("passed")]
    detail = "; ".join(
        f"{o['name']}: {o['problem']}" if o.get("problem") else
        f"{o['name']}: max abs diff {o['max_abs_diff']:.3g}, max rel diff {o['max_rel_diff']:.3g}"
        for o in bad)
    raise VerifyError(f"verification failed in {hop}: {detail} (atol {state.cfg.atol}, rtol {state.cfg.rtol})",
                      where=f"stage {run.label}, env {run.env}",
                      hint=f"{known.cause}: {known.fix}" if known else hint, log=run.log,
                      error_class=known.error_class if known else "VerifyMismatch", stage=run.label, env=run.env)


def _stage_rows(state: _Run) -> list[dict]:
    return [{"stage": r.label, "env": r.env, "status": "ok", "seconds": round(r.seconds, 3), "cached": r.cached,
             "stage_process_seconds": round(r.stage_wall, 3)} for r in state.runs]


def _report(state: _Run, status: str, seconds: float, error: Torch2TFError | None = None) -> dict:
    by = {r.label: r for r in state.runs}
    report = {
        "name": state.cfg.name, "config": str(state.cfg.path), "target": state.target, "status": status,
        "route": state.route.name, "route_reason": state.reason, "opset": state.route.opset,
        "seconds": round(seconds, 3), "stages": _stage_rows(state),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if "onnx-check" in by:
        report["onnx_check"] = by["onnx-check"].metrics
    if "verify" in by:
        report["verify"] = by["verify"].metrics
    if "inspect" in by:
        report["graph"] = by["inspect"].metrics
    if "export" in by:
        report["versions"] = {"torch": by["export"].metrics.get("torch")}
        report["pytorch_latency_ms"] = by["export"].metrics.get("latency_ms")
    if "downgrade" in by:
        report["downgrade"] = by["downgrade"].metrics
    report["route_layout"] = state.route.layout
    report["artifact"] = "model.tflite" if state.route.artifact == "tflite" else "model.pb"
    if state.packages:
        report["packages"] = {fmt: m for fmt, (_, m) in state.packages.items()}
    report["latency"] = _latency_rows(report, state)
    if error is not None:
        if isinstance(error, StageError) and not isinstance(error, VerifyError) and error.stage:
            report["stages"].append({"stage": error.stage, "env": error.env, "status": "failed", "seconds": None,
                                     "cached": False})
        report["error"] = error.as_dict()
    return report


def _latency_rows(report: dict, state: _Run) -> list[dict]:
    """CPU latency per artifact beside PyTorch eager (same input, 1 thread), with Transpose counts."""
    torch_ms = report.get("pytorch_latency_ms")
    rows = []
    transposes = (report.get("graph") or {}).get("transposes")
    for artifact, block in [("model.onnx (onnxruntime)", report.get("onnx_check")),
                            (report.get("artifact", "model.pb"), report.get("verify"))] + \
                           [(fmt, m) for fmt, m in (report.get("packages") or {}).items()]:
        if not block or block.get("latency_ms") is None:
            continue
        rows.append({"artifact": artifact, "latency_ms": round(block["latency_ms"], 3),
                     "vs_pytorch": round(block["latency_ms"] / torch_ms, 3) if torch_ms else None,
                     # the frozen graph and the SavedModel share one graph; the .tflite is onnx2tf's own
                     "transposes": transposes if artifact in ("model.pb", "model.tflite", "saved_model") else None})
    return rows


def _publish(dest: Path, report: dict, state: _Run) -> dict:
    """Assemble artifacts/<name>/ in a temp dir next to it, then swap it in."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "logs").mkdir(parents=True)
    by = {r.label: r for r in state.runs}
    files = {"model.onnx": by["export"].outputs["model"], state.primary[0]: state.primary[1]}
    if "downgrade" in by or "tflite" in by:
        files["model.converted.pb"] = by["convert"].outputs["graph"]
    for fmt, (artifact, _) in state.packages.items():
        files["saved_model" if fmt == "saved_model" else "model.tflite"] = artifact
    if "adapt" in by:
        files["model.adapted.onnx"] = by["adapt"].outputs["model"]
    for key, art in by["export"].outputs.items():
        if key != "model":
            files[f"{key}.npy"] = art
    try:
        artifacts = {}
        for name, art in files.items():
            _link(art.path, tmp / name)
            artifacts[name] = str(dest / name)
        for r in state.runs:
            _link(r.log, tmp / "logs" / f"{r.label}-{r.env}.log" if r.label == "registry" else tmp / "logs" / f"{r.label}.log")
        report["artifacts"] = artifacts
        atomic.write_text(tmp / "report.json", json.dumps(report, indent=2) + "\n")
        atomic.replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return artifacts


def _publish_failure(dest: Path, report: dict, state: _Run) -> None:
    """Keep the last good artifacts; say what failed in report.json and put the failing log beside it."""
    dest.mkdir(parents=True, exist_ok=True)
    previous = dest / "report.json"
    if previous.exists():
        try:
            old = json.loads(previous.read_text())
            report["last_good"] = old if old.get("status") == "passed" else old.get("last_good")
        except ValueError:
            pass
    log = report.get("error", {}).get("log")
    if log and Path(log).is_file():
        (dest / "logs").mkdir(exist_ok=True)
        stage = report["stages"][-1]["stage"] if report["stages"] else "failed"
        target = dest / "logs" / f"{stage}.log"
        shutil.copyfile(log, target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)
        report["error"]["log"] = str(target)
    atomic.write_text(previous, json.dumps(report, indent=2) + "\n")


def _link(src: Path, dst: Path) -> None:
    """Hard-link from the cache (no copy of big models), copying across filesystems."""
    src, dst = Path(src), Path(dst)
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
