"""Export stacks: the cold build (empty store, empty uv cache) and disk size of each export env.

    python bench/export_stacks.py [--names torch17,torch113,torch25]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

from torch2tf.envs import store  # noqa: E402
from torch2tf.envs.specs import load_spec  # noqa: E402
from torch2tf.settings import Settings  # noqa: E402


def cold_build(name: str, settings: Settings) -> dict:
    """Build one env into a throw-away store with an empty uv cache: every wheel is downloaded."""
    with tempfile.TemporaryDirectory(dir=settings.store.parent) as tmp:
        os.environ["UV_CACHE_DIR"] = str(Path(tmp) / "uvcache")
        cold = dataclasses.replace(settings, store=Path(tmp) / "store")
        t0 = time.perf_counter()
        env, _ = store.build(load_spec(settings.envs_dir / f"{name}.yml"), cold)
        seconds = time.perf_counter() - t0
        return {"cold_build_s": round(seconds, 1), "disk_mb": round(store.dir_size(env.path) / 2**20),
                "download_cache_mb": round(store.dir_size(Path(tmp) / "uvcache") / 2**20)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", default="torch17,torch113,torch25")
    args = ap.parse_args()
    settings = Settings()
    settings.store.parent.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name in args.names.split(","):
        rows[name] = cold_build(name, settings)
        print(name, rows[name], flush=True)
    record("export_stacks", {"per_env": rows, "how": "store.build into an empty store with an empty "
                             "UV_CACHE_DIR (every wheel downloaded from the registry), then du of the env"})


if __name__ == "__main__":
    main()
