"""Render matrix results: a Markdown table and a self-contained HTML page with an SVG heatmap."""

from __future__ import annotations

import html
from collections import Counter


def _columns(results: dict) -> list[tuple[str, str]]:
    seen = []
    for c in results["cells"]:
        key = (c["target"], c["route"])
        if key not in seen:
            seen.append(key)
    return seen


def _models(results: dict) -> list[str]:
    return sorted({c["model"] for c in results["cells"]})


def _shown(results: dict, model: str) -> str:
    """A model's row label: its name and the export stack it ran in (if the cells say)."""
    stacks = {c.get("export_stack") for c in results["cells"] if c["model"] == model} - {None, ""}
    return f"{model} · {'/'.join(sorted(stacks))}" if stacks else model


def _index(results: dict) -> dict:
    return {(c["model"], c["target"], c["route"]): c for c in results["cells"]}


def cause_of(cell: dict) -> str:
    """A failing cell's cause: the failing program's own first line (older cells: their message's)."""
    text = cell.get("cause") or cell.get("message") or ""
    return text.splitlines()[0] if text else ""


def _label(cell: dict | None) -> str:
    if cell is None:
        return "—"
    if cell["status"] == "passed":
        return f"✅ {cell['max_abs_diff']:.0e}" + (" ⚠️ weak check" if cell.get("weak") else "")
    return f"❌ {cell.get('error_class')}"


def _summary(results: dict) -> list[str]:
    per_target = Counter()
    passed, weak = Counter(), Counter()
    for c in results["cells"]:
        per_target[c["target"]] += 1
        passed[c["target"]] += c["status"] == "passed"
        weak[c["target"]] += c["status"] == "passed" and bool(c.get("weak"))
    return [f"{t}: {passed[t]}/{n} cells pass" + (f" ({weak[t]} with a weak check)" if weak[t] else "")
            for t, n in per_target.items()]


def _route_rows(results: dict) -> list[str]:
    """Per target and route: how many models pass, and the median latency of the passing ones vs PyTorch."""
    rows = ["Latency: the route's artifact in its runtime over PyTorch eager, 1 thread, median over the passing "
            "models (most are tiny, so per-call overhead weighs in; resnet18 alone: bench/README.md).", "",
            "| target | route | models passing | median latency vs PyTorch eager |", "|---|---|---|---|"]
    for t, r in _columns(results):
        cells = [c for c in results["cells"] if (c["target"], c["route"]) == (t, r)]
        ratios = sorted(c["latency_ms"] / c["pytorch_latency_ms"] for c in cells
                        if c["status"] == "passed" and c.get("latency_ms") and c.get("pytorch_latency_ms"))
        median = f"{ratios[len(ratios) // 2]:.2f}x" if ratios else "-"
        rows.append(f"| {t} | {r} | {sum(c['status'] == 'passed' for c in cells)}/{len(cells)} | {median} |")
    return rows


def _known_errors(results: dict) -> list[str]:
    from torch2tf.catalogue import CATALOGUE
    met = Counter(c.get("error_class") for c in results["cells"] if c["status"] != "passed")
    known = {k.error_class: k for k in CATALOGUE}
    rows = ["| error | cells | cause | fix |", "|---|---|---|---|"]
    for name, n in met.most_common():
        k = known.get(name)
        rows.append(f"| {name} | {n} | {k.cause if k else '-'} | {k.fix if k else '-'} |")
    return rows


def _reach_rows(results: dict) -> list[str]:
    """Per model and target: how many routes verified it with a check that can fail (a weak pass does
    not count), so that a model no route reaches stands out."""
    targets = list(dict.fromkeys(c["target"] for c in results["cells"]))
    rows = ["Routes that verified each model with a check that can fail (a weak check does not count).", "",
            "| model | " + " | ".join(targets) + " |", "|---" * (len(targets) + 1) + "|"]
    for m in _models(results):
        counts = []
        for t in targets:
            cells = [c for c in results["cells"] if c["model"] == m and c["target"] == t]
            good = sum(c["status"] == "passed" and not c.get("weak") for c in cells)
            counts.append(f"{good}/{len(cells)}" if good else f"**none** of {len(cells)}")
        rows.append(f"| {_shown(results, m)} | " + " | ".join(counts) + " |")
    return rows


