"""The stage programs' declared contracts, read on the host so that a plan is checked before any
stage runs. The rule itself is stages/_protocol.py's (one implementation, loaded from that file)."""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

from torch2tf.errors import StageError


@functools.lru_cache(maxsize=None)
def _protocol(stages_dir: Path):
    spec = importlib.util.spec_from_file_location("torch2tf_stage_protocol", stages_dir / "_protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def contract(stages_dir: Path, stage: str) -> dict:
    """The CONTRACT literal at the top of stages/<stage>.py (read, not imported: stages need their env)."""
    path = stages_dir / f"{stage}.py"
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["CONTRACT"]:
            return ast.literal_eval(node.value)
    raise StageError(f"stage program {path.name} declares no CONTRACT", where=str(path),
                     hint="add CONTRACT = {'inputs': {...}, 'params': {...}, 'outputs': [...]} at its top")


def check(stages_dir: Path, stage: str, inputs: dict, params: dict, where: str) -> None:
    """Raise StageError naming the stage and the key when a request would not match the contract."""
    problems = _protocol(stages_dir).contract_problems(contract(stages_dir, stage),
                                                       {"inputs": inputs, "params": params})
    if problems:
        raise StageError(f"stage {stage}: the request does not match its CONTRACT: {'; '.join(problems)}",
                         where=where, hint=f"the plan and stages/{stage}.py disagree: a torch2tf bug",
                         error_class="StageContract", stage=stage)


def outputs(stages_dir: Path, stage: str) -> list[str]:
    return list(contract(stages_dir, stage).get("outputs", []))
