"""Route choice: the order in which a run tries a target's routes, and why, from what was measured, for
models like this one (by their ops), and from what the ONNX node tests say each route does with each op.
gather() collects the evidence; rank() is one pass over it.

Measurements come from two places: docs/measurements.json, committed and rewritten by `invoke matrix`
(so a fresh clone ranks by measurement), and this machine's artifacts/matrix/results.json, whose
cells override the shipped ones for the same model, target and route. Imports nothing of the
pipeline or the matrix, so both can use it.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from torch2tf.configs.compat import Compat, Route
from torch2tf.configs.config import PipelineConfig
from torch2tf.configs.identity import model_digest
from torch2tf.settings import Settings

CELL_KEYS = {"target", "route", "model_digest", "status"}
SHIPPED = Path("docs") / "measurements.json"
CONFORMANCE = Path("docs") / "conformance.json"


def cells_in(path: Path) -> list[dict]:
    """The cells of a results file; a missing file is none, a damaged one is a warning and none."""
    if not path.is_file():
        return []
    try:
        cells = json.loads(path.read_text()).get("cells", [])
        return [c for c in cells if isinstance(c, dict) and CELL_KEYS <= set(c)]
    except (OSError, ValueError, AttributeError) as exc:
        warnings.warn(f"ignoring damaged matrix results {path}: {exc} (re-run `invoke matrix` to rewrite them)")
        return []


def measured_cells(settings: Settings) -> list[dict]:
    """Shipped measurements, overridden cell by cell by this machine's matrix results."""
    merged = {}
    for path in (settings.root / SHIPPED, settings.matrix_dir / "results.json"):
        for c in cells_in(path):
            merged[(c["model_digest"], c["target"], c["route"])] = c
    return list(merged.values())


@dataclass(frozen=True)
class Evidence:
    """Everything route choice reads, gathered before it runs (gather()); rank() is one pass over it."""
    cells: list[dict]                       # matrix cells (shipped, then local), every export stack
    digests: dict[str, set[str]]            # route name -> its current definitions' digests (any export stack)
    model_digest: str
    model_ops: frozenset[str] | None = None # the model's op tokens (model_ops.op_tokens), when known
    failing_ops: dict[str, set[str]] = field(default_factory=dict)   # route -> ops no node test passes on it
    cell_ops: dict[str, frozenset[str]] = field(default_factory=dict)  # model digest -> its tokens


@dataclass(frozen=True)
class Standing:
    """What was measured for one route of a target: for this model, and over models like it."""
    route: Route
    for_model: str | None          # passed | failed | None (not measured for this model)
    passes: float                  # weighted by each matrix model's likeness to this one
    measured: float
    latency_ratio: float | None    # latency over PyTorch eager: this model's own, else the weighted median
    failing_ops: tuple[str, ...] = ()   # the model's ops that no conformance test passes on this route
    models: int = 0                # matrix models measured on it

    @property
    def rate(self) -> float:
        return self.passes / self.measured if self.measured else 0.0

    def tier(self) -> int:
        """0 passed for this model; 1 likely to pass; 2 unlikely (few like it passed); 3 known to fail."""
        if self.for_model == "passed":
            return 0
        if self.for_model == "failed" or self.failing_ops:
            return 3
        return 1 if not self.measured or self.rate >= LIKELY else 2

    def sort_key(self, declared_index: int) -> tuple:
        # latencies within a few percent are a tie (a shared machine measures that much noise): then the
        # pass rate, then the declared order, which puts the routes that convert in the target runtime first
        latency = round(math.log(self.latency_ratio) / math.log(SAME_SPEED)) if self.latency_ratio else math.inf
        return (self.tier(), latency, -round(self.rate, 2), declared_index)

    def describe(self) -> str:
        model = {"passed": "passed for this model", "failed": "failed for this model",
                 None: "not measured for this model"}[self.for_model]
        fails = f"; no node test of {', '.join(self.failing_ops)} passes on it" if self.failing_ops else ""
        speed = f", x{self.latency_ratio:.2f} PyTorch's latency" if self.latency_ratio is not None else ""
        like = " like it" if self.models and self.measured != self.models else ""
        return f"{model}{fails}; passed {self.rate:.0%} of {self.models} matrix models{like}{speed}"


SAME_SPEED = 1.05       # latency ratios closer than this count as one speed
LIKELY = 0.5            # a weighted pass rate below this puts a route after the likely ones
FLOOR_WEIGHT = 0.05     # an unlike model still counts a little: better than no measurement


def _weight(ev: Evidence, digest: str) -> float:
    from torch2tf.model_ops import similarity
    like = similarity(ev.model_ops, ev.cell_ops.get(digest))
    return 1.0 if like is None else FLOOR_WEIGHT + like ** 2


def _weighted_median(pairs: list[tuple[float, float]]) -> float | None:
    pairs = sorted(pairs)
    total, run = sum(w for _, w in pairs), 0.0
    for value, w in pairs:
        run += w
        if run >= total / 2:
            return value
    return None


