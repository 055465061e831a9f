"""The terminal summary of a pipeline report."""

from __future__ import annotations

from pathlib import Path

from torch2tf.run.report import Attempt, Report


def _fmt(x, spec=".2e"):
    return "-" if x is None else format(x, spec)


def render(report: Report, profile: bool = False) -> str:
    lines = [f"route   {report.route} ({report.route_reason}), opset {report.opset}"]
    if report.tensor_names is not None:
        renamed = ", ".join(f"{a} -> {b}" for a, b in report.tensor_names.items())
        lines.append(f"model   an ONNX file, taken in by {report.export_stack} (references: "
                     f"{report.references or 'its onnxruntime on the file'})"
                     + (f"; safe tensor names: {renamed}" if renamed else ""))
    elif report.export_stack:
        torch = report.versions.get("torch")
        lines.append(f"export  stack {report.export_stack}" + (f" (torch {torch})" if torch else ""))
    if report.export_shims:
        lines.append(f"shims   exported as exact compositions: {', '.join(report.export_shims)} "
                     "(the PyTorch reference is the unmodified model's)")
    lines.append("steps")
    for s in report.steps:
        state = "cached" if s.cached else s.status
        secs = "-" if s.seconds is None else f"{s.seconds:.2f}s"
        lines.append(f"  {s.label:<15} {s.env or '-':<8} {state:<7} {secs:>8}"
                     + (f"  env {s.env_note}" if s.env_note else ""))
    hits = sum(1 for s in report.steps if s.cached)
    lines.append(f"  {hits}/{len(report.steps)} stages from cache, {report.seconds:.2f}s in all")
    lines += _verifications(report)
    if len(report.attempts) > 1:
        lines.append("routes tried")
        lines += render_attempts(report.attempts)
    if report.pytorch_latency_ms is not None and report.latency():
        lines.append(f"latency (1 thread, median) vs PyTorch eager {_fmt(report.pytorch_latency_ms, '.1f')} ms:")
        for row in report.latency():
            lines.append(f"  {row['artifact']:<26} {row['latency_ms']:8.1f} ms  x{_fmt(row['vs_pytorch'], '.2f')}"
                         + (f"  {row['transposes']} Transpose" if row.get("transposes") is not None else ""))
    if report.optimize:
        lines.append(optimize_line(report.optimize))
    traced = report.verify.profile if report.verify else None
    if traced:
        lines += profile_lines(traced, full=profile)
    if report.graph:
        ins = ", ".join(i["name"] for i in report.graph.get("inputs", []))
        outs = ", ".join(o["name"] if isinstance(o, dict) else o for o in report.graph.get("outputs", []))
        lines.append(f"graph   inputs {ins}; outputs {outs}; {report.graph.get('nodes')} nodes, "
                     f"{report.graph.get('transposes')} Transpose")
    for name, art in report.artifacts.items():
        if name in ("model.pb", "model.onnx", "saved_model", "model.tflite"):
            lines.append(f"artifact {art.path}  sha256 {art.sha256[:16]}")
    if report.artifacts:
        lines.append(f"report  {Path(next(iter(report.artifacts.values())).path).parent / 'report.json'}")
    return "\n".join(lines)


def optimize_line(metrics: dict) -> str:
    before, after = metrics.get("before", {}), metrics.get("after", {})
    rewrites = ", ".join(f"{k} {v}" for k, v in sorted(metrics.get("rewrites", {}).items()))
    return (f"optimize Transpose {before.get('transposes')} -> {after.get('transposes')}, Pad {before.get('pads')} -> "
            f"{after.get('pads')}, nodes {before.get('nodes')} -> {after.get('nodes')} ({rewrites or 'nothing to do'}; "
            "logs/optimize.log)")


