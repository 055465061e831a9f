"""docs/CONFORMANCE.md from a conformance run (and, for the "before" column, a run with the gap
closures left out: `--without`). docs/conformance.json keeps both runs' cells, so the page can be
written again without running anything."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from torch2tf.errors import ConfigError

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CAUSE_CHARS = 160
SUITE_CLASSES = ("NotFeedable", "RandomReference")     # the test's data cannot be fed or compared


def compact(results: dict, causes: bool = True) -> dict:
    """A run as docs/conformance.json keeps it: every cell, without the per-run paths (and, for the
    "before" run, whose page shows only counts, without the failures' messages)."""
    keep = ("suite", "targets", "tolerance", "without", "tests", "seconds", "jobs")
    out = {k: results[k] for k in keep if k in results}
    by = {(c["test"], c["target"], c["route"]): c for c in results["cells"]}
    # per test, one entry per (target, route) in _pairs order: passed, weak, error class, step, cause
    out["cells"] = {test: [_row(by.get((test, t, r)), causes) for t, r in _pairs(results)] for test in results["tests"]}
    return out


def _pairs(run: dict) -> list[tuple[str, str]]:
    return [(t, r) for t in sorted(run["targets"]) for r in run["targets"][t]]


def _row(cell: dict | None, causes: bool) -> list:
    if cell is None or cell.get("passed"):
        return [1, int(bool(cell and cell.get("weak")))] if cell else [0, 0, "Missing", "", ""]
    cause = cell.get("cause", "")
    if cell.get("error_class") == "UnsupportedInTarget" and not cause.startswith("lacks "):
        cause = f"lacks {runtime_lacks(cause)}: {cause}"      # what it lacks first: the page cuts causes short
    return [0, 0, cell.get("error_class", ""), cell.get("step", ""), clean(cause) if causes else ""]


def runtime_lacks(cause: str) -> str:
    """What a TensorFlow lacks, from the downgrade's refusal: 'Maximum (int8), LeftShift'."""
    per_node = re.findall(r"\(op (\w+): (?:T=type: DT_(\w+) not allowed|not in TensorFlow)", cause)
    if per_node:
        return ", ".join(dict.fromkeys(op + (f" ({dtype.lower()})" if dtype else "") for op, dtype in per_node))
    ops = re.search(r"ops \[([^\]]*)", cause)
    return ops.group(1).replace("'", "") if ops else cause[:60]


def _cells(run: dict) -> list[dict]:
    """compact()'s rows back as cells."""
    out = []
    for test, rows in run["cells"].items():
        for (target, route), row in zip(_pairs(run), rows):
            passed, weak, cls, step, cause = (row + ["", "", ""])[:5]
            out.append({"test": test, "target": target, "route": route, "passed": bool(passed), "weak": bool(weak),
                        "error_class": cls, "step": step, "cause": cause})
    return out


def clean(text: str) -> str:
    """One line for a table: no colour escapes, no pipes, no onnx build paths."""
    text = ANSI.sub("", text or "")
    text = re.sub(r"/tmp/pip-req-build-\w+/", "", text)
    text = " ".join(text.split())
    return text[:CAUSE_CHARS] + ("..." if len(text) > CAUSE_CHARS else "")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def short(route: str) -> str:
    return route.replace("onnx-tf-", "").replace("-downgrade", "-dg")


def _grouped(cells: list[dict], *keys: str) -> dict:
    """(cell[k] for k in keys) -> the cells that have it."""
    out = defaultdict(list)
    for c in cells:
        out[tuple(c[k] for k in keys)].append(c)
    return out


def passing_by_target(cells: list[dict]) -> dict[str, set[str]]:
    """target -> the tests some route of it passes."""
    out: dict[str, set[str]] = defaultdict(set)
    for c in cells:
        if c["passed"]:
            out[c["target"]].add(c["test"])
    return out


def _by_version(target: str) -> tuple:
    """tf1.4 before tf1.13 (results.json keeps its keys sorted as text)."""
    return tuple(int(n) for n in re.findall(r"\d+", target))


def render(after: dict, before: dict | None) -> str:
    cells = _cells(after)
    tests = after["tests"]
    targets = sorted(after["targets"], key=_by_version)
    n = len(tests)
    suite = after["suite"].get("name", "node")
    what = ("Every node test of the ONNX backend suite" if suite == "node" else
            "Every model file the ONNX backend suite ships under pytorch-converted and pytorch-operator (torch 0.4 "
            "modules and operators exported with onnx 1.2 in 2018: opset 6, the files labs still hold)")
    lines = [f"# ONNX {'node-test' if suite == 'node' else 'model-file'} conformance of the TF 1.x routes", "",
             f"{what} ({after['suite']['source']}; the {n} tests at opset <= "
             f"{after['suite']['max_opset']}) converted by every route of {', '.join(targets)} exactly as "
             "`invoke pipeline` converts a model (opset step, adapt, convert, downgrade, optimize), then run in that "
             "target's own TensorFlow and compared with the test's expected outputs (rtol "
             f"{after['tolerance']['rtol']:g}, atol {after['tolerance']['atol']:g}: the ONNX backend runner's own). "
             f"Written by `invoke conformance --docs{'' if suite == 'node' else ' --suite ' + suite}` from a full run: "
             f"{after['seconds'] / 60:.1f} min wall on {after['jobs']} cores" +
             (f"; then {after['suite']['merged']}" if after["suite"].get("merged") else "") + ".", "",
             "A test feeds every graph input, weights too where the test has them as inputs: a converter that needs "
             "constant weights (onnx2tf for Conv and InstanceNormalization; torch2tf's GRU / LSTM unrolling) fails "
             "here where a real model, whose weights are initializers, converts. A *weak* pass is one whose expected "
             "output is all zeros: it could not have caught a broken conversion.", ""]
    lines += _per_target(cells, targets, n, before)
    lines += _per_route(cells, {t: after["targets"][t] for t in targets}, _cells(before) if before else None)
    lines += _unreached(cells, targets)
    lines += _per_op(cells, tests, targets)
    lines += _per_test(cells, tests, targets)
    return "\n".join(lines) + "\n"


def miss_kind(group: list[dict]) -> tuple[str, str]:
    """Why no route of a target passes a test, as a kind and its words: "runtime" when a route's graph
    needs an op this TensorFlow does not have (the op named), "suite" when the test's data cannot be fed
    (strings, no inputs) or its reference is a random draw, else "converters" (the runtime could
    express it; no converter does)."""
    for c in group:
        if c["error_class"] == "UnsupportedInTarget":
            cause = c["cause"]
            return "runtime", (cause[len("lacks "):].split(": ", 1)[0] if cause.startswith("lacks ") else runtime_lacks(cause))
    for c in group:
        if c["error_class"] in SUITE_CLASSES or (c["step"] == "config" and "0 inputs" in c["cause"]):
            return "suite", c["cause"][:60]
    return "converters", ""


def _per_target(cells, targets, n, before) -> list[str]:
    now = passing_by_target(cells)
    by = _grouped(cells, "target", "test")
    out = ["## Per target: tests that pass by at least one route", "",
           "A miss is the runtime's when a route's graph needs an op (or an op for an element type) this "
           "TensorFlow does not have; the suite's "
           "when the test's data cannot be fed (strings, no inputs) or its reference is a random draw "
           "(training Dropout); else the converters' (the runtime could express it). *Expressible* = all "
           "tests but the runtime's and the suite's misses.", ""]
    then = passing_by_target(_cells(before)) if before else None
    head = "| target | pass | misses: runtime (ops) | suite | converters | pass / expressible |"
    if then is not None:
        out += [f"*Before* is the same suite with item 3's gap closures left out (`--without "
                f"{','.join(before['without'])}`).", ""]
        head = "| target | before | " + head[len("| target | "):] + " gained |"
    out += [head, "|" + "---|" * (head.count("|") - 1)]
    for t in targets:
        kinds: dict[str, list[str]] = defaultdict(list)
        for (target, name), group in by.items():
            if target == t and name not in now[t]:
                kind, words = miss_kind(group)
                kinds[kind].append(words)
        ops = sorted({op.strip() for words in kinds["runtime"] for op in words.split(",")})
        expressible = n - len(kinds["runtime"]) - len(kinds["suite"])
        share = f"{100 * len(now[t]) / expressible:.1f}%" if expressible else "-"
        row = (f"| {t} | " + (f"{len(then[t])}/{n} | " if then is not None else "") +
               f"**{len(now[t])}/{n}** | {len(kinds['runtime'])} ({', '.join(ops) or '-'}) | {len(kinds['suite'])} | "
               f"{len(kinds['converters'])} | **{share}** |" +
               (f" {', '.join(sorted(now[t] - then[t])) or '-'} |" if then is not None else ""))
        out.append(row)
    return out + [""]


def _per_route(cells, routes_of, before=None) -> list[str]:
    out = ["## Per target and route: totals", "",
           "| target | route | pass | before | weak passes | fail | most common failure |",
           "|---|---|---|---|---|---|---|"]
    by = _grouped(cells, "target", "route")
    then = _grouped(before or [], "target", "route")
    for target, routes in routes_of.items():
        for route in routes:
            group = by[(target, route)]
            passed = [c for c in group if c["passed"]]
            classes = defaultdict(int)
            for c in group:
                if not c["passed"]:
                    classes[c["error_class"]] += 1
            common = ", ".join(f"{k} {v}" for k, v in sorted(classes.items(), key=lambda kv: -kv[1])[:3])
            earlier = sum(1 for c in then[(target, route)] if c["passed"]) if before else "-"
            out.append(f"| {target} | {route} | **{len(passed)}**/{len(group)} | {earlier} | "
                       f"{sum(c['weak'] for c in passed)} | {len(group) - len(passed)} | {common or '-'} |")
    return out + [""]


# how far a failing route got: its reason is the one a user of that op would meet last
STEP_ORDER = ("suite", "config", "opset", "adapt", "convert", "registry-source", "registry-target", "downgrade", "verify")


def _unreached(cells, targets) -> list[str]:
    out = ["## Tests no route of a target passes", "",
           "Each with the reason of the route that got furthest (the per-test table below has every route's).", ""]
    by = _grouped(cells, "target", "test")
    for t in targets:
        failed = sorted(name for (target, name), group in by.items() if target == t and not any(c["passed"] for c in group))
        out += [f"**{t}: {len(failed)}**", ""]
        for name in failed:
            last = max(by[(t, name)], key=lambda c: STEP_ORDER.index(c["step"]) if c["step"] in STEP_ORDER else 0)
            kind, words = miss_kind(by[(t, name)])
            label = f"[{kind}{': ' + words if kind == 'runtime' else ''}]"
            out.append(f"- {name} {_md(label)}: {short(last['route'])} at {last['step']}: {last['error_class']}: "
                       f"{_md(last['cause'])}")
        out.append("")
    return out


def _per_op(cells, tests, targets) -> list[str]:
    out = ["## Per op: the best route", "", "For each op, the route of each target that passes most of the tests "
           "using that op (passes / tests).", "", "| op | tests | " + " | ".join(targets) + " |",
           "|---|---|" + "---|" * len(targets)]
    tests_of = defaultdict(set)
    for name, info in tests.items():
        for op in info["ops"]:
            tests_of[op].add(name)
    passed = defaultdict(set)        # (target, route) -> tests
    routes = defaultdict(list)
    for c in cells:
        if c["route"] not in routes[c["target"]]:
            routes[c["target"]].append(c["route"])
        if c["passed"]:
            passed[(c["target"], c["route"])].add(c["test"])
    for op in sorted(tests_of):
        names = tests_of[op]
        row = []
        for t in targets:
            best = max(routes[t], key=lambda r: len(passed[(t, r)] & names))
            k = len(passed[(t, best)] & names)
            row.append(f"{short(best)} {k}/{len(names)}" if k else f"none 0/{len(names)}")
        out.append(f"| {op} | {len(names)} | " + " | ".join(row) + " |")
    return out + [""]


def _per_test(cells, tests, targets) -> list[str]:
    out = ["## Per test", "", "Routes that pass, then each failing route with its error class and the first line "
           "of its message. Route names shortened: `1.1.2-opset7` is onnx-tf-1.1.2-opset7, `-dg` a downgrade route.",
           "", "| test | opset | " + " | ".join(targets) + " |", "|---|---|" + "---|" * len(targets)]
    by = _grouped(cells, "test", "target")
    for name in sorted(tests):
        row = []
        for t in targets:
            group = by[(name, t)]
            ok = [short(c["route"]) + (" (weak)" if c["weak"] else "") for c in group if c["passed"]]
            bad = [f"{short(c['route'])}: {c['error_class']}: {_md(c['cause'])}" for c in group if not c["passed"]]
            row.append("<br>".join((["pass " + ", ".join(ok)] if ok else ["**no route**"]) + ["✗ " + b for b in bad]))
        out.append(f"| {name} | {tests[name]['opset']} | " + " | ".join(row) + " |")
    return out


def write_docs(docs_dir: Path, after: dict | None, before: dict | None, suite: str = "node") -> Path:
    """Write docs/CONFORMANCE.md and docs/conformance.json (CONFORMANCE-<suite>.md and conformance-<suite>.json
    for another suite); runs not given are read from the json."""
    tail = "" if suite == "node" else f"-{suite}"
    store = docs_dir / f"conformance{tail}.json"
    kept = json.loads(store.read_text()) if store.is_file() else {}
    runs = {"after": compact(after) if after else kept.get("after"),
            "before": compact(before, causes=False) if before else kept.get("before")}
    if runs["after"] is None:
        raise ConfigError("no conformance results to write the page from", where=str(store),
                          hint=f"run `invoke conformance{'' if suite == 'node' else ' --suite ' + suite}` first")
    store.write_text(json.dumps(runs, separators=(",", ":")) + "\n")
    page = docs_dir / f"CONFORMANCE{tail}.md"
    page.write_text(render(runs["after"], runs["before"]))
    return page
