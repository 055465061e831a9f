"""The compatibility matrix (configs/compat.yaml): stacks, and per target the routes to it."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from torch2tf.digests import json_digest
from torch2tf.envs.specs import load_spec
from torch2tf.configs.config import MIN_OPSET
from torch2tf.errors import ConfigError
from torch2tf.stage_contracts import contract
from torch2tf.strict import check_keys, load_yaml, typed

READABLE = {"onnx", "frozen_pb", "saved_model", "tflite"}        # kinds of artifact `readers:` covers
# the packages whose pinned versions describe a stack (read from its env spec)
STACK_PACKAGES = {"torch": ("torch",), "tensorflow": ("tensorflow", "tensorflow-cpu"), "onnx": ("onnx",),
                  "onnx_tf": ("onnx-tf",), "onnx2tf": ("onnx2tf",)}
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
    targets: dict         # target name -> Target (its routes as declared, export env not yet chosen)
    readers: dict         # artifact kind -> the env that reads it
    default_export: str   # the export stack of a config without model.torch; also the ONNX tool env

    @property
    def export_stacks(self) -> dict[str, str]:
        """Export stack name -> the torch version its env spec pins."""
        return {name: s["torch"] for name, s in self.stacks.items() if "torch" in s}

    def export_stack(self, torch: str | None, where: str = "model.torch") -> str:
        """The export stack whose torch version starts with `torch` ("1.13", "2"); None: the default."""
        if torch is None:
            return self.default_export
        listing = ", ".join(f"{v} ({n})" for n, v in self.export_stacks.items())
        matches = [n for n, v in self.export_stacks.items() if v == torch or v.startswith(torch.rstrip(".") + ".")]
        if not matches:
            raise ConfigError(f"no export stack has torch {torch!r}", where=where,
                              hint=f"model.torch is a version prefix of one of: {listing}")
        if len(matches) > 1:
            raise ConfigError(f"model.torch {torch!r} matches several export stacks: {', '.join(matches)}",
                              where=where, hint=f"give more of the version; stacks: {listing}")
        return matches[0]

    def onnx_reader(self, opset: int, ir_version: int, where: str) -> str:
        """The first export stack whose onnx and onnxruntime read a file of this opset and IR: it takes
        an .onnx model in (references from its onnxruntime, the version converter of its onnx)."""
        for name in self.export_stacks:
            if self.stacks[name]["max_opset"] >= opset and self.stacks[name]["max_ir"] >= ir_version:
                return name
        newest = max(self.export_stacks, key=lambda n: (self.stacks[n]["max_opset"], self.stacks[n]["max_ir"]))
        raise ConfigError(f"no env here reads an ONNX file of opset {opset}, IR {ir_version}", where=where,
                          hint=f"the newest ({newest}) reads opset <= {self.stacks[newest]['max_opset']}, IR <= "
                               f"{self.stacks[newest]['max_ir']}: save the model at a lower opset / IR")

    def routes(self, target: str, export_env: str | None = None) -> tuple[Route, ...]:
        """The target's routes, exporting in `export_env` (default: the default export stack)."""
        if target not in self.targets:
            raise ConfigError(f"unknown target {target!r}", where=str(self.path),
                              hint=f"targets: {', '.join(self.targets)}")
        t = self.targets[target]
        env = export_env or self.default_export
        return tuple(d.resolve(target, t.runtime, t.artifact, env, self.default_export) for d in t.routes)

    def route(self, target: str, name: str, export_env: str | None = None) -> Route:
        for r in self.routes(target, export_env):
            if r.name == name:
                return r
        raise ConfigError(f"target {target!r} has no route {name!r}", where=str(self.path),
                          hint=f"routes: {', '.join(r.name for r in self.routes(target))}")


def ir_of_opset(opset: int) -> int:
    """The IR version of the onnx release that first wrote this opset (onnx's own VERSION_TABLE): a
    legacy converter is handed a file at the IR its onnx reads, so adapt sets it from the opset."""
    from onnx import helper
    return helper.find_min_ir_version_for([helper.make_opsetid("", opset)])


@dataclass(frozen=True)
class Converter:
    """One converter release (compat.yaml converters:): the env it runs in, its tool and settings,
    and the adapt rewrites that release needs."""
    name: str
    env: str
    params: dict           # tool (and layout)
    adapt: tuple[str, ...]


@dataclass(frozen=True)
class RouteDecl:
    """A route as compat.yaml writes it: a converter at an opset. The export env is the model's
    (Compat.routes resolves it), so one declaration serves every export stack."""
    name: str
    converter: Converter
    opset: int
    convert_to: int | None
    adapt: tuple[str, ...]
    layout: str | None
    downgrade: bool

    def resolve(self, target: str, runtime: str, artifact: str, export_env: str, onnx_env: str) -> Route:
        adapt = None
        flags = self.converter.adapt + self.adapt
        if flags or self.convert_to:
            converted = self.convert_to or self.opset
            params = {"ir_version": ir_of_opset(converted), **{f: True for f in flags}}
            if self.convert_to:
                params["opset"] = self.convert_to
            adapt = RoutePart(env=onnx_env, params=params)
        convert = dict(self.converter.params, **({"layout": self.layout} if self.layout else {}))
        return Route(name=self.name, target=target, export=RoutePart(env=export_env, params={"opset": self.opset}),
                     adapt=adapt, convert=RoutePart(env=self.converter.env, params=convert), verify_env=runtime,
                     downgrade=self.downgrade, artifact=artifact)