def standing(route: Route, target: str, ev: Evidence) -> Standing:
    mine = [c for c in ev.cells if c["target"] == target and c["route"] == route.name
            and c.get("route_digest", route.digest) in ev.digests.get(route.name, {route.digest})]
    own = [c for c in mine if c["model_digest"] == ev.model_digest]
    others = [c for c in mine if c["model_digest"] != ev.model_digest]
    weights = [_weight(ev, c["model_digest"]) for c in others]
    ratio = [(c["latency_ms"] / c["pytorch_latency_ms"], w) for c, w in zip(others, weights)
             if c["status"] == "passed" and c.get("latency_ms") and c.get("pytorch_latency_ms")]
    own_ratio = [c["latency_ms"] / c["pytorch_latency_ms"] for c in own
                 if c["status"] == "passed" and c.get("latency_ms") and c.get("pytorch_latency_ms")]
    # an op the node tests fail on this route, unless a model holding it verified through the route
    proven = set().union(*[ev.cell_ops.get(c["model_digest"], frozenset()) for c in mine if c["status"] == "passed"])
    failing = tuple(sorted((ev.model_ops or frozenset()) & ev.failing_ops.get(route.name, set()) - proven))
    return Standing(route=route, for_model=own[0]["status"] if own else None,
                    passes=sum(w for c, w in zip(others, weights) if c["status"] == "passed") + (
                        1.0 if own and own[0]["status"] == "passed" else 0.0),
                    measured=sum(weights) + (1.0 if own else 0.0),
                    latency_ratio=own_ratio[0] if own_ratio else _weighted_median(ratio),
                    failing_ops=failing, models=len({c["model_digest"] for c in mine}))


def rank(routes: tuple[Route, ...], target: str, ev: Evidence) -> list[tuple[Route, str]]:
    """Every route, best first, each with the reason for its place: passed for this very model; else
    likely to pass (a weighted pass rate over the matrix's models, each weighted by how like this model
    its ops are), unlikely, or known to fail (on this model, or on one of its ops by the node tests);
    within a tier by latency over PyTorch eager (this model's own, else the weighted median of models
    like it), then pass rate; the declared order breaks ties."""
    table = [standing(r, target, ev) for r in routes]
    if not any(s.measured or s.failing_ops for s in table):
        return [(s.route, f"declared order for {target} (nothing measured)") for s in table]
    order = sorted(enumerate(table), key=lambda item: item[1].sort_key(item[0]))
    how = "" if ev.model_ops else " [the model's ops not known yet: every matrix model counts alike]"
    return [(s.route, f"rank {n} of {len(table)}: {s.describe()}{how}") for n, (_, s) in enumerate(order, 1)]


def failing_ops(path: Path, target: str) -> dict[str, set[str]]:
    """route -> the ops whose every single-op node test fails on it for this target (docs/conformance.json)."""
    if not path.is_file():
        return {}
    try:
        run = json.loads(path.read_text())["after"]
        pairs = [(t, r) for t in sorted(run["targets"]) for r in run["targets"][t]]
        passed: dict[tuple[str, str], bool] = {}
        for test, rows in run["cells"].items():
            ops = run["tests"][test]["ops"]
            if len(ops) != 1:
                continue
            for (t, route), row in zip(pairs, rows):
                if t == target:
                    passed[(route, ops[0])] = passed.get((route, ops[0]), False) or bool(row[0])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"ignoring damaged conformance results {path}: {exc}")
        return {}
    out: dict[str, set[str]] = {}
    for (route, op), ok in passed.items():
        if not ok:
            out.setdefault(route, set()).add(op)
    # an op no route passes tells no route from another (the tests' own shapes, e.g. Constant)
    somewhere = {op for (route, op), ok in passed.items() if ok}
    return {route: ops & somewhere for route, ops in out.items()}


def gather(compat: Compat, cfg: PipelineConfig, target: str, settings: Settings,
           model_ops: frozenset[str] | None = None) -> Evidence:
    """What rank() reads: measured cells, each route's current digests over the export stacks, the
    conformance table's failing ops, and the model's own ops (an .onnx model's from its file)."""
    from torch2tf.model_ops import op_tokens
    if model_ops is None and cfg.model.onnx:
        model_ops = op_tokens(cfg.model.onnx.path)
    digests: dict[str, set[str]] = {}
    for stack in compat.export_stacks:
        for route in compat.routes(target, stack):
            digests.setdefault(route.name, set()).add(route.digest)
    cells = measured_cells(settings)
    return Evidence(cells=cells, digests=digests, model_digest=model_digest(cfg), model_ops=model_ops,
                    failing_ops=failing_ops(settings.root / CONFORMANCE, target),
                    cell_ops={c["model_digest"]: frozenset(c["ops"]) for c in cells if c.get("ops")})


def export_stack(compat: Compat, cfg: PipelineConfig) -> str:
    """The export env the config's model.torch picks (the default stack without it); for an .onnx
    model, the first stack that reads the file (it takes the file in instead of exporting)."""
    if cfg.model.onnx:
        return compat.onnx_reader(cfg.model.onnx.opset, cfg.model.onnx.ir_version, f"{cfg.path}: model.onnx")
    return compat.export_stack(cfg.model.torch, where=f"{cfg.path}: model.torch")


def candidates(compat: Compat, cfg: PipelineConfig, target: str, forced: str | None,
               settings: Settings, model_ops: frozenset[str] | None = None) -> list[tuple[Route, str]]:
    """The routes a run tries, in order: the forced one alone, else the ranking."""
    stack = export_stack(compat, cfg)
    if forced:
        return [(compat.route(target, forced, stack), "forced with --route / route: in the config")]
    return rank(compat.routes(target, stack), target, gather(compat, cfg, target, settings, model_ops))
