"""`invoke pipeline --locate`: the first ONNX node whose output, run through the failed route into the
target runtime, differs from onnxruntime's beyond the config's tolerance.

The graph the converter was handed is cut at a candidate tensor (stages/onnx_cut.py: the sub-model
ending there, and onnxruntime's value of it), the sub-model goes through the route's own convert,
downgrade and verify stages in their envs (the stage cache reused), and a bisection over the nodes'
topological order finds the first cut that does not match: about log2(nodes) conversions. A point
where the graph cannot be cut (a tensor of unknown type, a sub-model a converter refuses) is said
and skipped for its neighbour.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch2tf.errors import Torch2TFError
from torch2tf.run.execute import Execution
from torch2tf.run.stagerun import StageRunner

OUTPUT = "torch2tf_located"          # the safe name each sub-model's cut tensor leaves by
NOT_CUT = {"Constant", "ConstantOfShape"}   # they compute nothing from the inputs: no place to cut


@dataclass(frozen=True)
class Node:
    index: int
    name: str
    op: str
    tensor: str                    # its first output: where the graph is cut
    input_shapes: list
    attributes: dict

    def describe(self) -> dict:
        return {"index": self.index, "name": self.name, "op": self.op, "output": self.tensor,
                "input_shapes": self.input_shapes, "attributes": self.attributes}


def graph_nodes(path: Path) -> list[Node]:
    """The nodes in topological order, each with its input shapes (onnx's shape inference) and attributes."""
    import onnx
    from onnx import helper, shape_inference
    model = onnx.load(str(path))
    try:
        model = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shapes are for the report only
        pass
    shapes = {}
    for v in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        dims = v.type.tensor_type.shape.dim
        shapes[v.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)

    def attr(a):
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            return value.decode(errors="replace")
        if isinstance(value, (list, tuple)):
            return [v.decode(errors="replace") if isinstance(v, bytes) else v for v in value][:16]
        return value if isinstance(value, (int, float, str)) else f"<{type(value).__name__}>"
    nodes = [Node(index=i, name=n.name or f"{n.op_type}_{i}", op=n.op_type, tensor=n.output[0],
                 input_shapes=[shapes.get(x) for x in n.input if x], attributes={a.name: attr(a) for a in n.attribute})
             for i, n in enumerate(model.graph.node) if n.output and n.op_type not in NOT_CUT]
    return nodes


@dataclass
class Probe:
    """One sub-model through the route: did the target runtime match onnxruntime, and by how much."""
    node: Node
    passed: bool
    max_abs: float | None
    max_rel: float | None
    submodel: Path
    problem: str | None = None     # what verify says when there is no difference to give (a shape mismatch)

    def describe(self) -> str:
        return self.problem if self.max_abs is None else f"max abs {self.max_abs:.2e}"


class Locator:
    def __init__(self, execution: Execution, runner: StageRunner, echo: Callable[[str], None]):
        self.plan, self.runner, self.echo = execution.plan, runner, echo
        route, cfg = self.plan.route, self.plan.config
        convert = self.plan.step("convert")
        self.model = execution.artifact(convert.inputs["model"]).path if convert.inputs["model"].step in \
            execution.runs else None
        self.refs = {k: v for k, v in _source_run(execution).outputs.items() if k.startswith("input.")}
        self.route, self.cfg = route, cfg
        self.conversions = 0

    def probe(self, node: Node) -> Probe:
        """Cut at node, convert, downgrade, verify: raises Torch2TFError when the graph cannot be cut there."""
        route, cfg, run = self.route, self.cfg, self.runner.run
        self.conversions += 1
        cut = run("onnx_cut", route.export.env, {"model": self.model, **self.refs},
                  {"tensor": node.tensor, "output": OUTPUT}, label="locate-cut")
        kept = cut.metrics.get("inputs", [])
        io = {"inputs": kept, "outputs": [OUTPUT]}
        graph = run("convert", route.convert.env, {"model": cut.outputs["model"]},
                    {"tool": route.convert.params["tool"], "layout": route.layout, **io}, label="locate-convert")
        graph = graph.outputs["graph"]
        if route.downgrade:
            registries = {"source_registry": run("opregistry", route.convert.env, {}, {}).outputs["registry"],
                          "target_registry": run("opregistry", route.verify_env, {}, {}).outputs["registry"]}
            graph = run("downgrade", route.verify_env, {"graph": graph, **registries}, {},
                        label="locate-downgrade").outputs["graph"]
        refs = {f"input.{name}": self.refs[f"input.{name}"] for name in kept}
        verify = run("verify", route.verify_env, {"artifact": graph, **refs, f"ref.{OUTPUT}": cut.outputs[f"ref.{OUTPUT}"]},
                     {"runtime": "tf_graph", "layout": route.layout, "atol": cfg.atol, "rtol": cfg.rtol, "runs": 1,
                      **io}, label="locate-verify")
        [row] = verify.metrics["outputs"]
        return Probe(node=node, passed=bool(row.get("passed")), max_abs=row.get("max_abs_diff"),
                     max_rel=row.get("max_rel_diff"), submodel=cut.outputs["model"].path, problem=row.get("problem"))

    def try_probe(self, nodes: list[Node], i: int) -> Probe | None:
        try:
            probe = self.probe(nodes[i])
        except Torch2TFError as exc:
            self.echo(f"      locate: cannot cut after node {nodes[i].name} ({nodes[i].op}): "
                      f"{exc.cause or exc.message.splitlines()[0]}; moving on")
            return None
        self.echo(f"      locate: after node {i + 1}/{len(nodes)} {nodes[i].name} ({nodes[i].op}): "
                  f"{'matches' if probe.passed else 'DIFFERS'}, {probe.describe()}")
        return probe


def _source_run(execution: Execution):
    return next(run for label, run in execution.runs.items() if execution.plan.step(label).records == "export")


ProbeAt = Callable[[int], "Probe | None"]      # index -> the probe there, None where it cannot be cut


def _evaluable(probe_at: ProbeAt, lo: int, hi: int, mid: int) -> tuple[int, Probe] | None:
    """The probe at mid, or at the nearest index strictly between lo and hi that can be cut."""
    for offset in range(hi - lo):
        for i in (mid + offset, mid - offset - 1):
            if lo < i < hi:
                probe = probe_at(i)
                if probe:
                    return i, probe
    return None


def search(probe_at: ProbeAt, count: int, last: Probe, echo: Callable[[str], None]):
    """Bisection between the inputs (taken to match) and the last node (known to differ): the last
    matching probe (None: the inputs), the first differing one, and whether they are neighbours."""
    lo, hi, first, matched = -1, count - 1, last, None
    while hi - lo > 1:
        found = _evaluable(probe_at, lo, hi, (lo + hi) // 2)
        if found is None:
            echo(f"      locate: nothing between node {lo + 1} and {hi + 1} can be cut; stopping there")
            break
        i, probe = found
        if probe.passed:
            lo, matched = i, probe
        else:
            hi, first = i, probe
    return matched, first, hi - lo == 1


def locate(execution: Execution, runner: StageRunner, dest: Path, echo: Callable[[str], None]) -> dict:
    """The report's `locate` block. Locating explains a failure: it must never replace it."""
    try:
        return _bisect(execution, runner, dest, echo)
    except Exception as exc:  # noqa: BLE001 - the run's own error is what the user must see
        echo(f"locate: stopped: {type(exc).__name__}: {exc}")
        return {"status": "error", "why": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}


def _bisect(execution: Execution, runner: StageRunner, dest: Path, echo: Callable[[str], None]) -> dict:
    """Bisect for the first divergent node (also when it could not: status and why)."""
    started = time.perf_counter()
    plan = execution.plan
    if plan.route.artifact != "frozen_pb":
        return {"status": "not_run", "why": "locating works for TensorFlow graph targets, not .tflite"}
    locator = Locator(execution, runner, echo)
    if locator.model is None:
        return {"status": "not_run", "why": "the run did not get as far as the file its converter reads"}
    nodes = graph_nodes(locator.model)
    echo(f"locate: bisecting {len(nodes)} nodes of {locator.model.name} through route {plan.route.name} "
         f"(about {max(1, len(nodes)).bit_length()} conversions)")
    last = locator.try_probe(nodes, len(nodes) - 1)
    done = {"conversions": 0, "nodes": len(nodes)}
    if last is None or last.passed:
        why = ("the last node cannot be cut" if last is None else
               "the target runtime matches onnxruntime at the last node: the difference is not the converter's "
               "(compare onnxruntime with PyTorch: the onnx-check step)")
        return {"status": "not_found", "why": why, **done, "conversions": locator.conversions,
                "seconds": round(time.perf_counter() - started, 1)}
    matched, first, exact = search(lambda i: locator.try_probe(nodes, i), len(nodes), last, echo)
    kept = dest / "locate"
    kept.mkdir(parents=True, exist_ok=True)
    sub = kept / f"first-divergent-{first.node.index}-{first.node.op}.onnx"
    shutil.copyfile(first.submodel, sub)
    return {"status": "found", "first_divergent": {**first.node.describe(), "max_abs_diff": first.max_abs,
                                                   "max_rel_diff": first.max_rel, "problem": first.problem},
            "last_matching": {**matched.node.describe(), "max_abs_diff": matched.max_abs} if matched else None,
            "exact": exact, "submodel": str(sub), "tolerance": {"atol": plan.config.atol, "rtol": plan.config.rtol},
            **done, "conversions": locator.conversions, "seconds": round(time.perf_counter() - started, 1)}


def render(block: dict) -> list[str]:
    """The summary's lines for a locate block."""
    if block.get("status") != "found":
        return [f"located nothing: {block.get('why')}"]
    d, m = block["first_divergent"], block.get("last_matching")
    diff = (d.get("problem") if d["max_abs_diff"] is None else
            f"max abs {d['max_abs_diff']:.2e}, max rel {d['max_rel_diff']:.2e}")
    lines = [f"first divergent node: {d['name']} ({d['op']}), node {d['index'] + 1} of {block['nodes']}, inputs "
             f"{d['input_shapes']}: {diff} (atol {block['tolerance']['atol']:g}, rtol {block['tolerance']['rtol']:g})"]
    if d["attributes"]:
        lines.append(f"  attributes: {d['attributes']}")
    lines.append(f"  last matching: {m['name']} ({m['op']}), max abs {m['max_abs_diff']:.2e}" if m else
                 "  last matching: the graph inputs")
    lines.append(f"  {block['conversions']} conversions, {block['seconds']} s; sub-model kept: {block['submodel']}")
    return lines
