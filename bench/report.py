"""Render bench/results.json into the table in bench/README.md (between the markers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import HERE, RESULTS  # noqa: E402

START, END = "<!-- results:start -->", "<!-- results:end -->"


def fmt(s: dict) -> str:
    return f"{s['min']} / **{s['median']}** / {s['max']}"


def rows(r: dict) -> list[str]:
    out = ["| # | figure | min / median / max | target | met |", "|---|---|---|---|---|"]
    p = r.get("pipeline")
    if p:
        out += [
            f"| 1 | cached re-run wall (s) | {fmt(p['cached_wall_s'])} | ≤ 1 s | {p['cached_wall_s']['median'] <= 1} |",
            f"| 1 | cached / cold | {p['cached_over_cold']} (cold {fmt(p['cold_wall_s'])} s) | ≤ 0.05 | {p['cached_over_cold'] <= 0.05} |",
            f"| 2 | pipeline wall / stage processes | {fmt(p['wall_over_stage_processes'])} | ≤ 1.10 | {p['wall_over_stage_processes']['median'] <= 1.10} |",
            f"| 2 | pipeline wall / hand-written baseline | {fmt(p['wall_over_handwritten_baseline'])} | ≤ 1.15 | {p['wall_over_handwritten_baseline']['median'] <= 1.15} |",
            f"| 6 | orchestrator peak RSS (MB) | {fmt(p['orchestrator_peak_rss_mb'])} | ≤ 150 | {p['orchestrator_peak_rss_mb']['max'] <= 150} |",
        ]
    i = r.get("install")
    for name, row in (i or {}).get("per_env", {}).items():
        out.append(f"| 3 | {name}: pip / uv, warm (uv {fmt(row['uv_warm_s'])} s, pip {fmt(row['pip_warm_s'])} s; "
                   f"uv cold {row['uv_cold_s']} s) | {row['pip_over_uv']}x | ≥ 5x | {row['pip_over_uv'] >= 5} |")
    m = r.get("matrix_scaling")
    if m:
        out.append(f"| 4 | reduced matrix jobs1 / jobs2 ({m['jobs1_s']} s / {m['jobs2_s']} s, {m['cells']} cells) | "
                   f"{m['speedup']} | ≥ 1.6 | {m['speedup'] >= 1.6} |")
    f = r.get("matrix_full")
    if f:
        per = ", ".join(f"{t} {v}" for t, v in f["pass_per_target"].items())
        out.append(f"| #5 | full matrix jobs1 / jobs2 ({f['jobs1_s']} s / {f['jobs2_s']} s, {f['cells']} cells; "
                   f"passing: {per}) | {f['speedup']} | | |")
    s = r.get("model_speed")
    for t, b in (s or {}).get("best_per_target", {}).items():
        out.append(f"| 5 | {t}: best route {b['route']}, latency / PyTorch | {b['ratio']} | ≤ 1.0 | {b['ratio'] <= 1.0} |")
    e = r.get("env_builds")
    for name, row in (e or {}).get("per_env", {}).items():
        out.append(f"| env | {name}: cold build {row['cold_s']} s, warm {fmt(row['warm_s'])} s, {row['size_mb']} MB | | | |")
    if e:
        out.append(f"| env | no-op `env.build --all` (s) | {fmt(e['noop_build_all_s'])} | | |")
    if s:
        out += ["", "Per route (item 5):", "", "| target | route | latency ms | PyTorch ms | ratio | Transpose |",
                "|---|---|---|---|---|---|"]
        for x in s["rows"]:
            if x["status"] == "passed":
                out.append(f"| {x['target']} | {x['route']} | {x['latency_ms']} | {x['pytorch_ms']} | {x['ratio']} | {x['transposes']} |")
            else:
                out.append(f"| {x['target']} | {x['route']} | failed: {x['error'][:80]} | | | |")
    w = r.get("slurm_overhead")
    if w:
        out.append(f"| #14 | reduced matrix ({w['models']} x {w['targets']}, {w['cells']} cells, warm cache, 2 at once): "
                   f"local {fmt(w['local_s'])} s, Slurm {fmt(w['slurm_s'])} s | {w['overhead_per_job_s']} s per job | | |")
    for key, what in (("plain_reach", "matrix models"), ("torchvision_sweep", "torchvision archs")):
        q = r.get(key)
        if q:
            weak = sum(x["verified"] and x["weak"] for x in q["rows"])
            out.append(f"| #13 | {what}, plain configs to tf1.4/1.13/1.15: verified with a check that can fail "
                       f"({weak} more verified with a weak check) | {q['reached']}/{q['pairs']} | | |")
    q = r.get("export_stack_reach")
    if q:
        out.append(f"| #19 | torch 1.13 / 2.5 models (configs/modern/), plain configs to tf1.4/1.13/1.15: verified "
                   f"with a check that can fail | {q['reached']}/{q['pairs']} | all | {q['reached'] == q['pairs']} |")
    c = r.get("conformance")
    if c:
        per = ", ".join(f"{t} {v['any route']}/{c['tests']}" for t, v in c["passes"].items())
        out.append(f"| #20 | ONNX node tests x every tf1.4/1.13/1.15 route ({c['tests']} tests, {c['jobs']} stage processes "
                   f"at a time, {'cold' if c['cold'] else 'warm'}; passing by some route: {per}): wall (min) | "
                   f"{round(c['wall_seconds'] / 60, 1)} | ≤ 30 | {c['wall_seconds'] <= 1800} |")
    builds = (r.get("env_builds") or {}).get("per_env", {})
    for name in ("torch113", "torch25"):
        if name in builds:
            out.append(f"| #19 | export stack {name}: cold build (empty uv cache) / disk | {builds[name]['cold_s']} s / "
                       f"{builds[name]['size_mb']} MB | inside CI's time | True |")
    return out + native_rows(r.get("native_baseline"))


# what issue #11 asks of the route a default run picks, over the native NHWC graph
NATIVE_LIMIT = {"resnet18": 1.05, "mobilenet_v2": 1.2}


def native_rows(n: dict | None) -> list[str]:
    if not n:
        return []
    out = ["", f"Over the native NHWC graph (issue #11; median of {n['runs']} interleaved runs, 1 thread; "
               "**bold**: the default pick now, _italic_: the default pick before ranking):", "",
           "| model | TF | native ms (max abs vs PyTorch) | route | ms | over native | nodes | default pick within limit |",
           "|---|---|---|---|---|---|---|---|"]
    for row in n["rows"]:
        limit = NATIVE_LIMIT.get(row["model"])
        for route, v in row["routes"].items():
            name = f"**{route}**" if route == row["default_now"] else f"_{route}_" if route == row["default_before"] \
                else route
            met = f"{v['over_native'] <= limit} (≤ {limit})" if route == row["default_now"] and limit else ""
            out.append(f"| {row['model']} | {row['tensorflow']} | {row['native_ms']} ({row['native_max_abs']:.1e}) | "
                       f"{name} | {v['ms']} | {v['over_native']} | {v['nodes']} | {met} |")
        for route, why in row["failures"].items():
            out.append(f"| {row['model']} | {row['tensorflow']} | | {route} | failed: {why[:70]} | | | |")
    return out


def main() -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    readme = HERE / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(head + START + "\n" + "\n".join(rows(results)) + "\n" + END + tail)


if __name__ == "__main__":
    main()
