"""The stage programs' declared contracts, read on the host so that a plan is checked before any
stage runs. The rule itself is stages/_protocol.py's (one implementation, loaded from that file)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from torch2tf.errors import StageError
from torch2tf.stage_contracts import contract


@functools.lru_cache(maxsize=None)
def _protocol(stages_dir: Path):
    spec = importlib.util.spec_from_file_location("torch2tf_stage_protocol", stages_dir / "_protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
