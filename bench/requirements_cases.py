"""Issue #26: model.requirements of every era, per case of its Done-when. For each plain config (only
the library pinned): the lock written anew (into a scratch copy of the config, so the committed lock
is not reused), what the resolution picked beyond the stack's own lock, the extended env built from
that lock into an empty store (the machine's uv cache as it is: warm wheels unless emptied), its size,
and then the committed config run through the pipeline to tf1.13 (verified? which route, latency).

    python bench/requirements_cases.py [--configs smp021_fpn,yolov5n] [--no-pipeline]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

from torch2tf.envs import locks, source_builds  # noqa: E402
from torch2tf.envs import store as envs  # noqa: E402
from torch2tf.envs.extras import ensure_lock, extended_spec  # noqa: E402
from torch2tf.envs.specs import load_spec  # noqa: E402
from torch2tf.run.pipeline import Options, make_plans  # noqa: E402
from torch2tf.settings import PROJECT_ROOT, Settings  # noqa: E402

LIBRARIES = PROJECT_ROOT / "configs" / "libraries"
CASES = ("smp021_fpn", "efficientnet_pytorch", "timm0412_resnet", "yolov5n_torch113", "yolov5n")


def picked(lock_text: str, base_pins: dict[str, str]) -> dict[str, str]:
    """What the resolution chose that the stack's own lock does not hold (or holds at another version)."""
    pins = dict(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lock_text, re.M))
    return {name: version for name, version in sorted(pins.items()) if base_pins.get(name) != version}


def case(stem: str, settings: Settings, run_pipeline: bool) -> dict:
    config = LIBRARIES / f"{stem}.yaml"
    with tempfile.TemporaryDirectory(dir=settings.store.parent) as tmp:
        scratch = Path(tmp) / "config"
        scratch.mkdir()
        shutil.copy(config, scratch / config.name)
        shutil.copy(LIBRARIES / "builders.py", scratch / "builders.py")
        plan = make_plans(scratch / config.name, settings, Options())[0][0]
        spec = extended_spec(plan.extension, settings)
        lines: list[str] = []
        t0 = time.perf_counter()
        ensure_lock(spec, settings, say=lines.append, era=plan.extension.era, where=str(config))
        lock_s = time.perf_counter() - t0
        lock = locks.read_lock(spec, settings)
        base = locks.read_lock(load_spec(settings.envs_dir / f"{spec.extends}.yml"), settings)
        committed = locks.lock_path(replace(spec, lock_dir=config.parent / "locks"), settings)
        same = committed.exists() and locks.Lock(committed, "", "", "", committed.read_text()).digest == lock.digest
        empty_store = replace(settings, store=Path(tmp) / "store")
        t0 = time.perf_counter()
        env, _ = envs.build(spec, empty_store)
        build_s = time.perf_counter() - t0
        row = {"config": stem, "stack": spec.extends, "requirements": list(plan.extension.packages),
               "as_of": next((ln.split(", as of ")[1] for ln in lines if ", as of " in ln), None),
               "lock_s": round(lock_s, 1), "build_s": round(build_s, 1),
               "env_gb": round(envs.dir_size(env.path) / 2**30, 2),
               "from_sdists": [f"{w.name}=={w.version}" for w in source_builds.named_in(lock.text)],
               "picked": picked(lock.text, base.pins()), "same_as_committed_lock": same}
    if run_pipeline:
        with tempfile.TemporaryDirectory() as artifacts:
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "invoke", "pipeline", "--config", str(config), "--target", "tf1.13"],
                                 cwd=PROJECT_ROOT, capture_output=True, text=True,
                                 env={**os.environ, "INVOKE_TORCH2TF_ARTIFACTS": artifacts})
            reports = list(Path(artifacts).glob("*/report.json"))
            rep = json.loads(reports[0].read_text()) if reports else {}
        row.update(pipeline_exit=out.returncode, pipeline_s=round(time.perf_counter() - t0, 1),
                   status=rep.get("status"), route=rep.get("route"),
                   latency_ms=next((round(a["latency_ms"], 1) for a in rep.get("attempts", [])
                                    if a.get("status") == "passed" and a.get("latency_ms")), None),
                   pytorch_latency_ms=round(rep["pytorch_latency_ms"], 1) if rep.get("pytorch_latency_ms") else None,
                   error=(rep.get("error") or {}).get("message", "")[:300] or (out.stderr.strip()[-300:] if out.returncode else ""))
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default=",".join(CASES))
    ap.add_argument("--no-pipeline", action="store_true")
    args = ap.parse_args()
    settings = Settings()
    rows = []
    for stem in args.configs.split(","):
        row = case(stem, settings, not args.no_pipeline)
        rows.append(row)
        print(f"{stem:<22} {row['stack']:<9} as of {row['as_of']}: lock {row['lock_s']}s, build {row['build_s']}s, "
              f"{row['env_gb']} GB, from sdists {row['from_sdists'] or '-'}, same lock {row['same_as_committed_lock']}, "
              f"tf1.13: {row.get('status')} via {row.get('route')} {row.get('latency_ms')} ms (torch {row.get('pytorch_latency_ms')} ms)",
              flush=True)
        print(f"    picked: {row['picked']}", flush=True)
        record("requirements_cases", {"uv_cache": os.environ.get("UV_CACHE_DIR", "the machine's (warm)"), "rows": rows})


if __name__ == "__main__":
    main()
