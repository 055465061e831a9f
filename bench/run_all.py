"""`invoke bench`: run the benchmarks in turn, then rewrite the table in bench/README.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALL = ["pipeline_bench", "install_bench", "matrix_scaling", "model_speed", "native_baseline", "env_builds"]


def main(only: list[str]) -> int:
    for name in only or ALL:
        print(f"== bench/{name}.py", flush=True)
        code = subprocess.run([sys.executable, str(HERE / f"{name}.py")]).returncode
        if code:
            print(f"bench/{name}.py failed (exit {code})")
            return code
    return subprocess.run([sys.executable, str(HERE / "report.py")]).returncode


if __name__ == "__main__":
    sys.exit(main([a for a in sys.argv[1:] if a]))