def profile_lines(traced: dict, full: bool) -> list[str]:
    """Where the primary graph's time goes (a full trace, 1 thread): the layout overhead always, the
    time per op type with --profile."""
    by_time = sorted(traced.get("overhead", {}).items(), key=lambda kv: -kv[1])
    overhead = ", ".join(f"{k} {v:.1f} ms" for k, v in by_time[:4] if v >= 0.05)
    share = traced.get("layout_share")
    lines = [f"profile {traced.get('total_ms', 0):.1f} ms traced; layout overhead "
             f"{_fmt(share * 100 if share is not None else None, '.1f')}%" + (f" ({overhead})" if overhead else "")
             + (f"; the model's own padding {traced['padding_ms']:.1f} ms (Pads its convs cannot take in this TF)"
                if traced.get("padding_ms", 0) >= 0.05 else "")]
    if full:
        total = traced.get("total_ms") or 0.0
        for op, row in sorted(traced.get("per_op", {}).items(), key=lambda kv: -kv[1]["ms"]):
            pct = 100.0 * row["ms"] / total if total else 0.0
            lines.append(f"  {op:<28} {row['ms']:9.2f} ms {pct:5.1f}%  {row['nodes']:4d} nodes")
    return lines


def _verifications(report: Report) -> list[str]:
    """One block per checked artifact: runtime, verdict, latency, and each output's differences."""
    lines = []
    ref = "the ONNX file" if report.tensor_names is not None else "PyTorch"
    titles = {"model.onnx": f"onnxruntime vs {ref}", "model.pb": f"TensorFlow vs {ref}",
              "model.tflite": f"TFLite vs {ref}", "saved_model": f"SavedModel vs {ref}"}
    for v in report.verifications:
        verdict = ("PASSED, but the check is WEAK" if v.weak else "PASSED") if v.passed else "FAILED"
        lines.append(f"{titles.get(v.artifact, v.artifact)} ({v.runtime}): {verdict}, "
                     f"latency {_fmt(v.latency_ms, '.1f')} ms")
        for o in v.outputs:
            lines.append(f"  {o['name']:<16} max abs {_fmt(o.get('max_abs_diff'))}  max rel "
                         f"{_fmt(o.get('max_rel_diff'))}  {'ok' if o.get('passed') else o.get('problem', 'MISMATCH')}"
                         + ("  (channels-last in the .tflite)" if o.get("layout") == "channels_last" else ""))
            if o.get("note"):
                lines.append(f"    {o['note']}")
    return lines


def render_inspect(info: dict) -> str:
    lines = [f"format  {info['format']}" + (f" (IR {info['ir_version']}, opsets {info['opsets']})"
                                            if info["format"] == "onnx" else "")]
    for i in info["inputs"]:
        lines.append(f"input   {i['name']}  shape {i['shape']}  dtype {i['dtype']}"
                     + (f"  (tensor {i['tensor']})" if i.get("tensor") else ""))
    for o in info["outputs"]:
        lines.append(f"output  {o['name'] if isinstance(o, dict) else o}"
                     + (f"  shape {o['shape']}" if isinstance(o, dict) else ""))
    lines.append(f"nodes   {info['nodes']}  ({info['transposes']} Transpose)")
    lines.append("ops     " + ", ".join(f"{k} {v}" for k, v in info["ops"].items()))
    if info["py_func_nodes"]:
        lines.append(f"UNSERVABLE py_func nodes: {', '.join(info['py_func_nodes'])}")
    return "\n".join(lines)


def render_attempts(attempts: list[Attempt]) -> list[str]:
    """The table of every route tried: verified or where it failed, max abs diff, latency, Transposes."""
    lines = [f"  {'route':<26} {'verified':<34} {'max abs':>9} {'latency ms':>11} {'Transpose':>9} {'layout %':>8}"]
    for a in attempts:
        state = "yes" if a.status.value == "passed" else f"no ({a.failed_step}: {a.error_class})"
        lines.append(f"  {a.route:<26} {state[:34]:<34} {_fmt(a.max_abs_diff, '.1e'):>9} "
                     f"{_fmt(a.latency_ms, '.1f'):>11} {_fmt(a.transposes, 'd'):>9} "
                     f"{_fmt(a.layout_share * 100 if a.layout_share is not None else None, '.1f'):>8}")
        if a.status.value != "passed" and a.cause:
            lines.append(f"      cause: {a.cause[:200]}")
    return lines
