"""Signals and timeouts for real: a model whose forward never returns, in the real torch17 env.

SIGTERM to `invoke pipeline` stops the stage's process group and exits 143; SIGKILL of it leaves no stage
process (the stage watches its parent); a config `timeout:` stops
a hanging stage with StageTimeout; SIGINT in `invoke matrix` exits 130, saves no interrupted cell
and starts no queued one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.stack

HANG = '''
import os, time
import torch

class Hang(torch.nn.Module):
    def forward(self, x):
        with open({marker!r}, "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(600)
        return x

def build():
    return Hang()
'''


def hanging_config(folder: Path, name: str = "hang", extra: str = "") -> tuple[Path, Path]:
    marker = folder / f"{name}.pid"
    (folder / f"{name}.py").write_text(HANG.format(marker=str(marker)))
    cfg = folder / f"{name}.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        name: {name}
        model: {{factory: {name}.py:build}}
        inputs: [{{name: x, shape: [1, 4]}}]
        outputs: [y]
        target: tf1.13
        route: onnx2tf-downgrade
        """) + extra)
    return cfg, marker


def start(args, env_extra, cwd=ROOT) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env.update({"PYTHONPATH": str(ROOT), **env_extra})
    return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(marker: Path, proc: subprocess.Popen, seconds: float = 240) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if marker.is_file() and marker.read_text():
            return int(marker.read_text())
        if proc.poll() is not None:
            pytest.fail(f"ended before the stage hung: {proc.communicate()}")
        time.sleep(0.2)
    pytest.fail("the hanging stage never started")


def state(pid: int) -> str | None:
    """The process's state letter and parent from /proc (None when it is gone): 'S 1', 'Z 1', ..."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return f"{fields[0]} {fields[1]}"


def gone(pid: int, seconds: float = 15) -> bool:
    """Ended: no such process, or a zombie (dead, waiting for whoever adopted it to reap it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = state(pid)
        if now is None or now.startswith(("Z", "X")):
            return True
        time.sleep(0.2)
    return False


def test_sigterm_stops_the_stage_group_and_exits_143(tmp_path):
    cfg, marker = hanging_config(tmp_path)
    proc = start(["pipeline", "--config", str(cfg)], {"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")})
    stage_pid = wait_for(marker, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (out, err)
    assert "interrupted by SIGTERM" in err and "Traceback" not in err
    assert gone(stage_pid), "the stage process outlived invoke (an orphan under PID 1)"


def test_a_config_timeout_stops_a_hanging_stage(tmp_path):
    cfg, marker = hanging_config(tmp_path, extra="timeout: 20\n")
    proc = start(["pipeline", "--config", str(cfg)], {"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")})
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in err
    assert "stage export did not finish within 20 s" in err and "timeout:" in err
    assert gone(int(marker.read_text()))


def test_sigint_in_a_matrix_saves_no_interrupted_cell_and_starts_no_queued_one(project, tmp_path):
    models = project / "configs" / "matrix"
    hanging_config(models, name="aa-hang")
    env = {"INVOKE_TORCH2TF_ROOT": str(project), "INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")}
    proc = start(["matrix", "--models", "aa-hang,squeezelike", "--targets", "tf1.13", "--routes",
                  "onnx2tf-downgrade", "--jobs", "1"], env, cwd=project)
    stage_pid = wait_for(models / "aa-hang.pid", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted by SIGINT" in err and gone(stage_pid)
    cells = tmp_path / "a" / "matrix" / "cells"
    assert not cells.exists() or not list(cells.iterdir()), "an interrupted or queued cell was recorded"
    assert "squeezelike" not in out


HANG_WITH_CHILD = '''
import os, subprocess, time
import torch

class Hang(torch.nn.Module):
    def forward(self, x):
        child = subprocess.Popen(["sleep", "600"])      # what a stage's library may start (onnxsim)
        with open({marker!r}, "w") as fh:
            fh.write("%d %d" % (os.getpid(), child.pid))
        time.sleep(600)
        return x

def build():
    return Hang()
'''


def test_kill_9_of_invoke_leaves_no_stage_process_running(tmp_path):
    """No handler of the host runs on SIGKILL: the stage notices it was re-parented and kills its group."""
    cfg, marker = hanging_config(tmp_path)
    (tmp_path / "hang.py").write_text(HANG_WITH_CHILD.format(marker=str(marker)))
    proc = start(["pipeline", "--config", str(cfg)], {"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")})
    deadline = time.monotonic() + 240
    while not (marker.is_file() and len(marker.read_text().split()) == 2):
        assert time.monotonic() < deadline and proc.poll() is None, "the stage never started"
        time.sleep(0.2)
    stage_pid, child_pid = map(int, marker.read_text().split())
    proc.kill()
    proc.communicate(timeout=30)
    assert gone(stage_pid, seconds=2), f"the stage outlived a killed invoke (state, parent: {state(stage_pid)})"
    assert gone(child_pid, seconds=2), f"the stage's own child outlived a killed invoke ({state(child_pid)})"
