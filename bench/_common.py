"""Shared by the benchmarks: timing, medians, and merging figures into bench/results.json."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"


def stats(samples: list[float]) -> dict:
    return {"min": round(min(samples), 3), "median": round(statistics.median(samples), 3),
            "max": round(max(samples), 3), "n": len(samples)}


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def previous(section: str) -> dict:
    """The section as results.json holds it now ({} when absent)."""
    return (json.loads(RESULTS.read_text()) if RESULTS.exists() else {}).get(section, {})


def record(section: str, data: dict) -> None:
    """Merge one benchmark's figures into results.json (other sections kept)."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[section] = {"measured": time.strftime("%Y-%m-%d %H:%M"), **data}
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