@dataclass(frozen=True)
class Target:
    runtime: str
    artifact: str
    routes: tuple[RouteDecl, ...]


def _env(name, where: str, stacks: dict) -> str:
    if name not in stacks:
        raise ConfigError(f"env {name!r} is not a stack", where=where, hint=f"stacks: {', '.join(stacks)}")
    return name


def _adapt_flags(raw, where: str, allowed: set[str]) -> tuple[str, ...]:
    flags = typed(raw or [], list, where, "adapt")
    for flag in flags:
        if flag not in allowed - {"ir_version", "opset"}:
            raise ConfigError(f"unknown adapt rewrite {flag!r}", where=where,
                              hint=f"stages/adapt.py takes: {', '.join(sorted(allowed - {'ir_version', 'opset'}))}")
    return tuple(flags)


def stage_sets(stages_dir: Path) -> dict[str, set[str]]:
    """What compat.yaml may name, as the stage programs declare it in their CONTRACTs (named nowhere
    else): the adapt rewrites and settings, the converter tools, the graph layouts."""
    choices = contract(stages_dir, "convert")["choices"]
    return {"adapt": set(contract(stages_dir, "adapt")["params"]), "tool": set(choices["tool"]),
            "layout": set(choices["layout"])}


def _converters(raw, where: str, stacks: dict, declared: dict) -> dict[str, Converter]:
    out = {}
    for name, body in typed(raw, dict, f"{where}: converters", "converters").items():
        w = f"{where}: converters.{name}"
        check_keys(body, {"env", "tool", "layout", "adapt"}, w, required={"env", "tool"})
        _one_of(body["tool"], declared["tool"], f"{w}.tool", "converter tool")
        _one_of(body.get("layout"), declared["layout"], f"{w}.layout", "layout")
        out[name] = Converter(name=name, env=_env(body["env"], f"{w}.env", stacks),
                              params={k: body[k] for k in ("tool", "layout") if k in body},
                              adapt=_adapt_flags(body.get("adapt"), f"{w}.adapt", declared["adapt"]))
    return out


def _one_of(value, allowed: set[str], where: str, what: str) -> None:
    if value is not None and value not in allowed:
        raise ConfigError(f"unknown {what} {value!r}", where=where, hint=f"one of {sorted(allowed)}")


ROUTE_KEYS = {"converter", "opset", "convert_to", "adapt", "layout", "downgrade"}


def _route_decl(name: str, body, where: str, converters: dict, declared: dict) -> RouteDecl:
    check_keys(body, ROUTE_KEYS, where, required={"converter", "opset"})
    if body["converter"] not in converters:
        raise ConfigError(f"unknown converter {body['converter']!r}", where=f"{where}.converter",
                          hint=f"converters: {', '.join(converters)}")
    _one_of(body.get("layout"), declared["layout"], f"{where}.layout", "layout")
    convert_to = body.get("convert_to")
    return RouteDecl(name=name, converter=converters[body["converter"]],
                     opset=typed(body["opset"], int, f"{where}.opset", "opset"),
                     convert_to=None if convert_to is None else typed(convert_to, int, f"{where}.convert_to", "convert_to"),
                     adapt=_adapt_flags(body.get("adapt"), f"{where}.adapt", declared["adapt"]), layout=body.get("layout"),
                     downgrade=typed(body.get("downgrade", False), bool, f"{where}.downgrade", "downgrade"))


def _check_route(decl: RouteDecl, target: str, runtime: str, artifact: str, stacks: dict, where: str) -> None:
    conv = decl.converter
    if artifact == "tflite" and decl.downgrade:
        raise ConfigError(f"route {decl.name!r} downgrades a graph for a tflite target", where=where,
                          hint="a .tflite holds TFLite ops, not TensorFlow ones: drop downgrade")
    if artifact == "frozen_pb" and conv.env != runtime and not decl.downgrade and \
            stacks[conv.env].get("tensorflow") != stacks[runtime].get("tensorflow"):
        raise ConfigError(f"route {decl.name!r} converts with TensorFlow {stacks[conv.env].get('tensorflow')} "
                          f"for runtime {runtime} without downgrade", where=where,
                          hint="set downgrade: true, or convert in the runtime's env")
    reads, converted = stacks[conv.env]["max_opset"], decl.convert_to or decl.opset
    if converted > reads:
        raise ConfigError(f"route {decl.name!r} hands opset {converted} to its converter but "
                          f"{conv.env} reads at most {reads}", where=where,
                          hint="export at an opset it reads, or convert down with convert_to: N")
    if decl.opset < MIN_OPSET or converted < MIN_OPSET:
        raise ConfigError(f"route {decl.name!r}: opset {min(decl.opset, converted)} is below {MIN_OPSET}", where=where,
                          hint=f"torch.onnx and every converter here take opset {MIN_OPSET} and up")


