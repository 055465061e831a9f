"""Route choice: the order in which a run tries a target's routes, and why, from what was measured.

Measurements come from two places: docs/measurements.json, committed and rewritten by `invoke matrix`
(so a fresh clone ranks by measurement), and this machine's artifacts/matrix/results.json, whose
cells override the shipped ones for the same model, target and route. Imports nothing of the
pipeline or the matrix, so both can use it.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import warnings
from dataclasses import dataclass
from pathlib import Path

from torch2tf.configs.compat import Compat, Route
from torch2tf.configs.config import PipelineConfig
from torch2tf.configs.identity import model_digest
from torch2tf.settings import Settings

CELL_KEYS = {"target", "route", "model_digest", "status"}
SHIPPED = Path("docs") / "measurements.json"


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
class Standing:
    """What was measured for one route of a target: for this model, and over the matrix's models."""
    route: Route
    for_model: str | None          # passed | failed | None (not measured for this model)
    passes: int
    measured: int
    latency_ratio: float | None    # median latency over PyTorch eager, over the passed cells

    def sort_key(self, declared_index: int) -> tuple:
        expected = {"passed": 0, None: 1, "failed": 2}[self.for_model]
        rate = self.passes / self.measured if self.measured else 0.0
        return (expected, -rate, self.latency_ratio if self.latency_ratio is not None else float("inf"),
                declared_index)

    def describe(self) -> str:
        model = {"passed": "passed for this model", "failed": "failed for this model",
                 None: "not measured for this model"}[self.for_model]
        speed = f", x{self.latency_ratio:.2f} PyTorch's latency" if self.latency_ratio is not None else ""
        return f"{model}; passed {self.passes}/{self.measured} matrix models{speed}"


def standings(compat: Compat, target: str, stack: str, digest: str, cells: list[dict]) -> list[Standing]:
    out = []
    for route in compat.routes(target, stack):
        mine = [c for c in cells if c["target"] == target and c["route"] == route.name
                and c.get("route_digest", route.digest) == route.digest]
        own = [c["status"] for c in mine if c["model_digest"] == digest]
        ratios = [c["latency_ms"] / c["pytorch_latency_ms"] for c in mine
                  if c["status"] == "passed" and c.get("latency_ms") and c.get("pytorch_latency_ms")]
        out.append(Standing(route=route, for_model=own[0] if own else None,
                            passes=sum(c["status"] == "passed" for c in mine), measured=len(mine),
                            latency_ratio=statistics.median(ratios) if ratios else None))
    return out


def export_stack(compat: Compat, cfg: PipelineConfig) -> str:
    """The export env the config's model.torch picks (the default stack without it); for an .onnx
    model, the first stack that reads the file (it takes the file in instead of exporting)."""
    if cfg.model.onnx:
        return compat.onnx_reader(cfg.model.onnx.opset, cfg.model.onnx.ir_version, f"{cfg.path}: model.onnx")
    return compat.export_stack(cfg.model.torch, where=f"{cfg.path}: model.torch")


def rank(compat: Compat, cfg: PipelineConfig, target: str, settings: Settings) -> list[tuple[Route, str]]:
    """Every route of the target, best first, each with the reason for its place: routes that passed
    for this very model, then by pass rate over the matrix's models, then by measured latency; the
    declared order breaks ties. Measurements count per export stack (a route's digest names its
    export env); a stack with none yet is ranked by the default stack's, and says so."""
    stack = export_stack(compat, cfg)
    cells = measured_cells(settings)
    table = standings(compat, target, stack, model_digest(cfg), cells)
    note = ""
    if not any(s.measured for s in table) and stack != compat.default_export:
        by_default = standings(compat, target, compat.default_export, model_digest(cfg), cells)
        if any(s.measured for s in by_default):
            mine = compat.routes(target, stack)       # the same routes, exporting in the model's stack
            table = [dataclasses.replace(s, route=r) for s, r in zip(by_default, mine)]
            note = f" [measured with {compat.default_export}'s export; nothing yet with {stack}'s]"
    if not any(s.measured for s in table):
        return [(s.route, f"declared order for {target} (nothing measured)") for s in table]
    order = sorted(enumerate(table), key=lambda item: item[1].sort_key(item[0]))
    return [(s.route, f"rank {n} of {len(table)}: {s.describe()}{note}") for n, (_, s) in enumerate(order, 1)]


def candidates(compat: Compat, cfg: PipelineConfig, target: str, forced: str | None,
               settings: Settings) -> list[tuple[Route, str]]:
    """The routes a run tries, in order: the forced one alone, else the ranking."""
    if forced:
        return [(compat.route(target, forced, export_stack(compat, cfg)), "forced with --route / route: in the config")]
    return rank(compat, cfg, target, settings)
