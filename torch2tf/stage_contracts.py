"""A stage program's CONTRACT literal, read on the host (parsed, not imported: stages need their env).
Below both configs and run: compat.yaml's route steps are checked against it too."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from torch2tf.errors import StageError


@functools.lru_cache(maxsize=None)
def contract(stages_dir: Path, stage: str) -> dict:
    """The CONTRACT literal at the top of stages/<stage>.py (read, not imported: stages need their env)."""
    path = stages_dir / f"{stage}.py"
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["CONTRACT"]:
            return ast.literal_eval(node.value)
    raise StageError(f"stage program {path.name} declares no CONTRACT", where=str(path),
                     hint="add CONTRACT = {'inputs': {...}, 'params': {...}, 'outputs': [...]} at its top")
