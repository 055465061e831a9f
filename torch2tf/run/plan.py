"""A pipeline run as an explicit plan: the list of steps for one config and one route.

Everything else derives from the list: the step count and progress lines, which step's log explains
a failure, what the report records, and what is published under artifacts/<name>/. A new kind of
step (an optimize or lower pass) is one more builder below, appended where it belongs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch2tf.configs.compat import Compat, Route
from torch2tf.configs.config import PipelineConfig
from torch2tf.envs.extras import Extension
from torch2tf.errors import ConfigError, StageError
from torch2tf.run import contracts


@dataclass(frozen=True)
class From:
    """An input taken from an earlier step's output."""
    step: str
    key: str


@dataclass(frozen=True)
class Check:
    """What a verify step's pass means and what to say when it fails."""
    artifact: str                 # the published name of what it verifies (model.pb, model.onnx, ...)
    hop: str                      # for the message: "TensorFlow (tf113)"
    hint: str
    explain_with: str | None = None   # a step whose log's known warnings say why it failed


@dataclass(frozen=True)
class Step:
    label: str                    # unique in the plan; names the log (logs/<label>.log)
    stage: str                    # stages/<stage>.py
    env: str
    inputs: dict                  # key -> Path (a user file) | From
    params: dict
    publishes: dict = field(default_factory=dict)   # output key -> file name under artifacts/<name>/
    check: Check | None = None
    records: str | None = None    # the report block it fills: export | graph | downgrade | optimize


@dataclass(frozen=True)
class Plan:
    config: PipelineConfig
    target: str
    route: Route
    opset: int
    primary: str                  # the file the target runtime loads
    steps: tuple[Step, ...]
    extension: Extension | None = None   # the export env plus the model's requirements, when it has some
    export_torch: str = ""        # the torch version the export stack pins

    def step(self, label: str) -> Step:
        return next(s for s in self.steps if s.label == label)

    def published(self) -> dict[str, From]:
        """File name under artifacts/<name>/ -> the step output it is."""
        return {name: From(s.label, key) for s in self.steps for key, name in s.publishes.items()}


@dataclass(frozen=True)
class PlanOptions:
    opset: int | None = None
    latency_runs: int = 10
    export_only: bool = False
    optimize: bool = True         # the optimize step after convert / downgrade (--no-optimize: off)


# ---------------------------------------------------------------- step builders

SOURCE = "import"       # the first step of an .onnx model (a PyTorch model's is "export")

def _export(cfg: PipelineConfig, env: str, opset: int, runs: int) -> Step:
    inputs: dict = {}
    if cfg.model.model_file:
        inputs["model_file"] = cfg.model.model_file
    if cfg.model.weights:
        inputs["weights"] = cfg.model.weights
    inputs.update({f"sample.{i.name}": i.sample for i in cfg.inputs if i.sample})
    factory = cfg.model.factory
    if cfg.model.model_file:
        factory = "user_model:" + factory.rpartition(":")[2]
    params = {"factory": factory, "kwargs": cfg.model.kwargs, "seed": cfg.seed, "opset": opset,
              "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype, "dynamic": i.dynamic,
                          "preprocess": i.preprocess} for i in cfg.inputs],
              "outputs": list(cfg.outputs), "keep_initializers_as_inputs": True, "runs": runs,
              "trust_weights": cfg.model.trust_weights}
    publishes = {"model": "model.onnx", **{k: f"{k}.npy" for k in _reference_keys(cfg)}}
    return Step("export", "export", env, inputs, params, publishes, records="export")


def _import(cfg: PipelineConfig, env: str) -> Step:
    """An .onnx model: the file with safe names, and onnxruntime's outputs of it as the references."""
    onnx = cfg.model.onnx
    inputs = {"model": onnx.path, **{f"sample.{i.name}": i.sample for i in cfg.inputs if i.sample}}
    params = {"seed": cfg.seed, "names": onnx.renamed, "outputs": list(cfg.outputs),
              "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype, "preprocess": i.preprocess}
                         for i in cfg.inputs]}
    publishes = {"model": "model.onnx", **{k: f"{k}.npy" for k in _reference_keys(cfg)}}
    return Step(SOURCE, "onnx_import", env, inputs, params, publishes, records="export")