def render_markdown(results: dict) -> str:
    cols = _columns(results)
    idx = _index(results)
    lines = ["# torch2tf compatibility matrix", "", f"Generated {results['generated']}; "
             f"each cell is a real pipeline run verified in the target runtime (max abs diff vs PyTorch).", ""]
    lines += [f"- {s}" for s in _summary(results)] + [""]
    lines.append("| model · export stack | " + " | ".join(f"{t}<br>{r}" for t, r in cols) + " |")
    lines.append("|---" * (len(cols) + 1) + "|")
    for m in _models(results):
        lines.append(f"| {_shown(results, m)} | " + " | ".join(_label(idx.get((m, t, r))) for t, r in cols) + " |")
    lines += ["", "## Reach", ""] + _reach_rows(results)
    lines += ["", "## Routes", ""] + _route_rows(results)
    failures = [c for c in results["cells"] if c["status"] != "passed"]
    if failures:
        lines += ["", "## Errors met", ""] + _known_errors(results)
        lines += ["", "## Failures", "", "| model | target | route | stage | error: cause | hint |",
                  "|---|---|---|---|---|---|"]
        for c in failures:
            msg = cause_of(c).replace("|", "\\|")[:200]
            lines.append(f"| {c['model']} | {c['target']} | {c['route']} | {c.get('stage') or '-'} | "
                         f"{c.get('error_class')}: {msg} | {(c.get('hint') or '').replace('|', '/')[:200]} |")
    lines += ["", "## Stacks", "", "| env | versions |", "|---|---|"]
    for name, stack in results.get("stacks", {}).items():
        lines.append(f"| {name} | " + ", ".join(f"{k} {v}" for k, v in stack.items()) + " |")
    return "\n".join(lines) + "\n"


def render_docs(results: dict, machine: str) -> str:
    """docs/COMPATIBILITY.md: the measured table with when, where and with what it was measured."""
    cells = results["cells"]
    started = sorted(c["started"][:10] for c in cells if c.get("started"))
    when = f"cells measured {started[0]} to {started[-1]}" if started else results["generated"]
    intro = [
        "# Compatibility, measured",
        "",
        f"Generated by `invoke matrix --docs` from real runs on {machine} ({when}; each matrix run "
        f"replaces its models' cells in docs/measurements.json, and this page shows them all): "
        f"{len(cells)} cells ({len({c['model'] for c in cells})} models x the routes of every target), "
        f"{sum(c['status'] == 'passed' for c in cells)} passing. A passing cell is a model whose converted "
        "graph loaded in the target TensorFlow and matched PyTorch within atol 1e-4 / rtol 1e-3; a failing "
        "cell names the error class and the hint from torch2tf's catalogue (the tflite target runs the .tflite in "
        "ai-edge-litert instead). Models: configs/matrix/; "
        "routes: configs/compat.yaml. Re-run it with `invoke matrix && invoke matrix --docs`.",
        "",
    ]
    body = render_markdown(results).split("\n", 4)[4]       # without its own title and date lines
    return "\n".join(intro) + "\n" + body


def _svg(results: dict) -> str:
    cols, models, idx = _columns(results), _models(results), _index(results)
    cw, ch, left = 26, 22, 190
    # column labels stand rotated by 60 degrees: room above for the longest, and to the right of the last
    longest = 6.5 * max((len(f"{t} {r}") for t, r in cols), default=0)
    top, right = int(longest * 0.87) + 20, int(longest * 0.5) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + cw * len(cols) + right}" '
             f'height="{top + ch * len(models) + 10}" font-family="sans-serif" font-size="11">']
    for j, (t, r) in enumerate(cols):
        x = left + j * cw + cw / 2
        parts.append(f'<text transform="translate({x},{top - 6}) rotate(-60)">{html.escape(t + " " + r)}</text>')
    for i, m in enumerate(models):
        y = top + i * ch
        parts.append(f'<text x="4" y="{y + 15}">{html.escape(_shown(results, m))}</text>')
        for j, (t, r) in enumerate(cols):
            c = idx.get((m, t, r))
            color = "#ddd" if c is None else "#3a3" if c["status"] == "passed" else "#d33"
            tip = _label(c) + ("" if not c or c["status"] == "passed" else f" — {c.get('hint') or ''}")
            parts.append(f'<rect x="{left + j * cw}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="{color}">'
                         f'<title>{html.escape(f"{m} / {t} / {r}: {tip}")}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(results: dict) -> str:
    cols, models, idx = _columns(results), _models(results), _index(results)
    head = "".join(f"<th>{html.escape(t)}<br>{html.escape(r)}</th>" for t, r in cols)
    body = []
    for m in models:
        tds = []
        for t, r in cols:
            c = idx.get((m, t, r))
            cls = "none" if c is None else c["status"]
            failed = c is not None and c["status"] != "passed"
            title = html.escape(f"{c.get('message')}\n{c.get('hint')}") if failed else ""
            cause = f'<div class="cause">{html.escape(cause_of(c)[:200])}</div>' if failed else ""
            tds.append(f'<td class="{cls}" title="{title}">{html.escape(_label(c))}{cause}</td>')
        body.append(f"<tr><th>{html.escape(_shown(results, m))}</th>{''.join(tds)}</tr>")
    summary = "".join(f"<li>{html.escape(s)}</li>" for s in _summary(results))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>torch2tf matrix</title>
<style>body{{font-family:sans-serif}} td,th{{border:1px solid #ccc;padding:3px 6px;font-size:12px}}
td.passed{{background:#dfd}} td.failed{{background:#fdd}} table{{border-collapse:collapse}}
td{{vertical-align:top;max-width:16em}} .cause{{font-size:10px;color:#622;word-break:break-word}}</style></head>
<body><h1>torch2tf compatibility matrix</h1><p>Generated {html.escape(results['generated'])}.</p>
<ul>{summary}</ul>{_svg(results)}<table><tr><th>model</th>{head}</tr>{''.join(body)}</table></body></html>
"""
