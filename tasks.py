"""torch2tf's command line: thin invoke tasks over the torch2tf core.

    invoke env.lock [--name N] [--check] [--conda]     invoke env.build [--name N | --all]
    invoke env.list   invoke env.prune   invoke env.run --name N "python -c ..."
    invoke pipeline --config configs/resnet18.yaml [--target tf1.4] [--route R] [--opset N] [--fresh] [--plan]
    invoke inspect PATH [--env N] [--json]
    invoke batch --configs 'configs/*.yaml' [--target T] [--jobs N] [--fresh]
    invoke matrix [--models a,b] [--targets t1,t2] [--routes r1] [--jobs N] [--fresh] [--docs]
    invoke conformance [--tests 'test_gru_*'] [--targets t1,t2] [--routes r1] [--without R] [--docs]
    invoke bench [--only pipeline_bench,...]
"""

from __future__ import annotations

import functools
import json
import sys
import time

import invoke
from invoke import Collection, Exit


class _Task(invoke.Task):
    """invoke gives a flag the first free letter of its dashed name, and takes the dash itself when its
    letters are taken: --no-optimize was listed as `--, --no-optimize`. A dash is never a short flag."""

    def arg_opts(self, name, default, taken_names):
        return super().arg_opts(name, default, set(taken_names) | {"-"})


task = functools.partial(invoke.task, klass=_Task)

from torch2tf import Torch2TFError
from torch2tf.settings import Settings


def _settings(c) -> Settings:
    return Settings.from_mapping(c.config.get("torch2tf"))


SLURM_HELP = {"executor": "local (threads here, default) | slurm (one job each, through submitit)",
              "partition": "slurm: partition (else invoke.yaml torch2tf.slurm.partition)",
              "account": "slurm: account", "time_min": "slurm: time limit per job, minutes",
              "max_jobs": "slurm: jobs running at once"}


def _executor(c, settings, kind, jobs, partition=None, account=None, time_min=None, max_jobs=None):
    """The executor the flags and invoke.yaml's torch2tf.slurm ask for."""
    import dataclasses
    import os

    from torch2tf.executors import Executor
    from torch2tf.slurm import SlurmSettings
    raw = dict((c.config.get("torch2tf") or {}).get("slurm") or {})
    slurm = SlurmSettings.from_config(raw)
    overrides = {"partition": partition, "account": account,
                 "time_min": _int(time_min, "--time-min") if time_min is not None else None,
                 "max_jobs": _int(max_jobs, "--max-jobs") if max_jobs is not None else None}
    slurm = dataclasses.replace(slurm, **{k: v for k, v in overrides.items() if v is not None})
    folder = settings.artifacts_dir / "slurm" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    return Executor(kind or "local", _jobs(jobs), slurm, folder)


def _split(value: str | None) -> list[str] | None:
    """A comma list from the command line; None when not given."""
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


def _int(value, flag: str, minimum: int = 1) -> int:
    """A whole-number flag, or a clear error naming it."""
    try:
        number = int(str(value))
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise Torch2TFError(f"{flag} takes a whole number >= {minimum}, got {value!r}", where=flag)
    return number


def _jobs(value: str | None) -> int:
    import os
    return _int(value, "--jobs") if value is not None else (os.cpu_count() or 1)


HELP_FLAGS = ("--help", "-h")


def _print_help(wrapper) -> None:
    """invoke's own help for this task: a required positional argument eats a following --help as
    its value (invoke's parser fills positionals first), so the task body prints it instead."""
    from invoke import Program
    name = next(n for n in ns.task_names if ns[n].body is wrapper)
    Program(namespace=ns, binary="invoke").run(["invoke", "--help", name], exit=False)


def _required(value, flag: str):
    if value is None:
        raise Exit(f"torch2tf: {flag} is required (`invoke <task> --help` says more)", code=2)
    return value