def _handed_over(cfg: PipelineConfig, route: Route, compat: Compat) -> tuple[int, dict]:
    """For an .onnx model: the opset the route's converter gets, and what the version step must change
    (opset, IR) so that it reads the file. A legacy converter (one adapt serves) reads its route's
    opset only; a modern one reads any opset up to its stack's, so a newer file goes down only that far
    (every step down is one more op the version converter may have no adapter for)."""
    onnx, reads = cfg.model.onnx, compat.stacks[route.convert.env]
    change = {}
    if route.adapt and onnx.opset != route.opset:
        change["opset"] = route.opset
    elif not route.adapt and onnx.opset > reads["max_opset"]:
        change["opset"] = reads["max_opset"]
    if not route.adapt and onnx.ir_version > reads["max_ir"]:
        change["ir_version"] = reads["max_ir"]
    return change.get("opset", onnx.opset), change


def _reference_keys(cfg: PipelineConfig) -> list[str]:
    return [f"input.{i.name}" for i in cfg.inputs] + [f"ref.{o}" for o in cfg.outputs]


def _source(cfg: PipelineConfig) -> str:
    """The first step's label: it gives the model file and the references."""
    return SOURCE if cfg.model.onnx else "export"


def _verify(cfg: PipelineConfig, label: str, env: str, artifact: From, runtime: str, layout: str,
            check: Check, runs: int) -> Step:
    refs = {k: From(_source(cfg), k) for k in _reference_keys(cfg)}
    params = {"runtime": runtime, "inputs": [i.name for i in cfg.inputs], "outputs": list(cfg.outputs),
              "atol": cfg.atol, "rtol": cfg.rtol, "runs": runs, "layout": layout}
    return Step(label, "verify", env, {"artifact": artifact, **refs}, params, check=check)


def _io(cfg: PipelineConfig) -> dict:
    return {"inputs": [i.name for i in cfg.inputs], "outputs": list(cfg.outputs)}


def _adapt(cfg: PipelineConfig, route: Route, model: From) -> Step:
    params = dict(route.adapt.params)
    if params.pop("static_shapes", False):
        params["static_shapes"] = {i.name: list(i.shape) for i in cfg.inputs}
    return Step("adapt", "adapt", route.adapt.env, {"model": model}, params, {"model": "model.adapted.onnx"})


def _optimize(cfg: PipelineConfig, route: Route, graph: From) -> Step:
    """The frozen graph without layout overhead, in the target's env (its op set, its shape inference);
    the example inputs let it check itself before verify does."""
    feeds = {f"input.{i.name}": From(_source(cfg), f"input.{i.name}") for i in cfg.inputs}
    return Step("optimize", "optimize", route.verify_env, {"graph": graph, **feeds}, _io(cfg),
                {"graph": "model.pb"}, records="optimize")


def _graph_steps(cfg: PipelineConfig, route: Route, model: From, runs: int, optimize: bool = True) -> list[Step]:
    """A TF target: convert, downgrade to the runtime's op set if the route says so, optimize, verify,
    inspect."""
    # a downgrade route publishes the converter's own graph beside the target's; a legacy route's converter
    # writes the target's graph, published as model.pb unless optimize makes that one
    publishes = {"graph": "model.converted.pb"} if route.downgrade else {} if optimize else {"graph": "model.pb"}
    steps = [Step("convert", "convert", route.convert.env, {"model": model},
                  {"tool": route.convert.params["tool"], "layout": route.layout, **_io(cfg)}, publishes)]
    graph = From("convert", "graph")
    if route.downgrade:
        steps += [Step("registry-source", "opregistry", route.convert.env, {}, {}),
                  Step("registry-target", "opregistry", route.verify_env, {}, {}),
                  Step("downgrade", "downgrade", route.verify_env,
                       {"graph": graph, "source_registry": From("registry-source", "registry"),
                        "target_registry": From("registry-target", "registry")}, {},
                       {} if optimize else {"graph": "model.pb"}, records="downgrade")]
        graph = From("downgrade", "graph")
    if optimize:
        steps.append(_optimize(cfg, route, graph))
        graph = From("optimize", "graph")
    steps.append(_verify(cfg, "verify", route.verify_env, graph, "tf_graph", route.layout,
                         Check("model.pb", f"TensorFlow ({route.verify_env})",
                               "the conversion changed the numbers: try another route (`--route`), or a "
                               "looser tolerance if the model is numerically sensitive"), runs))
    steps.append(Step("inspect", "inspect_graph", route.verify_env, {"artifact": graph}, {}, records="graph"))
    return steps


