"""The compatibility matrix (configs/compat.yaml): stacks, and per target the routes to it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from torch2tf.digests import json_digest
from torch2tf.envs.specs import load_spec
from torch2tf.errors import ConfigError
from torch2tf.stage_contracts import contract
from torch2tf.strict import check_keys, load_yaml, typed

TOOLS = {"onnx-tf", "onnx2tf"}
READABLE = {"onnx", "frozen_pb", "saved_model", "tflite"}        # kinds of artifact `readers:` covers
# the packages whose pinned versions describe a stack (read from its env spec)
STACK_PACKAGES = {"torch": ("torch",), "tensorflow": ("tensorflow", "tensorflow-cpu"), "onnx": ("onnx",),
                  "onnx_tf": ("onnx-tf",), "onnx2tf": ("onnx2tf",)}
LAYOUTS = {"nchw", "nhwc"}
ARTIFACTS = {"frozen_pb", "tflite"}     # what a target runtime loads


@dataclass(frozen=True)
class RoutePart:
    """One part of a route in compat.yaml (export, adapt, convert): the env it runs in and its settings."""
    env: str
    params: dict


@dataclass(frozen=True)
class Route:
    name: str
    target: str
    export: RoutePart          # params: opset
    adapt: RoutePart | None    # params: ir_version, opset, initializers_as_inputs, static_shapes
    convert: RoutePart         # params: tool, layout
    verify_env: str
    downgrade: bool = False   # rewrite the converter's graph to the runtime's op set
    artifact: str = "frozen_pb"   # the target's: frozen_pb (TF graph) or tflite

    @property
    def layout(self) -> str:
        return self.convert.params.get("layout", "nchw")

    @property
    def opset(self) -> int:
        return self.export.params["opset"]

    @property
    def converted_opset(self) -> int | None:
        """The opset adapt converts the export to (the onnx version converter), if it does."""
        return self.adapt.params.get("opset") if self.adapt else None

    @property
    def digest(self) -> str:
        """What the route does: a measurement counts only while its route's definition is unchanged."""
        return json_digest(dataclasses.asdict(self), 16)


@dataclass(frozen=True)
class Compat:
    path: Path
    stacks: dict          # env name -> {python, max_ir, max_opset, and the versions its spec pins}
    targets: dict[str, tuple[Route, ...]]
    readers: dict         # artifact kind -> the env that reads it

    def routes(self, target: str) -> tuple[Route, ...]:
        if target not in self.targets:
            raise ConfigError(f"unknown target {target!r}", where=str(self.path),
                              hint=f"targets: {', '.join(self.targets)}")
        return self.targets[target]

    def route(self, target: str, name: str) -> Route:
        for r in self.routes(target):
            if r.name == name:
                return r
        raise ConfigError(f"target {target!r} has no route {name!r}", where=str(self.path),
                          hint=f"routes: {', '.join(r.name for r in self.routes(target))}")


def _step(raw, where: str, stacks: dict, allowed: set[str]) -> RoutePart:
    check_keys(raw, {"env"} | allowed, where, required={"env"})
    if raw["env"] not in stacks:
        raise ConfigError(f"env {raw['env']!r} is not a stack", where=f"{where}.env",
                          hint=f"stacks: {', '.join(stacks)}")
    return RoutePart(env=raw["env"], params={k: v for k, v in raw.items() if k != "env"})


def _stacks(raw, where: str, envs_dir: Path) -> dict:
    """compat.yaml's reading limits joined with the versions the env spec pins (the one source)."""
    stacks = {}
    for name, stack in typed(raw, dict, f"{where}: stacks", "stacks").items():
        check_keys(stack, {"max_ir", "max_opset"}, f"{where}: stacks.{name}", required={"max_ir", "max_opset"})
        spec_path = envs_dir / f"{name}.yml"
        if not spec_path.is_file():
            raise ConfigError(f"stack {name!r} has no env spec", where=f"{where}: stacks.{name}",
                              hint=f"add {spec_path} or remove the stack")
        spec = load_spec(spec_path)
        versions = {key: next((v for v in map(spec.pinned, pkgs) if v), None) for key, pkgs in STACK_PACKAGES.items()}
        stacks[name] = {"python": spec.python, **{k: v for k, v in versions.items() if v}, **stack}
    return stacks


