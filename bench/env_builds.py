"""Env builds: cold (empty uv cache) and warm (cached wheels) build time and disk size per env,
and the time of a no-op `invoke env.build --all` on the real store.

    python bench/env_builds.py [--repeat N] [--names tf14,torch17]     (--names: only those re-measured)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, record, stats, timed  # noqa: E402

from torch2tf.envs import store as envs  # noqa: E402
from torch2tf.envs.specs import load_specs  # noqa: E402
from torch2tf.settings import PROJECT_ROOT, Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3, help="warm builds per env")
    ap.add_argument("--names", default="")
    args = ap.parse_args()
    base = Settings()
    specs = load_specs(base.envs_dir)
    names = args.names.split(",") if args.names else list(specs)
    rows = {}
    for name in names:
        with tempfile.TemporaryDirectory(dir=base.store.parent) as tmp:
            tmp = Path(tmp)
            os.environ["UV_CACHE_DIR"] = str(tmp / "uv-cache")          # cold: nothing downloaded yet
            cold, (env, _) = timed(lambda: envs.build(specs[name], replace(base, store=tmp / "cold")))
            size = envs.dir_size(env.path)
            warm = []
            for i in range(args.repeat):                                 # warm: same cache, new store
                t, _ = timed(lambda: envs.build(specs[name], replace(base, store=tmp / f"warm{i}")))
                warm.append(t)
            del os.environ["UV_CACHE_DIR"]
        rows[name] = {"cold_s": round(cold, 2), "warm_s": stats(warm), "size_mb": round(size / 2**20)}
        print(f"{name:8} cold {cold:6.1f}s  warm median {stats(warm)['median']:5.1f}s  {size / 2**20:6.0f} MB", flush=True)
    noop = []
    for _ in range(args.repeat):
        t, out = timed(lambda: subprocess.run([sys.executable, "-m", "invoke", "env.build", "--all"], cwd=PROJECT_ROOT,
                                              capture_output=True, text=True))
        assert out.returncode == 0 and "built " not in out.stdout, out.stdout + out.stderr
        noop.append(t)
    print(f"no-op env.build --all: median {stats(noop)['median']:.2f}s")
    if args.names:        # a few envs re-measured: the others' figures stay
        rows = {**json.loads(RESULTS.read_text()).get("env_builds", {}).get("per_env", {}), **rows}
    record("env_builds", {"per_env": rows, "noop_build_all_s": stats(noop),
                          "how": "cold = empty UV_CACHE_DIR and new store; warm = same cache, new store; "
                                 "no-op = `invoke env.build --all` with everything built"})


if __name__ == "__main__":
    main()
