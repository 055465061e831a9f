"""onnx_import: an .onnx file given as the model -> model.onnx with safe tensor names, plus the inputs
and onnxruntime's outputs of the ORIGINAL file as the .npy references (what export does for torch).

Runs in the first export stack whose onnx and onnxruntime read the file's opset and IR; kept
3.6-compatible like every stage.
"""

import os

import _onnx_graph as onnx_graph
import _ort
import _protocol
import numpy as np
from _inputs import make_input, onnx_index_bounds
from _protocol import ModelFailure

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {
    "inputs": {"model": True, "sample.*": False},
    "params": {"seed": True, "inputs": True, "outputs": True, "names": True},
    "outputs": ["model", "input.*", "ref.*"],
}


def run(request):
    import onnx
    params = request["params"]
    inputs = request["inputs"]
    out_dir = request["output_dir"]
    original = {v: k for k, v in params["names"].items()}       # safe -> the file's name
    rng = np.random.RandomState(params["seed"])
    session, references = _ort.reference_session(inputs["model"], 1)
    model = onnx.load(inputs["model"])          # read once: index bounds now, renamed and saved below
    bounds = onnx_index_bounds(model.graph)
    feeds = dict((original.get(s["name"], s["name"]),
                  make_input(s, inputs.get("sample." + s["name"]), rng, bounds.get(original.get(s["name"], s["name"]))))
                 for s in params["inputs"])
    wanted = [original.get(n, n) for n in params["outputs"]]
    try:
        refs = session.run(wanted, feeds)
        second = dict((k, make_input(s, None, rng, bounds.get(k))) for k, s in zip(feeds, params["inputs"]))
        others = session.run(wanted, second)
    except Exception as exc:  # noqa: BLE001 - the model's own failure on the example inputs
        raise ModelFailure("onnxruntime could not run the model on the example inputs: %s"
                           % str(exc).strip().splitlines()[0], kind="ForwardError",
                           hint="check inputs[] in the config (shapes of symbolic dims, samples) against the file")
    model = onnx_graph.rename_tensors(model, params["names"])
    onnx.save(model, os.path.join(out_dir, "model.onnx"))

    outputs = {"model": "model.onnx"}
    for spec, name in zip(params["inputs"], feeds):
        np.save(os.path.join(out_dir, "input.%s.npy" % spec["name"]), feeds[name])
        outputs["input." + spec["name"]] = "input.%s.npy" % spec["name"]
    sensitivity = {}
    for name, ref, other in zip(params["outputs"], refs, others):
        np.save(os.path.join(out_dir, "ref.%s.npy" % name), np.asarray(ref))
        outputs["ref." + name] = "ref.%s.npy" % name
        a, b = np.asarray(ref, np.float64), np.asarray(other, np.float64)
        sensitivity[name] = float(np.abs(a - b).max()) if a.size else 0.0
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    _protocol.log("took %s in at opset %d, IR %d; renamed %d tensors"
                  % (os.path.basename(inputs["model"]), opset, model.ir_version, len(params["names"])))
    _protocol.log("references: %s" % references)
    return {"outputs": outputs, "metrics": {"torch": None, "opset": opset, "ir_version": model.ir_version,
                                            "references": references,
                                            "input_sensitivity": sensitivity, "shims": [], "latency_ms": None}}


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