def _package_steps(cfg: PipelineConfig, route: Route, compat: Compat, runs: int, graph: From) -> list[Step]:
    """formats beyond the frozen graph: a SavedModel built by the target's own TF from the verified
    graph; a .tflite by onnx2tf from the ONNX file (builtin ops only), each verified in its runtime."""
    steps = []
    for fmt in (f for f in cfg.formats if f != "frozen_pb"):
        env = route.verify_env if fmt == "saved_model" else compat.readers["tflite"]
        source = {"graph": graph} \
            if fmt == "saved_model" else {"model": From(_source(cfg), "model")}
        name = "saved_model" if fmt == "saved_model" else "model.tflite"
        steps.append(Step(fmt, "package", env, source, {"format": fmt, **_io(cfg)}, {fmt: name}))
        steps.append(_verify(cfg, f"verify-{fmt}", env, From(fmt, fmt), fmt,
                             route.layout if fmt == "saved_model" else "nchw",
                             Check(name, f"{fmt} ({env})", "the package changed the numbers; see the log"), runs))
    return steps


def _tflite_steps(cfg: PipelineConfig, route: Route, model: From, runs: int) -> list[Step]:
    """A tflite target: onnx2tf writes the .tflite from the ONNX file, or onnx-tf's frozen graph goes
    through TFLiteConverter; then it runs in the target's TFLite interpreter."""
    if route.convert.params["tool"] == "onnx2tf":
        steps = [Step("convert", "package", route.convert.env, {"model": model},
                      {"format": "tflite", **_io(cfg)}, {"tflite": "model.tflite"})]
        tflite = From("convert", "tflite")
    else:
        steps = [Step("convert", "convert", route.convert.env, {"model": model},
                      {"tool": route.convert.params["tool"], "layout": route.layout, **_io(cfg)},
                      {"graph": "model.converted.pb"}),
                 Step("tflite", "package", route.convert.env, {"graph": From("convert", "graph")},
                      {"format": "tflite", **_io(cfg)}, {"tflite": "model.tflite"})]
        tflite = From("tflite", "tflite")
    steps.append(_verify(cfg, "verify", route.verify_env, tflite, "tflite", "nchw",
                         Check("model.tflite", f"TFLite ({route.verify_env})",
                               "the conversion changed the numbers: try the other tflite route (`--route`)"), runs))
    steps.append(Step("inspect", "inspect_graph", route.verify_env, {"artifact": tflite}, {}, records="graph"))
    return steps


# ---------------------------------------------------------------- the plan

