"""`--executor slurm` against a real single-node Slurm (munged + slurmctld + slurmd started by the
fixture under a temp dir): batch and a reduced matrix give the same results as `--executor local`;
Ctrl-C cancels the submitted jobs and a resume runs only what is missing; a job killed with scancel is
recorded as lost to the scheduler (not as a conversion failure) and is redone on resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import slurm_cluster
from conftest import ROOT, run_invoke

from torch2tf.configs.compat import load_compat

TF14_ROUTES = len(load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs").routes("tf1.4"))

pytestmark = [pytest.mark.slurm, pytest.mark.stack]

SLEEPY = '''
import os, time
import torch

class Sleepy(torch.nn.Module):
    """Sleeps in its forward while the flag file exists: a job that is surely running when killed."""
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        if os.path.exists({flag!r}):
            with open({marker!r}, "w") as fh:
                fh.write(str(os.getpid()))
            while os.path.exists({flag!r}):
                time.sleep(0.5)
        return self.conv(x)

def build():
    return Sleepy()
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = slurm_cluster.available()
    if why:
        pytest.fail(f"{why}: .ci/run installs it")   # never skipped quietly: CI must run these
    c = slurm_cluster.Cluster(tmp_path_factory.mktemp("slurm")).start()
    yield c
    c.stop()


def invoke(project: Path, artifacts: Path, cluster, *args: str, timeout: float = 1200):
    out = run_invoke(*args, env_overrides={"INVOKE_TORCH2TF_ROOT": str(project),
                                           "INVOKE_TORCH2TF_ARTIFACTS": str(artifacts), **cluster.env},
                     cwd=project, timeout=timeout)
    print(out.stdout[-3000:], out.stderr[-3000:])
    return out


def start_invoke(project: Path, artifacts: Path, cluster, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env.update({"PYTHONPATH": str(ROOT), "INVOKE_TORCH2TF_ROOT": str(project),
                "INVOKE_TORCH2TF_ARTIFACTS": str(artifacts), **cluster.env})
    return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=project, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.5)


def sleepy_matrix_model(project: Path, tmp_path: Path) -> tuple[Path, Path]:
    flag, marker = tmp_path / "slow.flag", tmp_path / "sleeping.pid"
    flag.write_text("1")
    (project / "configs" / "models" / "sleepy.py").write_text(SLEEPY.format(flag=str(flag), marker=str(marker)))
    (project / "configs" / "matrix" / "asleep.yaml").write_text(textwrap.dedent("""\
        name: m-asleep
        model: {factory: ../models/sleepy.py:build}
        inputs: [{name: x, shape: [1, 3, 8, 8]}]
        outputs: [y]
        target: tf1.4
        """))
    return flag, marker


def cells(artifacts: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in (artifacts / "matrix" / "cells").glob("*.json")}


def test_batch_on_slurm_gives_what_local_gives(project, tmp_path, cluster):
    configs = project / "configs"
    (configs / "bad-route.yaml").write_text((configs / "tinynet.yaml").read_text()
                                            .replace("name: tinynet", "name: bad-route")
                                            + "route: onnx-tf-1.3.0-opset10\n")
    args = ["batch", "--configs", "configs/tinynet.yaml,configs/bad-route.yaml"]
    local = invoke(project, tmp_path / "local", cluster, *args, "--jobs", "2")
    on_slurm = invoke(project, tmp_path / "slurm", cluster, *args, "--executor", "slurm")
    assert local.returncode == on_slurm.returncode == 1
    assert "slurm: submitted 2 jobs as array" in on_slurm.stdout

    def rows(artifacts):
        data = json.loads((artifacts / "batch.json").read_text())
        return {r["name"]: (r["status"], r.get("route"), (r.get("error") or {}).get("class"), r.get("max_abs_diff"))
                for r in data["runs"]}
    assert rows(tmp_path / "slurm") == rows(tmp_path / "local")
    assert rows(tmp_path / "slurm")["tinynet"][0] == "passed"
    assert rows(tmp_path / "slurm")["bad-route"][:3] == ("failed", None, "OpNotImplemented")


def test_reduced_matrix_on_slurm_gives_what_local_gives(project, tmp_path, cluster):
    args = ["matrix", "--models", "multihead", "--targets", "tf1.4"]
    local = invoke(project, tmp_path / "local", cluster, *args, "--jobs", "2")
    on_slurm = invoke(project, tmp_path / "slurm", cluster, *args, "--executor", "slurm")
    assert local.returncode == on_slurm.returncode == 0

    def outcome(artifacts):
        return {k: (v["status"], v.get("error_class"), v.get("max_abs_diff")) for k, v in cells(artifacts).items()}
    assert outcome(tmp_path / "slurm") == outcome(tmp_path / "local") and len(outcome(tmp_path / "local")) == TF14_ROUTES
    results = json.loads((tmp_path / "slurm" / "matrix" / "results.json").read_text())
    assert results["executor"] == "slurm" and results["unfinished"] == []
    assert (tmp_path / "slurm" / "matrix" / "report.html").is_file()


def test_ctrl_c_cancels_the_jobs_and_resume_runs_only_what_is_missing(project, tmp_path, cluster):
    flag, marker = sleepy_matrix_model(project, tmp_path)
    args = ["matrix", "--models", "asleep,multihead", "--targets", "tf1.4", "--executor", "slurm", "--max-jobs", "2"]
    run = start_invoke(project, tmp_path / "a", cluster, *args)
    wait_for(marker, run)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, (out, err)
    assert "slurm: cancelling" in out
    deadline = time.monotonic() + 60
    while cluster.jobs() and time.monotonic() < deadline:
        time.sleep(1)
    assert cluster.jobs() == [], "the submitted jobs were not cancelled"
    before = cells(tmp_path / "a")
    assert not any(k.startswith("asleep__") for k in before), before   # interrupted cells are not results

    flag.unlink()
    resumed = invoke(project, tmp_path / "a", cluster, *args)
    assert resumed.returncode == 0
    total = 2 * TF14_ROUTES
    assert f"matrix: {total} cells, {len(before)} already done, {total - len(before)} to run" in resumed.stdout
    assert len(cells(tmp_path / "a")) == total


def test_a_job_the_scheduler_kills_is_recorded_as_lost_and_redone(project, tmp_path, cluster):
    flag, marker = sleepy_matrix_model(project, tmp_path)
    args = ["matrix", "--models", "asleep", "--targets", "tf1.4", "--routes", "onnx2tf-downgrade",
            "--executor", "slurm"]
    run = start_invoke(project, tmp_path / "a", cluster, *args)
    wait_for(marker, run)
    running = [line.split()[0] for line in cluster.jobs() if line.split()[1] == "RUNNING"]
    assert len(running) == 1, cluster.jobs()
    subprocess.run(["scancel", running[0]], env={**os.environ, **cluster.env}, check=True)
    out, err = run.communicate(timeout=300)
    print(out, err)
    assert "SchedulerKilled" in out and "left the queue without a result" in out
    results = json.loads((tmp_path / "a" / "matrix" / "results.json").read_text())
    assert results["unfinished"] == ["asleep__tf1.4__onnx2tf-downgrade"]
    assert cells(tmp_path / "a") == {}          # never recorded as a conversion failure

    flag.unlink()
    resumed = invoke(project, tmp_path / "a", cluster, *args)
    assert "1 to run" in resumed.stdout and resumed.returncode == 0
    assert cells(tmp_path / "a")["asleep__tf1.4__onnx2tf-downgrade"]["status"] == "passed"
