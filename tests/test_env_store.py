"""The env store with real uv, real interpreters and real processes, on a tiny Python 3.6 spec.

Each test gets its own project (envs/tiny.yml) and store, driven through `invoke env.*`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import INVOKE, ROOT, TINY_SPEC, run_invoke

pytestmark = pytest.mark.envbuild



@pytest.fixture
def tiny(tmp_path: Path) -> dict:
    root = tmp_path / "proj"
    (root / "envs").mkdir(parents=True)
    shutil.copy(ROOT / "tasks.py", root / "tasks.py")
    shutil.copy(ROOT / "invoke.yaml", root / "invoke.yaml")
    (root / "envs" / "tiny.yml").write_text(TINY_SPEC)
    env = {"INVOKE_TORCH2TF_ROOT": str(root), "TORCH2TF_STORE": str(tmp_path / "store")}
    out = run_invoke("env.lock", "--name", "tiny", env_overrides=env, cwd=root)
    assert out.returncode == 0, out.stdout + out.stderr
    return {"root": root, "store": tmp_path / "store", "env": env}


def invoke(tiny, *args, **kw):
    return run_invoke(*args, env_overrides=tiny["env"], cwd=tiny["root"], **kw)


def env_dirs(tiny) -> list[Path]:
    return sorted((tiny["store"] / "envs").glob("tiny-*")) if (tiny["store"] / "envs").exists() else []


def test_lock_pins_every_transitive_and_check_detects_drift(tiny):
    lock = (tiny["root"] / "envs" / "locks").glob("tiny.*.txt")
    text = next(lock).read_text()
    assert "six==1.16.0" in text and "--hash=sha256:" in text and "--only-binary" in text
    assert invoke(tiny, "env.lock", "--check").returncode == 0
    spec = tiny["root"] / "envs" / "tiny.yml"
    spec.write_text(spec.read_text().replace("six==1.16.0", "six==1.15.0"))
    out = invoke(tiny, "env.lock", "--check")
    assert out.returncode == 1 and "STALE" in out.stdout and "tiny" in out.stderr
    build = invoke(tiny, "env.build", "--name", "tiny")
    assert build.returncode == 1 and "no longer matches its spec" in build.stderr
    assert "Traceback" not in build.stderr


def test_build_once_then_reuse_list_run_and_prune(tiny):
    first = invoke(tiny, "env.build", "--name", "tiny")
    assert first.returncode == 0, first.stderr
    assert "built " in first.stdout
    [env_dir] = env_dirs(tiny)
    marker = json.loads((env_dir / ".torch2tf-env.json").read_text())
    assert marker["python"].startswith("3.6.")
    second = invoke(tiny, "env.build", "--name", "tiny")
    assert "reused" in second.stdout
    listing = invoke(tiny, "env.list", "--json")
    [row] = json.loads(listing.stdout)
    assert row["state"] == "built" and row["digest"] in env_dir.name and row["size_mb"] > 0
    code = invoke(tiny, "env.run", "--name", "tiny", "python -c 'import six, numpy, sys; assert sys.version_info[:2] == (3, 6); print(numpy.__version__)'")
    assert code.returncode == 0 and "1.19.5" in code.stdout
    # a spec change makes a new env; prune removes the old one and keeps the new one
    spec = tiny["root"] / "envs" / "tiny.yml"
    spec.write_text(spec.read_text().replace("six==1.16.0", "six==1.15.0"))
    assert invoke(tiny, "env.lock", "--name", "tiny").returncode == 0
    assert json.loads(invoke(tiny, "env.list", "--json").stdout)[0]["state"] == "stale"
    assert invoke(tiny, "env.build", "--name", "tiny").returncode == 0
    assert len(env_dirs(tiny)) == 2
    pruned = invoke(tiny, "env.prune")
    assert pruned.returncode == 0 and env_dir.name in pruned.stdout
    assert len(env_dirs(tiny)) == 1 and env_dirs(tiny)[0] != env_dir


def test_pip_fallback_installer_builds_a_working_relocated_env(tiny):
    """The design's fallback: the venv's own pip with --require-hashes, scripts pointed at the final dir."""
    out = run_invoke("env.build", "--name", "tiny", env_overrides={**tiny["env"], "TORCH2TF_INSTALLER": "pip"},
                     cwd=tiny["root"])
    assert out.returncode == 0, out.stdout + out.stderr
    [env_dir] = env_dirs(tiny)
    assert json.loads((env_dir / ".torch2tf-env.json").read_text())["installer"] == "pip"
    log = next((tiny["store"] / "logs").glob("tiny-*.log")).read_text()
    assert "-m pip install" in log and "--require-hashes" in log
    # an entry-point script runs from the renamed dir (its shebang was the build dir's)
    f2py = subprocess.run([str(env_dir / "bin" / "f2py"), "-v"], capture_output=True, text=True)
    assert f2py.returncode == 0 and f2py.stdout.strip().startswith("2"), f2py.stderr
    scripts = [p for p in (env_dir / "bin").iterdir() if p.is_file() and not p.is_symlink()
               and p.read_bytes().startswith(b"#!")]
    assert scripts and not any(b".build-" in p.read_bytes().splitlines()[0] for p in scripts)
    bad = run_invoke("env.build", "--name", "tiny", "--fresh",
                     env_overrides={**tiny["env"], "TORCH2TF_INSTALLER": "conda"}, cwd=tiny["root"])
    assert bad.returncode == 1 and "unknown installer 'conda'" in bad.stderr and "Traceback" not in bad.stderr
    assert env_dirs(tiny) == [env_dir]       # the refused rebuild left the env in place


def _start_build(tiny, *extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env.update(tiny["env"], PYTHONPATH=str(ROOT))
    return subprocess.Popen(INVOKE + ["env.build", "--name", "tiny", *extra], cwd=tiny["root"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_build_killed_halfway_is_detected_and_rebuilt(tiny):
    envs_root = tiny["store"] / "envs"
    killed_halfway = False
    for _ in range(5):
        proc = _start_build(tiny, "--fresh")
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            building = list(envs_root.glob(".build-tiny-*/lib/python3.6/site-packages")) if envs_root.exists() else []
            if building:     # the venv exists and uv is installing into it: kill the whole group
                os.killpg(proc.pid, signal.SIGKILL)
                killed_halfway = True
                break
            time.sleep(0.005)
        proc.wait()
        if killed_halfway:
            break
    assert killed_halfway, "the build always finished before it could be killed"
    assert list(envs_root.glob(".build-tiny-*")), "a killed build leaves its temp dir"
    assert not any((d / ".torch2tf-env.json").exists() for d in env_dirs(tiny))
    assert json.loads(invoke(tiny, "env.list", "--json").stdout)[0]["state"] != "built"
    again = invoke(tiny, "env.build", "--name", "tiny")
    assert again.returncode == 0 and "built " in again.stdout, again.stderr
    assert not list(envs_root.glob(".build-tiny-*"))
    assert invoke(tiny, "env.run", "--name", "tiny", "python -c 'import numpy'").returncode == 0


def test_two_concurrent_builds_both_succeed_and_build_once(tiny):
    procs = [_start_build(tiny) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    said = [o[0] for o in outs]
    assert sum("built " in s for s in said) == 1 and sum("reused" in s for s in said) == 1, said
    assert len(env_dirs(tiny)) == 1


def test_missing_interpreter_says_what_was_tried(tiny):
    spec = tiny["root"] / "envs" / "tiny.yml"
    spec.write_text(spec.read_text().replace("python=3.6", "python=3.4"))
    out = invoke(tiny, "env.lock", "--name", "tiny")
    assert out.returncode == 1
    assert "no Python 3.4 interpreter found" in out.stderr and "pyenv versions" in out.stderr
    assert "Traceback" not in out.stderr


def test_conda_lock_says_clearly_when_channels_are_unreachable(tiny):
    if shutil.which("conda") or shutil.which("micromamba") or shutil.which("mamba"):
        pytest.skip("a conda executable is present: this checks the unreachable case")
    out = invoke(tiny, "env.lock", "--name", "tiny", "--conda", timeout=1200)
    assert out.returncode == 1
    assert "conda-lock could not lock env 'tiny'" in out.stderr and "uv locks" in out.stderr
    assert not list((tiny["root"] / "envs" / "locks").glob("*.conda-lock.yml*"))
