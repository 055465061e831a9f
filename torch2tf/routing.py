"""Route choice: which of a target's routes a run takes, and why, from what the matrix measured.

Reads artifacts/matrix/results.json (written by `invoke matrix`); imports nothing of the pipeline
or the matrix, so both can use it.
"""

from __future__ import annotations

import json
import warnings

from torch2tf.configs.compat import Compat, Route
from torch2tf.configs.config import PipelineConfig
from torch2tf.configs.identity import model_digest
from torch2tf.settings import Settings


def measured_cells(settings: Settings) -> list[dict]:
    """The matrix cells on file; a missing file is none, a damaged one is a warning and none."""
    path = settings.matrix_dir / "results.json"
    if not path.is_file():
        return []
    try:
        cells = json.loads(path.read_text()).get("cells", [])
        return [c for c in cells if isinstance(c, dict) and {"target", "route", "model_digest", "status"} <= set(c)]
    except (OSError, ValueError, AttributeError) as exc:
        warnings.warn(f"ignoring damaged matrix results {path}: {exc} (re-run `invoke matrix` to rewrite them)")
        return []


def measured_route(cells: list[dict], target: str, digest: str, declared: list[str]) -> tuple[str, str] | None:
    """The route to take from the matrix's measurements, with the reason; None if nothing measured."""
    cells = [c for c in cells if c["target"] == target]
    for name in declared:
        if any(c["route"] == name and c["model_digest"] == digest and c["status"] == "passed" for c in cells):
            return name, "the matrix measured it passing for this model"
    wins = {name: sum(1 for c in cells if c["route"] == name and c["status"] == "passed") for name in declared}
    if wins and max(wins.values()) > 0:
        best = max(declared, key=lambda n: (wins[n], -declared.index(n)))
        tried = sum(1 for c in cells if c["model_digest"] == digest)
        why = (f"all {tried} routes measured for this model failed in the matrix" if tried
               else "this model is not in the matrix")
        return best, f"{why}; this one passed for the most models ({wins[best]})"
    return None


def pick_route(compat: Compat, cfg: PipelineConfig, target: str, forced: str | None,
               settings: Settings) -> tuple[Route, str]:
    """--route, else what `invoke matrix` measured, else the declared order."""
    if forced:
        return compat.route(target, forced), "forced with --route / route: in the config"
    declared = [r.name for r in compat.routes(target)]
    measured = measured_route(measured_cells(settings), target, model_digest(cfg), declared)
    if measured:
        return compat.route(target, measured[0]), measured[1]
    return compat.routes(target)[0], "first declared route for " + target + " (no matrix results yet)"