def _readers(raw, where: str, stacks: dict) -> dict:
    check_keys(raw, READABLE, f"{where}: readers", required=READABLE)
    for kind, env in raw.items():
        if env not in stacks:
            raise ConfigError(f"reader {env!r} is not a stack", where=f"{where}: readers.{kind}",
                              hint=f"stacks: {', '.join(stacks)}")
    return dict(raw)


def load_compat(path: Path, envs_dir: Path) -> Compat:
    """compat.yaml, with each stack's python and versions from <envs_dir>/<name>.yml."""
    raw = load_yaml(path)
    where = str(path)
    check_keys(raw, {"stacks", "targets", "readers"}, where, required={"stacks", "targets", "readers"})
    stacks = _stacks(raw["stacks"], where, envs_dir)
    readers = _readers(raw["readers"], where, stacks)
    # what an adapt step may ask: the params stages/adapt.py declares (stages/ sits beside envs/)
    adapt_params = set(contract(envs_dir.parent / "stages", "adapt")["params"])
    targets = {}
    for target, body in typed(raw["targets"], dict, f"{where}: targets", "targets").items():
        w = f"{where}: targets.{target}"
        check_keys(body, {"runtime", "routes", "artifact"}, w, required={"runtime", "routes"})
        if body["runtime"] not in stacks:
            raise ConfigError(f"runtime {body['runtime']!r} is not a stack", where=f"{w}.runtime")
        artifact = body.get("artifact", "frozen_pb")
        if artifact not in ARTIFACTS:
            raise ConfigError(f"unknown artifact {artifact!r}", where=f"{w}.artifact", hint=f"one of {sorted(ARTIFACTS)}")
        routes = []
        for i, r in enumerate(typed(body["routes"], list, f"{w}.routes", "routes")):
            rw = f"{w}.routes[{i}]"
            check_keys(r, {"name", "export", "adapt", "convert", "downgrade"}, rw, required={"name", "export", "convert"})
            export = _step(r["export"], f"{rw}.export", stacks, {"opset"})
            typed(export.params.get("opset"), int, f"{rw}.export.opset", "opset")
            adapt = _step(r["adapt"], f"{rw}.adapt", stacks, adapt_params) if r.get("adapt") else None
            convert = _step(r["convert"], f"{rw}.convert", stacks, {"tool", "layout"})
            if convert.params.get("layout", "nchw") not in LAYOUTS:
                raise ConfigError(f"unknown layout {convert.params['layout']!r}", where=f"{rw}.convert.layout",
                                  hint=f"one of {sorted(LAYOUTS)}")
            downgrade = typed(r.get("downgrade", False), bool, f"{rw}.downgrade", "downgrade")
            if artifact == "tflite" and downgrade:
                raise ConfigError(f"route {r['name']!r} downgrades a graph for a tflite target", where=rw,
                                  hint="a .tflite holds TFLite ops, not TensorFlow ones: drop downgrade")
            if artifact == "frozen_pb" and convert.env != body["runtime"] and not downgrade and \
                    stacks[convert.env].get("tensorflow") != stacks[body["runtime"]].get("tensorflow"):
                raise ConfigError(f"route {r['name']!r} converts with TensorFlow {stacks[convert.env].get('tensorflow')} "
                                  f"for runtime {body['runtime']} without downgrade", where=rw,
                                  hint="set downgrade: true, or convert in the runtime's env")
            if convert.params.get("tool") not in TOOLS:
                raise ConfigError(f"unknown converter tool {convert.params.get('tool')!r}", where=f"{rw}.convert.tool",
                                  hint=f"one of {sorted(TOOLS)}")
            route = Route(name=r["name"], target=target, export=export, adapt=adapt, convert=convert,
                          verify_env=body["runtime"], downgrade=downgrade, artifact=artifact)
            reads, converted = stacks[convert.env]["max_opset"], route.converted_opset or route.opset
            if converted > reads:
                raise ConfigError(f"route {r['name']!r} hands opset {converted} to its converter but "
                                  f"{convert.env} reads at most {reads}", where=rw,
                                  hint="export at an opset it reads, or convert down with adapt: {opset: N}")
            routes.append(route)
        names = [r.name for r in routes]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate route names in {target}: {names}", where=w)
        targets[target] = tuple(routes)
    return Compat(path=path, stacks=stacks, targets=targets, readers=readers)
