"""The terminal summary of a pipeline report."""

from __future__ import annotations


def _fmt(x, spec=".2e"):
    return "-" if x is None else format(x, spec)


def render(report: dict) -> str:
    lines = [f"route   {report['route']} ({report['route_reason']}), opset {report['opset']}",
             "stages"]
    for s in report["stages"]:
        state = "cached" if s.get("cached") else s["status"]
        secs = "-" if s.get("seconds") is None else f"{s['seconds']:.2f}s"
        lines.append(f"  {s['stage']:<11} {s['env'] or '-':<8} {state:<7} {secs:>8}")
    hits = sum(1 for s in report["stages"] if s.get("cached"))
    lines.append(f"  {hits}/{len(report['stages'])} stages from cache, {report['seconds']:.2f}s in all")
    target_title = "TFLite vs PyTorch" if report.get("artifact") == "model.tflite" else "TensorFlow vs PyTorch"
    for title, key in (("onnxruntime vs PyTorch", "onnx_check"), (target_title, "verify")):
        block = report.get(key)
        if not block:
            continue
        runtime = block.get("tensorflow") and f"TF {block['tensorflow']}" or block.get("onnxruntime") and \
            f"onnxruntime {block['onnxruntime']}" or block.get("tflite", "")
        lines.append(f"{title} ({runtime}): {'PASSED' if block.get('passed') else 'FAILED'}, "
                     f"latency {_fmt(block.get('latency_ms'), '.1f')} ms")
        for o in block.get("outputs", []):
            lines.append(f"  {o['name']:<16} max abs {_fmt(o.get('max_abs_diff'))}  max rel "
                         f"{_fmt(o.get('max_rel_diff'))}  {'ok' if o.get('passed') else o.get('problem', 'MISMATCH')}"
                         + ("  (channels-last in the .tflite)" if o.get("layout") == "channels_last" else ""))
    for fmt, block in (report.get("packages") or {}).items():
        lines.append(f"{fmt} ({'TF ' + block['tensorflow'] if block.get('tensorflow') else block.get('tflite', '')}): "
                     f"{'PASSED' if block.get('passed') else 'FAILED'}, max abs "
                     f"{_fmt(max((o.get('max_abs_diff') or 0) for o in block.get('outputs', [{}])))}")
    if report.get("latency"):
        lines.append(f"latency (1 thread, median) vs PyTorch eager {_fmt(report.get('pytorch_latency_ms'), '.1f')} ms:")
        for row in report["latency"]:
            lines.append(f"  {row['artifact']:<26} {row['latency_ms']:8.1f} ms  x{_fmt(row['vs_pytorch'], '.2f')}"
                         + (f"  {row['transposes']} Transpose" if row.get("transposes") is not None else ""))
    graph = report.get("graph")
    if graph:
        ins = ", ".join(i["name"] for i in graph.get("inputs", []))
        outs = ", ".join(o["name"] if isinstance(o, dict) else o for o in graph.get("outputs", []))
        lines.append(f"graph   inputs {ins}; outputs {outs}; {graph.get('nodes')} nodes, "
                     f"{graph.get('transposes')} Transpose")
    for name, path in (report.get("artifacts") or {}).items():
        if name in ("model.pb", "model.onnx", "saved_model", "model.tflite"):
            lines.append(f"artifact {path}")
    if report.get("artifacts"):
        lines.append(f"report  {report['artifacts']['model.onnx'].rsplit('/', 1)[0]}/report.json")
    return "\n".join(lines)


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
