"""Running one stage program in its env, behind a content-addressed cache.

key = sha256(stage program + helpers, params, input digests, env digest). A hit reuses the
outputs; a miss runs `<env python> stages/<stage>.py request.json` into a temp dir that is
renamed into the cache only when result.json says ok and every output's digest checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from torch2tf import atomic, catalogue, envs, proc
from torch2tf.errors import StageError
from torch2tf.settings import Settings
from torch2tf.specs import load_spec


@dataclass(frozen=True)
class Artifact:
    path: Path
    sha256: str


@dataclass
class StageRun:
    stage: str
    env: str
    key: str
    outputs: dict[str, Artifact]
    metrics: dict
    warnings: list
    seconds: float
    cached: bool
    log: Path
    env_seconds: float = 0.0
    stage_wall: float = 0.0     # wall time of the stage process alone (0 when cached)
    label: str = ""             # the pipeline step's name ("onnx-check" runs the verify stage)


def file_digest(path: Path, _memo: dict = {}) -> str:  # noqa: B006 - per-process memo by (path, mtime, size)
    """sha256 of a file, or of a directory as stages/_protocol.py's sha256_path computes it."""
    if path.is_dir():
        h = hashlib.sha256()
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = Path(root) / name
                h.update(str(full.relative_to(path)).encode() + b"\0" + file_digest(full).encode())
        return h.hexdigest()
    st = path.stat()
    memo_key = (str(path), st.st_mtime_ns, st.st_size)
    if memo_key not in _memo:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _memo[memo_key] = h.hexdigest()
    return _memo[memo_key]


@dataclass
class StageRunner:
    settings: Settings
    fresh: bool = False
    _envs: dict = field(default_factory=dict)     # name -> (spec, env), resolved once per runner

    def _program_digest(self, stage: str) -> str:
        """The stage program and the shared helpers (file_digest memoizes unchanged files)."""
        h = hashlib.sha256()
        sd = self.settings.stages_dir
        for p in [sd / f"{stage}.py"] + sorted(sd.glob("_*.py")):
            h.update(p.name.encode() + b"\0" + file_digest(p).encode())
        return h.hexdigest()

    def _env(self, name: str):
        if name not in self._envs:
            spec = load_spec(self.settings.envs_dir / f"{name}.yml")
            self._envs[name] = (spec, envs.resolve(spec, self.settings)[0])
        return self._envs[name]

    def key(self, stage: str, env_name: str, inputs: Mapping[str, Artifact | Path], params: dict) -> str:
        digests = {k: (v.sha256 if isinstance(v, Artifact) else file_digest(Path(v))) for k, v in inputs.items()}
        blob = json.dumps({"stage": stage, "program": self._program_digest(stage), "params": params,
                           "inputs": digests, "env": self._env(env_name)[1].digest}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def run(self, stage: str, env_name: str, inputs: Mapping[str, Artifact | Path], params: dict) -> StageRun:
        t0 = time.perf_counter()
        key = self.key(stage, env_name, inputs, params)
        entry = self.settings.store / "cache" / stage / key[:2] / key
        if not self.fresh and (entry / "result.json").is_file():
            return self._load(stage, env_name, key, entry, time.perf_counter() - t0, cached=True)
        # one runner per key at a time: parallel matrix cells share one export per model and opset
        with atomic.file_lock(self.settings.store / "cache" / "locks" / f"{key}.lock"):
            if not self.fresh and (entry / "result.json").is_file():
                return self._load(stage, env_name, key, entry, time.perf_counter() - t0, cached=True)
            return self._run_missing(stage, env_name, inputs, params, key, entry, t0)

    def _run_missing(self, stage, env_name, inputs, params, key, entry, t0) -> StageRun:
        spec, env = self._env(env_name)
        t_env = time.perf_counter()
        envs.build(spec, self.settings)
        env_seconds = time.perf_counter() - t_env
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=entry.parent))
        try:
            out_dir = tmp / "out"
            out_dir.mkdir()
            request = {"stage": stage, "output_dir": str(out_dir), "params": params,
                       "inputs": {k: str(v.path if isinstance(v, Artifact) else v) for k, v in inputs.items()}}
            (tmp / "request.json").write_text(json.dumps(request, indent=2, default=str))
            log = out_dir / "stage.log"
            t_proc = time.perf_counter()
            code = proc.run([env.python, self.settings.stages_dir / f"{stage}.py", tmp / "request.json"],
                            env=env.environ({"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}),
                            cwd=out_dir, log_path=log).returncode
            stage_wall = time.perf_counter() - t_proc
            result = self._result(out_dir)
            if code != 0 or result.get("status") != "ok":
                raise self._failure(stage, env_name, out_dir, key, result, code)
            for name, out in result.get("outputs", {}).items():
                f = out_dir / out["path"]
                if not f.exists() or file_digest(f) != out["sha256"]:
                    raise StageError(f"stage {stage} reported output {name} but {f.name} is missing or differs",
                                     where=f"stage {stage}, env {env_name}", log=log)
            atomic.replace_dir(out_dir, entry)      # publish: a rename within the cache filesystem
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        run = self._load(stage, env_name, key, entry, time.perf_counter() - t0, cached=False)
        run.env_seconds, run.stage_wall = env_seconds, stage_wall
        return run

    @staticmethod
    def _result(out_dir: Path) -> dict:
        try:
            return json.loads((out_dir / "result.json").read_text())
        except (OSError, ValueError):
            return {}

    def _failure(self, stage, env_name, out_dir, key, result, code) -> StageError:
        # keep the failed run's log where the error message points
        failed = self.settings.store / "failed" / f"{stage}-{key[:12]}"
        shutil.rmtree(failed, ignore_errors=True)
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(out_dir, failed)
        log = failed / "stage.log"
        err = result.get("error") or {}
        text = err.get("message") or f"{_death(code, log)}\n{proc.tail(log)}"
        known = catalogue.match(text + "\n" + proc.tail(log, 40))
        hint = err.get("hint") or (f"{known.cause}: {known.fix}" if known else
                                   "read the log; `invoke env.run --name " + env_name + " ...` reproduces in the env")
        return StageError(f"stage {stage} failed: {text}", where=f"stage {stage}, env {env_name}", hint=hint, log=log,
                          error_class=known.error_class if known else err.get("type"), stage=stage, env=env_name)

    def _load(self, stage, env_name, key, entry, seconds, cached) -> StageRun:
        result = json.loads((entry / "result.json").read_text())
        outputs = {k: Artifact(entry / v["path"], v["sha256"]) for k, v in result.get("outputs", {}).items()}
        return StageRun(stage=stage, env=env_name, key=key, outputs=outputs, metrics=result.get("metrics", {}),
                        warnings=result.get("warnings", []), seconds=seconds, cached=cached,
                        log=entry / "stage.log")


def _death(code: int, log: Path) -> str:
    """One line for a stage that died without result.json: the signal and the runtime's last fatal line
    (old TensorFlow aborts on a failed internal check, e.g. `F ... Check failed: ...`)."""
    how = f"exit code {code}"
    if code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    lines = proc.tail(log, 40).splitlines()
    fatal = [ln.strip() for ln in lines if "Check failed" in ln or ln.lstrip().startswith(("F ", "Fatal"))
             or "] F " in ln or ln.startswith("Segmentation fault")]
    return f"the stage process died ({how}), no result.json" + (f": {fatal[-1][-300:]}" if fatal else "")
