"""Running one stage program in its env, behind a content-addressed cache.

key = sha256(stage program + helpers, params, input digests, env digest). A hit reuses the
outputs; a miss runs `<env python> stages/<stage>.py request.json` into a temp dir that is
renamed into the cache only when result.json says ok and every output's digest checks.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from torch2tf import atomic, catalogue, proc
from torch2tf.digests import file_digest, json_digest
from torch2tf.envs import store as envs
from torch2tf.envs.extras import Extension, ensure_lock, extended_spec
from torch2tf.envs.specs import load_spec
from torch2tf.errors import StageError, first_line
from torch2tf.settings import Settings


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
    env_note: str = ""          # "locked in 7s, built in 45s (1.3 GB)" when this run prepared its env
    stage_wall: float = 0.0     # wall time of the stage process alone (0 when cached)
    label: str = ""             # the pipeline step's name ("onnx-check" runs the verify stage)


# PYTHONHASHSEED fixed: converters iterate sets and dicts of names; a fixed seed keeps a re-run's
# iteration order (and so its output) the same as the first run's
STAGE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "PYTHONHASHSEED": "0"}


@dataclass
class StageRunner:
    settings: Settings
    fresh: bool = False
    _envs: dict = field(default_factory=dict)     # name -> (spec, env), resolved once per runner
    _extensions: dict = field(default_factory=dict)   # name -> Extension (envs/extras.py)
    repaired: list = field(default_factory=list)  # damaged cache entries found and removed
    timeout: float | None = None                  # seconds a stage process may take; None: settings'
    say: Callable[[str], None] = print            # progress while an env is locked or built (minutes, once)
    _locked: dict = field(default_factory=dict)   # extended env name -> seconds its lock took in this run
    _env_notes: dict = field(default_factory=dict)   # env name -> what preparing it took in this run

    def _program_digest(self, stage: str) -> str:
        """The stage program and the shared helpers (file_digest memoizes unchanged files)."""
        sd = self.settings.stages_dir
        return json_digest({p.name: file_digest(p) for p in [sd / f"{stage}.py"] + sorted(sd.glob("_*.py"))})

    def extend(self, extension: Extension | None) -> None:
        """Make an extended env (a model's requirements) known by its name to the steps that use it."""
        if extension is not None:
            self._extensions[extension.name] = extension

    def lock_extensions(self) -> None:
        """Lock every extended env known to this runner that has no current lock (the model's requirements)."""
        for ext in self._extensions.values():
            spec = extended_spec(ext, self.settings)
            started = time.perf_counter()
            if ensure_lock(spec, self.settings, say=self.say, era=ext.era, where=ext.where):
                self._locked[spec.name] = time.perf_counter() - started

    def _env(self, name: str):
        if name not in self._envs:
            if name in self._extensions:
                ext = self._extensions[name]
                spec = extended_spec(ext, self.settings)
                ensure_lock(spec, self.settings, era=ext.era, where=ext.where)
            else:
                spec = load_spec(self.settings.envs_dir / f"{name}.yml")
            self._envs[name] = (spec, envs.resolve(spec, self.settings)[0])
        return self._envs[name]

    def key(self, stage: str, env_name: str, inputs: Mapping[str, Artifact | Path], params: dict) -> str:
        digests = {k: (v.sha256 if isinstance(v, Artifact) else file_digest(Path(v))) for k, v in inputs.items()}
        return json_digest({"stage": stage, "program": self._program_digest(stage), "params": params,
                            "inputs": digests, "env": self._env(env_name)[1].digest})

    def _entry(self, stage: str, key: str) -> Path:
        return self.settings.store / "cache" / stage / key[:2] / key

    def cached(self, stage: str, env_name: str, inputs: Mapping[str, Artifact | Path], params: dict) -> StageRun | None:
        """The cache entry a run would reuse, without running or building anything (for --plan)."""
        key = self.key(stage, env_name, inputs, params)
        entry = self._entry(stage, key)
        return self._load(stage, env_name, key, entry, 0.0, cached=True) if self._intact(entry) else None

    def run(self, stage: str, env_name: str, inputs: Mapping[str, Artifact | Path], params: dict,
            label: str = "") -> StageRun:
        t0 = time.perf_counter()
        key = self.key(stage, env_name, inputs, params)
        entry = self._entry(stage, key)
        # one runner per key at a time: parallel matrix cells share one export per model and opset
        with atomic.file_lock(self.settings.store / "cache" / "locks" / f"{key}.lock",
                              what=f"running stage {stage} ({label or stage})"):
            if not self.fresh and self._intact(entry):
                run = self._load(stage, env_name, key, entry, time.perf_counter() - t0, cached=True)
            else:
                run = self._run_missing(stage, env_name, inputs, params, key, entry, t0)
        run.label = label or stage
        run.env_note = self._env_notes.get(env_name, "")    # a cached step too (a probe ran the stage first)
        return run

    def _intact(self, entry: Path) -> bool:
        """A cache entry is reused only while every output still has the digest it was stored with
        (re-read, not memoized: a truncated or edited file must not be republished). A damaged
        entry is removed, and the stage runs again."""
        if not (entry / "result.json").is_file():
            return False
        try:
            result = json.loads((entry / "result.json").read_text())
            intact = all(file_digest(entry / out["path"], {}) == out["sha256"]
                         for out in result.get("outputs", {}).values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            intact = False
        if not intact:
            self.repaired.append(str(entry))
            shutil.rmtree(entry, ignore_errors=True)
        return intact

    def _run_missing(self, stage, env_name, inputs, params, key, entry, t0) -> StageRun:
        spec, env = self._env(env_name)
        env_seconds, env_note = self._prepare(spec, env)
        entry.parent.mkdir(parents=True, exist_ok=True)
        for stale in entry.parent.glob(f".tmp-{key[:12]}-*"):    # a killed run's (we hold this key's lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=entry.parent))
        try:
            out_dir = tmp / "out"
            out_dir.mkdir()
            request = {"stage": stage, "output_dir": str(out_dir), "params": params,
                       "inputs": {k: str(v.path if isinstance(v, Artifact) else v) for k, v in inputs.items()}}
            (tmp / "request.json").write_text(json.dumps(request, indent=2, default=str))
            log = out_dir / "stage.log"
            t_proc = time.perf_counter()
            limit = self.timeout or self.settings.stage_timeout
            try:
                code = proc.run([env.python, self.settings.stages_dir / f"{stage}.py", tmp / "request.json"],
                                env=env.environ(STAGE_ENV),
                                cwd=out_dir, log_path=log, timeout=limit).returncode
            except subprocess.TimeoutExpired:
                raise self._timeout(stage, env_name, out_dir, key, limit) from None
            stage_wall = time.perf_counter() - t_proc
            result = self._result(out_dir)
            if code != 0 or result.get("status") != "ok":
                raise self._failure(stage, env_name, out_dir, key, result, code)
            problem = output_problem(stage, env_name, out_dir, result)
            if problem:
                problem.log = str(log)
                raise problem
            atomic.replace_dir(out_dir, entry)      # publish: a rename within the cache filesystem
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        run = self._load(stage, env_name, key, entry, time.perf_counter() - t0, cached=False)
        run.env_seconds, run.stage_wall = env_seconds, stage_wall
        if env_note:
            self._env_notes[env_name] = env_note
        return run

    def _prepare(self, spec, env) -> tuple[float, str]:
        """Build the env if it is not built yet, with a line before and after (a first build downloads
        hundreds of MB); what it took, with the lock's time for an env locked in this run."""
        notes = [f"locked in {self._locked.pop(spec.name):.0f}s"] if spec.name in self._locked else []
        if env.is_built():
            envs.build(spec, self.settings)           # marker checks; nothing to install
            return 0.0, ", ".join(notes)
        self.say(f"      building env {spec.name} from its lock (first use on this machine) ...")
        started = time.perf_counter()
        built, created = envs.build(spec, self.settings)
        seconds = time.perf_counter() - started
        if created:
            size = envs.dir_size(built.path) / 1e9
            notes.append(f"built in {seconds:.0f}s ({size:.1f} GB)")
            self.say(f"      built env {spec.name} in {seconds:.0f}s, {size:.1f} GB")
        return seconds, ", ".join(notes)

    def _keep_failed(self, stage: str, out_dir: Path, key: str) -> Path:
        """Copy a failed run's dir where the error message points; returns its log."""
        failed = self.settings.store / "failed" / f"{stage}-{key[:12]}"
        shutil.rmtree(failed, ignore_errors=True)
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(out_dir, failed)
        return failed / "stage.log"

    def _timeout(self, stage, env_name, out_dir, key, limit) -> StageError:
        log = self._keep_failed(stage, out_dir, key)
        return StageError(f"stage {stage} did not finish within {limit:g} s and was stopped (its whole process "
                          f"group)\n{proc.tail(log, 8)}", where=f"stage {stage}, env {env_name}", log=log,
                          hint="a forward pass that never returns, or a very large model: raise `timeout:` in the "
                               "config (seconds) or torch2tf.stage_timeout in invoke.yaml",
                          error_class="StageTimeout", stage=stage, env=env_name)

    @staticmethod
    def _result(out_dir: Path) -> dict:
        try:
            return json.loads((out_dir / "result.json").read_text())
        except (OSError, ValueError):
            return {}

    def _failure(self, stage, env_name, out_dir, key, result, code) -> StageError:
        return failure_of(stage, env_name, result, code, self._keep_failed(stage, out_dir, key))

    def _load(self, stage, env_name, key, entry, seconds, cached) -> StageRun:
        result = json.loads((entry / "result.json").read_text())
        outputs = {k: Artifact(entry / v["path"], v["sha256"]) for k, v in result.get("outputs", {}).items()}
        return StageRun(stage=stage, env=env_name, key=key, outputs=outputs, metrics=result.get("metrics", {}),
                        warnings=result.get("warnings", []), seconds=seconds, cached=cached,
                        log=entry / "stage.log")


def output_problem(stage: str, env_name: str, out_dir: Path, result: dict) -> StageError | None:
    """A reported output that is missing or whose digest differs, else None: nothing unchecked is cached."""
    for name, out in result.get("outputs", {}).items():
        f = out_dir / out["path"]
        if not f.exists() or file_digest(f) != out["sha256"]:
            return StageError(f"stage {stage} reported output {name} but {f.name} is missing or differs",
                              where=f"stage {stage}, env {env_name}", stage=stage, env=env_name)
    return None


def failure_of(stage: str, env_name: str, result: dict, code: int, log: Path) -> StageError:
    """A failed stage run as the error the user reads: the stage's own kind, message and hint, else
    what the catalogue of known messages says of its log."""
    err = result.get("error") or {}
    text = err.get("message") or f"{_death(code, log)}\n{proc.tail(log)}"
    known = catalogue.match(text + "\n" + proc.tail(log, 40))
    hint = err.get("hint") or (f"{known.cause}: {known.fix}" if known else
                               "read the log; `invoke env.run --name " + env_name + " ...` reproduces in the env")
    # a kind the stage declared is the stage's word: the catalogue only names what it left unnamed
    kind = err.get("type") if err.get("declared") or not known else known.error_class
    return StageError(f"stage {stage} failed: {text}", where=f"stage {stage}, env {env_name}", hint=hint, log=log,
                      error_class=kind, stage=stage, env=env_name, cause=err.get("cause") or first_line(text),
                      route_independent=bool(err.get("route_independent")))


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