def _user_errors(fn):
    """A Torch2TFError becomes its message and exit code 1, never a traceback; SIGINT / SIGTERM /
    SIGHUP stop the stage processes' groups and exit 128 + the signal number (130, 143, 129)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from torch2tf import proc
        if any(isinstance(v, str) and v in HELP_FLAGS for v in list(args[1:]) + list(kwargs.values())):
            return _print_help(wrapper)
        proc.install_signal_handlers()
        try:
            return fn(*args, **kwargs)
        except Torch2TFError as exc:
            raise Exit(f"torch2tf: {exc}", code=1) from None
        except proc.Interrupted as exc:
            raise Exit(f"torch2tf: interrupted by {exc}; its stage processes were stopped and nothing "
                       "unfinished was recorded", code=128 + exc.signum) from None
    return wrapper


# ---------------------------------------------------------------- env.*

def _spec_names(settings: Settings, name: str | None) -> list[str]:
    from torch2tf.envs.specs import load_specs
    specs = load_specs(settings.envs_dir)
    if name is None:
        return list(specs)
    if name not in specs:
        raise Torch2TFError(f"no environment spec named {name!r}", where=str(settings.envs_dir),
                            hint=f"known envs: {', '.join(specs)}")
    return [name]


@task(help={"name": "one spec (default: all)", "check": "exit non-zero if a lock no longer matches its spec",
            "conda": "also lock with conda-lock (needs reachable conda channels)",
            "config": "lock this pipeline config's model.requirements instead (into locks/ beside it), running nothing"})
@_user_errors
def lock(c, name=None, check=False, conda=False, config=None):
    """Write the hashed lock of each env spec under envs/locks/ (every transitive pin)."""
    from torch2tf.envs import locks
    from torch2tf.envs.specs import load_spec
    settings = _settings(c)
    if config:
        from pathlib import Path

        from torch2tf.run.pipeline import Options, lock_requirements
        names = lock_requirements(Path(config), settings, Options(echo=lambda line: print(line, flush=True)))
        print(f"{config}: " + (f"locked {', '.join(names)}" if names else "no model.requirements to lock"))
        return
    stale = []
    for n in _spec_names(settings, name):
        spec = load_spec(settings.envs_dir / f"{n}.yml")
        if check:
            ok = locks.is_current(spec, settings)
            print(f"{n:10} {'ok' if ok else 'STALE: run `invoke env.lock --name ' + n + '`'}")
            if not ok:
                stale.append(n)
            continue
        if conda:
            print(f"{n:10} conda-lock -> {locks.conda_lock(spec, settings)}")
            continue
        t0 = time.time()
        lk = locks.lock(spec, settings)
        print(f"{n:10} {len(lk.pins()):3d} pins -> {lk.path.relative_to(settings.root)} ({time.time() - t0:.1f}s)")
    if stale:
        raise Exit(f"torch2tf: {len(stale)} lock(s) do not match their spec: {', '.join(stale)}", code=1)


@task(help={"name": "one env", "all": "every env in envs/", "fresh": "rebuild even if built"})
@_user_errors
def build(c, name=None, all=False, fresh=False):
    """Build locked envs into the shared store (once; later calls reuse them)."""
    from torch2tf.envs import store as envs
    from torch2tf.envs.specs import load_spec
    if not name and not all:
        raise Exit("torch2tf: say which env: --name NAME, or --all", code=2)
    settings = _settings(c)
    for n in _spec_names(settings, name):
        t0 = time.time()
        env, created = envs.build(load_spec(settings.envs_dir / f"{n}.yml"), settings, fresh=fresh)
        print(f"{n:10} {'built ' if created else 'reused'} {env.path} ({time.time() - t0:.1f}s)", flush=True)


@task(name="list", help={"json": "print JSON rows"})
@_user_errors
def list_(c, json_=False):
    """List envs: name, python, digest, size, state (built / missing / stale)."""
    from torch2tf.envs import store as envs
    rows = envs.status(_settings(c))
    if json_:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'name':10} {'python':8} {'digest':12} {'size':>8}  state")
    for r in rows:
        size = f"{r['size_mb']} MB" if r["size_mb"] is not None else "-"
        print(f"{r['name']:10} {r['python']:8} {r['digest']:12} {size:>8}  {r['state']}")


@task(help={"dry_run": "only say what would go"})
@_user_errors
def prune(c, dry_run=False):
    """Remove built envs that no current spec and lock use."""
    from torch2tf.envs import store as envs
    removed = envs.prune(_settings(c), dry_run=dry_run)
    for p in removed:
        print(("would remove " if dry_run else "removed ") + str(p))
    if not removed:
        print("nothing to prune")


@task(positional=["command"], help={"name": "the env", "command": 'e.g. "python -c \'import tensorflow\'"'})
@_user_errors
def run(c, name=None, command=None):
    """Run a command inside a built env, for debugging."""
    from torch2tf.envs import store as envs
    code = envs.run_in(_required(name, "--name"), _required(command, "the command"), _settings(c))
    if code:
        raise Exit(code=code)


env_ns = Collection("env", lock, build, list_, prune, run)
ns = Collection(env_ns)


# ---------------------------------------------------------------- pipeline, inspect

@task(help={"config": "pipeline config (YAML)", "target": "target runtime, overrides the config's",
            "route": "force a route of the target (see configs/compat.yaml)", "opset": "export opset override",
            "fresh": "ignore the stage cache",
            "plan": "print the plan (steps, envs, cache hits expected, what is published) and run nothing",
            "best": "run every route of the target and keep the fastest verified (same as --route best)",
            "jobs": "routes in parallel with --best (default: the number of cores)",
            "locate": "when the numbers are wrong, find the first ONNX node the target runtime computes "
                      "differently from onnxruntime (done by itself after a mismatch in the target runtime; "
                      "--locate also after onnx-check's)",
            "no_locate": "never locate (no extra conversions after a mismatch)",
            "profile": "print where the published graph's time goes in the target runtime (full trace, 1 thread): "
                       "time per op type and the layout overhead",
            "no_optimize": "publish the graph as converted: no optimize step (Transposes, Pads, biases as they come)"})
@_user_errors
def pipeline(c, config="configs/resnet18.yaml", target=None, route=None, opset=None, fresh=False, plan=False,
             best=False, jobs=None, locate=False, no_locate=False, profile=False,
             no_optimize=False):
    """PyTorch model -> ONNX -> TensorFlow frozen graph, verified in the target runtime."""
    from pathlib import Path

    from torch2tf.run.pipeline import Options, describe_plan, run_pipeline
    from torch2tf.run.summary import render
    options = Options(target=target, route=route, opset=_int(opset, "--opset", 7) if opset is not None else None, fresh=fresh,
                      best=best, jobs=_jobs(jobs), locate=False if no_locate else (True if locate else None),
                      optimize=not no_optimize, echo=lambda line: print(line, flush=True))
    if plan:
        print(describe_plan(Path(config), _settings(c), options))
        return
    print(render(run_pipeline(Path(config), _settings(c), options), profile=profile))


@task(positional=["path"], help={"path": "a .pb, .onnx, .tflite or SavedModel dir",
            "env": "env to read it in (default: compat.yaml's readers: for that kind of file)",
            "json": "print the JSON"})
@_user_errors
def inspect(c, path=None, env=None, json_=False):
    """Inputs, outputs, shapes, op histogram and unservable py_func nodes of a graph."""
    from pathlib import Path

    from torch2tf.run.inspection import inspect_artifact
    from torch2tf.run.summary import render_inspect
    info = inspect_artifact(Path(_required(path, "PATH")), _settings(c), env)
    print(json.dumps(info, indent=2) if json_ else render_inspect(info))


@task(help={"models": "comma list of configs/matrix/ stems (default: all)",
            "targets": "comma list of targets (default: all)", "routes": "comma list of route names",
            "jobs": "cells in parallel (default: the number of cores)", "fresh": "re-run finished cells too",
            "docs": "write docs/COMPATIBILITY.md from the last results instead of running", **SLURM_HELP})
@_user_errors
def matrix(c, models=None, targets=None, routes=None, jobs=None, fresh=False, docs=False, executor=None,
           partition=None, account=None, time_min=None, max_jobs=None):
    """Run models x routes for real; write artifacts/matrix/results.json, report.md, report.html."""
    from torch2tf.matrix.results import write_docs
    from torch2tf.matrix.run import run_matrix
    settings = _settings(c)
    if docs:
        print(f"wrote {write_docs(settings)}")
        return
    results = run_matrix(settings, models=_split(models), targets=_split(targets), routes=_split(routes),
                         fresh=fresh, echo=lambda line: print(line, flush=True),
                         executor=_executor(c, settings, executor, jobs, partition, account, time_min, max_jobs))
    passed = sum(1 for r in results["cells"] if r["status"] == "passed")
    print(f"{passed}/{len(results['cells'])} cells pass; report: {settings.matrix_dir / 'report.md'}")


@task(help={"configs": "comma list of config paths or quoted globs, e.g. 'configs/*.yaml'",
            "target": "target runtime for every config (default: each config's own)",
            "jobs": "configs in parallel (default: the number of cores)", "fresh": "ignore the stage cache",
            **SLURM_HELP})
@_user_errors
def batch(c, configs=None, target=None, jobs=None, fresh=False, executor=None, partition=None, account=None,
          time_min=None, max_jobs=None):
    """Many configs in one go, in parallel; every config checked before any runs; summary in artifacts/batch.json."""
    from torch2tf.batch import render, run_batch
    settings = _settings(c)
    summary = run_batch(_split(_required(configs, "--configs")) or [], settings, target=target, fresh=fresh,
                        echo=lambda line: print(line, flush=True),
                        executor=_executor(c, settings, executor, jobs, partition, account, time_min, max_jobs))
    print(render(summary))
    if summary["passed"] < len(summary["runs"]):
        raise Exit(code=1)


@task(help={"tests": "comma list of node test names or globs, e.g. 'test_gru_*,test_relu' (default: all)",
            "targets": "comma list of targets (default: tf1.4,tf1.13,tf1.15)", "routes": "comma list of route names",
            "jobs": "stage processes at a time (default: the number of cores)",
            "without": "comma list of adapt rewrites / downgrade lowerings to leave out (a 'before' run)",
            "max_opset": "take the tests up to this opset (default 13: all the onnx 1.8.1 wheel ships; the routes "
                         "read 7 to 11, and the opset step brings a newer file down)",
            "suite": "node (the one-op node tests, default) or pytorch (the model files torch 0.4 exported, opset 6)",
            "item_timeout": "seconds one test may take in one stage (default 300)",
            "fresh": "ignore the stage cache",
            "docs": "write docs/CONFORMANCE.md from the last results instead of running"})
@_user_errors
def conformance(c, tests="", targets=None, routes=None, jobs=None, without=None, max_opset=None, item_timeout=None,
                fresh=False, docs=False, suite="node"):
    """The ONNX backend node tests x every route of the TF 1.x targets, each verified in its runtime."""
    from pathlib import Path

    from torch2tf.conformance.command import load_results, run_conformance, summary_lines
    from torch2tf.conformance.render import write_docs
    settings = _settings(c)
    if docs:
        after, before = load_results(settings, suite)
        print(f"wrote {write_docs(Path(settings.root) / 'docs', after, before, suite)}")
        return
    results = run_conformance(settings, tests=tests, targets=_split(targets), routes=_split(routes),
                              jobs=_int(jobs, "--jobs") if jobs else None, without=_split(without),
                              max_opset=_int(max_opset, "--max-opset") if max_opset else 13,
                              item_timeout=float(_int(item_timeout, "--item-timeout")) if item_timeout else 300.0,
                              fresh=fresh, echo=lambda line: print(line, flush=True), suite_name=suite)
    for line in summary_lines(results):
        print(line)


@task(help={"only": "comma list of bench scripts (pipeline_bench, install_bench, matrix_scaling, model_speed, env_builds)"})
def bench(c, only=""):
    """Run the benchmarks; figures to bench/results.json and the table in bench/README.md."""
    import subprocess
    from pathlib import Path
    code = subprocess.run([sys.executable, str(Path(__file__).parent / "bench" / "run_all.py"),
                           *[x for x in only.split(",") if x]]).returncode
    if code:
        raise Exit(code=code)


ns.add_task(pipeline)
ns.add_task(batch)
ns.add_task(matrix)
ns.add_task(bench)
ns.add_task(conformance)
ns.add_task(inspect)