def _targets(raw, where: str, stacks: dict, converters: dict, shared: dict, declared: dict) -> dict:
    targets = {}
    for target, body in typed(raw, dict, f"{where}: targets", "targets").items():
        w = f"{where}: targets.{target}"
        check_keys(body, {"runtime", "routes", "artifact"}, w, required={"runtime", "routes"})
        runtime = _env(body["runtime"], f"{w}.runtime", stacks)
        artifact = body.get("artifact", "frozen_pb")
        if artifact not in ARTIFACTS:
            raise ConfigError(f"unknown artifact {artifact!r}", where=f"{w}.artifact", hint=f"one of {sorted(ARTIFACTS)}")
        decls = []
        for i, r in enumerate(typed(body["routes"], list, f"{w}.routes", "routes")):
            rw = f"{w}.routes[{i}]"
            if isinstance(r, str):          # a shared route, by name
                if r not in shared:
                    raise ConfigError(f"no shared route {r!r}", where=rw, hint=f"shared_routes: {', '.join(shared)}")
                decl = shared[r]
            else:
                check_keys(r, {"name"} | ROUTE_KEYS, rw, required={"name"})
                decl = _route_decl(typed(r["name"], str, f"{rw}.name", "name"),
                                   {k: v for k, v in r.items() if k != "name"}, rw, converters, declared)
            _check_route(decl, target, runtime, artifact, stacks, rw)
            decls.append(decl)
        names = [d.name for d in decls]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate route names in {target}: {names}", where=w)
        targets[target] = Target(runtime=runtime, artifact=artifact, routes=tuple(decls))
    return targets


def _stacks(raw, where: str, envs_dir: Path) -> dict:
    """compat.yaml's reading limits joined with the versions the env spec pins (the one source)."""
    stacks = {}
    for name, stack in typed(raw, dict, f"{where}: stacks", "stacks").items():
        check_keys(stack, {"max_ir", "max_opset", "default_export", "era"}, f"{where}: stacks.{name}",
                   required={"max_ir", "max_opset"})
        if "era" in stack:
            stack = {**stack, "era": _era(stack["era"], f"{where}: stacks.{name}.era")}
        spec_path = envs_dir / f"{name}.yml"
        if not spec_path.is_file():
            raise ConfigError(f"stack {name!r} has no env spec", where=f"{where}: stacks.{name}",
                              hint=f"add {spec_path} or remove the stack")
        spec = load_spec(spec_path)
        versions = {key: next((v for v in map(spec.pinned, pkgs) if v), None) for key, pkgs in STACK_PACKAGES.items()}
        stacks[name] = {"python": spec.python, **{k: v for k, v in versions.items() if v}, **stack}
    return stacks


def _era(raw, where: str) -> str:
    """A stack's era: the date (YYYY-MM-DD) its packages come from; YAML reads an unquoted one as a date."""
    text = str(raw)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ConfigError(f"era {raw!r} is not a date YYYY-MM-DD", where=where, hint='e.g. era: "2021-03-01"')
    return text


def _default_export(stacks: dict, where: str) -> str:
    defaults = [n for n, s in stacks.items() if s.get("default_export")]
    if len(defaults) != 1 or "torch" not in stacks[defaults[0]]:
        raise ConfigError(f"exactly one stack that pins torch must say default_export: true (found {defaults})",
                          where=f"{where}: stacks")
    return defaults[0]


def _readers(raw, where: str, stacks: dict, onnx_env: str) -> dict:
    check_keys(raw, READABLE - {"onnx"}, f"{where}: readers", required=READABLE - {"onnx"})
    for kind, env in raw.items():
        _env(env, f"{where}: readers.{kind}", stacks)
    return {"onnx": onnx_env, **raw}


def load_compat(path: Path, envs_dir: Path) -> Compat:
    """compat.yaml, with each stack's python and versions from <envs_dir>/<name>.yml."""
    raw = load_yaml(path)
    where = str(path)
    check_keys(raw, {"stacks", "targets", "readers", "converters", "shared_routes"}, where,
               required={"stacks", "targets", "readers", "converters"})
    stacks = _stacks(raw["stacks"], where, envs_dir)
    default = _default_export(stacks, where)
    readers = _readers(raw["readers"], where, stacks, default)
    declared = stage_sets(envs_dir.parent / "stages")
    converters = _converters(raw["converters"], where, stacks, declared)
    shared = {name: _route_decl(name, body, f"{where}: shared_routes.{name}", converters, declared)
              for name, body in typed(raw.get("shared_routes") or {}, dict, f"{where}: shared_routes",
                                      "shared_routes").items()}
    targets = _targets(raw["targets"], where, stacks, converters, shared, declared)
    return Compat(path=path, stacks=stacks, targets=targets, readers=readers, default_export=default)
