"""Shared fixtures. Markers: `envbuild` builds real envs with uv, `stack` runs the real stacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INVOKE = [sys.executable, "-m", "invoke"]

# a tiny real stack (Python 3.6, three wheels) for tests of specs, locks and the env store
TINY_SPEC = """# a tiny stack for the store tests
name: torch2tf-tiny
channels: [conda-forge]
dependencies:
  - python=3.6
  - pip
  - pip:
      - "--only-binary=:all:"
      - six==1.16.0
      - numpy==1.19.5
      - protobuf==3.19.6
"""


def run_invoke(*args: str, env_overrides: dict | None = None, timeout: float = 3000,
               cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`invoke ...` as a real process, the way a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env["PYTHONPATH"] = str(ROOT)   # the scratch projects' tasks.py import this checkout's core
    env.update(env_overrides or {})
    return subprocess.run(INVOKE + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def pipeline_on_onnx(tmp_path: Path, model, name: str, target: str, *args: str, inputs: str = ""):
    """An onnx ModelProto saved and run as a user's plain `model: {onnx: FILE}` config; asserts it
    verified and returns (the finished process, its Report)."""
    import onnx
    from torch2tf.run.report import Report
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(f"name: {name}\nmodel: {{onnx: {path}}}\n" + (f"inputs: {inputs}\n" if inputs else "")
                   + f"target: {target}\n")
    out = run_invoke("pipeline", "--config", str(cfg), *args,
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")})
    print(out.stdout[-3000:], out.stderr[-3000:])
    assert out.returncode == 0, out.stderr
    return out, Report.load(tmp_path / "a" / name / "report.json")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the project's code (tasks, stages, configs, envs) to break safely."""
    dst = tmp_path / "project"
    dst.mkdir()
    for name in ("tasks.py", "invoke.yaml"):
        shutil.copy(ROOT / name, dst / name)
    for name in ("stages", "configs", "envs"):
        shutil.copytree(ROOT / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


@pytest.fixture
def artifacts_env(tmp_path: Path) -> dict:
    """Route a pipeline's artifacts into tmp; stage envs and cache stay in the shared store."""
    return {"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "artifacts")}


@pytest.fixture
def host_runner(tmp_path: Path, monkeypatch):
    """A StageRunner over a scratch stages/ dir (stages/_protocol.py and batch.py copied; a test adds
    its own stage program) whose one env, "host", is this interpreter. The seam is the env store:
    no uv, no lock. The stage programs and their processes are real."""
    from torch2tf.envs.store import Env
    from torch2tf.run import stagerun
    from torch2tf.settings import Settings
    root = tmp_path / "proj"
    (root / "stages").mkdir(parents=True)
    (root / "envs").mkdir()
    (root / "envs" / "host.yml").write_text("dependencies:\n  - python=3.11\n  - pip:\n      - six==1.16.0\n")
    for name in ("_protocol.py", "_batch.py"):
        shutil.copy(ROOT / "stages" / name, root / "stages")
    fake_env = tmp_path / "hostenv"
    (fake_env / "bin").mkdir(parents=True)
    os.symlink(sys.executable, fake_env / "bin" / "python")
    env = Env(name="host", path=fake_env, digest="fake00000000")
    builds = []
    monkeypatch.setattr(stagerun.envs, "resolve", lambda spec, settings: (env, None, None))
    monkeypatch.setattr(stagerun.envs, "build", lambda spec, settings: builds.append(spec.name) or (env, False))
    runner = stagerun.StageRunner(Settings(root=root, store=tmp_path / "store"))
    runner.builds = builds
    return runner
