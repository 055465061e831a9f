"""Item 3: installing one lock into a fresh venv, `uv pip sync` against `pip install --require-hashes`,
both with a warm download cache (one untimed install first), for tf14 and torch17; plus uv cold.

    python bench/install_bench.py [--repeat 3] [--names tf14,torch17]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record, stats  # noqa: E402

from torch2tf.envs.interpreters import find_interpreter  # noqa: E402
from torch2tf.envs.locks import read_lock  # noqa: E402
from torch2tf.envs.specs import load_spec  # noqa: E402
from torch2tf.hosttools import uv_bin  # noqa: E402
from torch2tf.settings import Settings  # noqa: E402


def uv_install(python: Path, lock: Path, target: Path, cache: Path) -> float:
    env = dict(os.environ, UV_CACHE_DIR=str(cache))
    subprocess.run([uv_bin(), "venv", "-q", "--python", str(python), str(target)], check=True, env=env)
    t0 = time.perf_counter()
    subprocess.run([uv_bin(), "pip", "sync", "-q", "--python", str(target / "bin" / "python"), "--require-hashes",
                    str(lock)], check=True, env=env)
    return time.perf_counter() - t0


def pip_install(python: Path, lock: Path, target: Path, cache: Path) -> float:
    subprocess.run([str(python), "-m", "venv", str(target)], check=True)
    env = dict(os.environ, PIP_CACHE_DIR=str(cache), PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    t0 = time.perf_counter()
    subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--require-hashes", "--no-deps",
                    "-r", str(lock)], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--names", default="tf14,torch17")
    args = ap.parse_args()
    settings = Settings()
    rows = {}
    for name in args.names.split(","):
        spec = load_spec(settings.envs_dir / f"{name}.yml")
        lock = read_lock(spec, settings).path
        python = find_interpreter(spec.python, settings).path
        with tempfile.TemporaryDirectory(dir=settings.store.parent) as tmp:
            tmp = Path(tmp)
            uv_cold = uv_install(python, lock, tmp / "uv-cold", tmp / "uvcache")
            pip_install(python, lock, tmp / "pip-warmup", tmp / "pipcache")        # warms pip's cache
            uv, pip = [], []
            for i in range(args.repeat):
                uv.append(uv_install(python, lock, tmp / f"uv{i}", tmp / "uvcache"))
                pip.append(pip_install(python, lock, tmp / f"pip{i}", tmp / "pipcache"))
                shutil.rmtree(tmp / f"uv{i}"), shutil.rmtree(tmp / f"pip{i}")
        rows[name] = {"uv_cold_s": round(uv_cold, 2), "uv_warm_s": stats(uv), "pip_warm_s": stats(pip),
                      "pip_over_uv": round(stats(pip)["median"] / stats(uv)["median"], 2),
                      "uv_cold_over_warm": round(uv_cold / stats(uv)["median"], 2)}
        print(name, rows[name], flush=True)
    record("install", {"per_env": rows, "target": "pip_over_uv >= 5",
                       "how": "fresh venv each time; warm = cache filled by an untimed install of the same lock; "
                              "pip with --require-hashes --no-deps (the lock already holds every pin)"})


if __name__ == "__main__":
    main()
