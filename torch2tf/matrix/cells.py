"""The matrix's cells: which model x target x route combinations a run covers, and which of them
already have a result on file for today's model and route definitions (resume)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch2tf.configs.compat import load_compat
from torch2tf.configs.config import load_config
from torch2tf.configs.identity import model_digest
from torch2tf.errors import ConfigError
from torch2tf.routing import export_stack
from torch2tf.settings import Settings


@dataclass(frozen=True)
class Cell:
    model: str          # config stem in configs/matrix/
    config: Path
    target: str
    route: str
    model_digest: str   # what the model is and what the route does: a result on file counts
    route_digest: str   # only while both are unchanged
    export_stack: str = ""   # the export env the model's config picks (model.torch)

    @property
    def id(self) -> str:
        return f"{self.model}__{self.target}__{self.route}"


def select(settings: Settings, models=None, targets=None, routes=None) -> list[Cell]:
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    configs = {p.stem: p for p in sorted((settings.configs_dir / "matrix").glob("*.yaml"))}
    for name in models or []:
        if name not in configs:
            raise ConfigError(f"no matrix model {name!r}", where=str(settings.configs_dir / "matrix"),
                              hint=f"models: {', '.join(configs)}")
    for t in targets or []:
        compat.routes(t)
    cells = []
    for model in models or configs:
        cfg = load_config(configs[model])
        digest, stack = model_digest(cfg), export_stack(compat, cfg)
        for target in targets or compat.targets:
            for route in compat.routes(target, stack):
                if not routes or route.name in routes:
                    cells.append(Cell(model=model, config=configs[model], target=target, route=route.name,
                                      model_digest=digest, route_digest=route.digest, export_stack=stack))
    if not cells:
        raise ConfigError("the selection leaves no cells to run", where=str(compat.path),
                          hint="check --models / --targets / --routes")
    return cells


def result_on_file(cell: Cell, cell_dir: Path) -> dict | None:
    """The cell's result on file if it is for this very model and route definition, else None."""
    path = cell_dir / f"{cell.id}.json"
    if not path.is_file():
        return None
    row = json.loads(path.read_text())
    current = row.get("model_digest") == cell.model_digest and row.get("route_digest") == cell.route_digest
    return row if current else None