def build_plan(cfg: PipelineConfig, target: str, route: Route, compat: Compat,
               options: PlanOptions | None = None) -> Plan:
    options = options or PlanOptions()
    _check_formats(cfg, route)
    runs = options.latency_runs
    extension = extension_of(cfg, route, compat)
    if cfg.model.onnx:
        if options.opset:
            raise ConfigError("--opset sets the export's opset; an .onnx model is taken at its own", where="--opset",
                              hint="drop --opset: each route gets the file converted to the opset it reads")
        opset, change = _handed_over(cfg, route, compat)
        steps = [_import(cfg, route.export.env)]
        model, what = From(SOURCE, "model"), "onnxruntime (the ONNX file, with safe names)"
        if change:          # the version converter of the reading env's onnx (newer than adapt's)
            steps.append(Step("opset", "adapt", route.export.env, {"model": model}, change,
                              {"model": f"model.opset{opset}.onnx"}))
            model, what = From("opset", "model"), f"onnxruntime (the ONNX file, converted to opset {opset})"
    else:
        opset = options.opset or cfg.opset or route.opset
        _check_opset(opset, route, compat, "--opset" if options.opset else f"{cfg.path}: opset")
        steps = [_export(cfg, extension.name if extension else route.export.env, opset, runs)]
        model, what = From("export", "model"), "onnxruntime (the ONNX export itself)"
    primary = "model.tflite" if route.artifact == "tflite" else "model.pb"
    if not options.export_only:
        if route.adapt:     # checked as the converter reads it, so that adapt's rewrites are checked too
            steps.append(_adapt(cfg, route, model))
            model = From("adapt", "model")
            what += ", as adapted for the converter"
        steps.append(_verify(cfg, "onnx-check", route.export.env, model, "onnxruntime", "nchw",
                             Check("model.onnx", what, "the ONNX model is already wrong before any TensorFlow"
                                   + (" (adapt's rewrites: logs/adapt.log lists them)" if route.adapt
                                      else "") + ": take another route, or check the model",
                                   explain_with=_source(cfg)), runs))
        if route.artifact == "tflite":
            steps += _tflite_steps(cfg, route, model, runs)
        else:
            steps += _graph_steps(cfg, route, model, runs, options.optimize)
            steps += _package_steps(cfg, route, compat, runs, steps[-1].inputs["artifact"])
    return Plan(config=cfg, target=target, route=route, opset=opset, primary=primary, steps=tuple(steps),
                extension=extension, export_torch=compat.stacks[route.export.env].get("torch", ""))


def extension_of(cfg: PipelineConfig, route: Route, compat: Compat) -> Extension | None:
    """Only the export runs the model's code, so only its env gets the model's requirements."""
    if not cfg.model.requirements or cfg.model.onnx:
        return None
    return Extension(base=route.export.env, packages=cfg.model.requirements, lock_dir=cfg.path.parent / "locks",
                     where=f"{cfg.path}: model.requirements", era=compat.stacks[route.export.env].get("era"))


def _check_opset(opset: int, route: Route, compat: Compat, where: str) -> None:
    """The export opset must be one the exporter writes and the route's converter reads."""
    for part, what in ((route.export, "exports"), (route.convert, "converts")):
        reads = compat.stacks[part.env]["max_opset"]
        if part is route.convert and route.converted_opset:
            continue           # adapt converts whatever was exported to the opset the converter reads
        if opset > reads:
            raise ConfigError(f"opset {opset} is above what route {route.name!r} {what} with ({part.env}: at most "
                              f"{reads})", where=where, hint=f"use an opset <= {reads}, or leave it to the route "
                                                            f"(its own is {route.opset})")


def _check_formats(cfg: PipelineConfig, route: Route) -> None:
    extra = [f for f in cfg.formats if f not in ("frozen_pb", "tflite")]
    if route.artifact == "tflite" and extra:
        raise ConfigError(f"target {route.target!r} makes a .tflite; formats {extra} need a TensorFlow target",
                          where=f"{cfg.path}: formats", hint="drop them, or run the config again with a TF target")


def check_plan(plan: Plan, stages_dir: Path) -> None:
    """Every step's request matches its stage's CONTRACT, every From names an earlier step's declared
    output, and labels are unique: a wrong plan fails here, before any stage runs."""
    seen: dict[str, list[str]] = {}
    for s in plan.steps:
        where = f"plan step {s.label} (route {plan.route.name})"
        if s.label in seen:
            raise StageError(f"two plan steps are labelled {s.label!r}", where=where, hint="a torch2tf bug")
        plain = {k: "<from>" if isinstance(v, From) else str(v) for k, v in s.inputs.items()}
        contracts.check(stages_dir, s.stage, plain, s.params, where)
        for key, ref in s.inputs.items():
            if isinstance(ref, From) and not _declares(seen.get(ref.step), ref.key):
                raise StageError(f"input {key!r} of step {s.label} takes {ref.step}.{ref.key}, which no earlier "
                                 "step gives", where=where, hint="a torch2tf bug", stage=s.label)
        seen[s.label] = contracts.outputs(stages_dir, s.stage)


def _declares(outputs: list[str] | None, key: str) -> bool:
    return outputs is not None and any(o == key or (o.endswith(".*") and key.startswith(o[:-1])) for o in outputs)
