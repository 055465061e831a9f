"""convert: model.onnx -> frozen model.pb with the config's input/output tensor names.

Runs in a converter env: onnx-tf 1.1.2 / 1.3.0 / 1.5.0 on TF 1.x build a graph directly (1.1.2
keeps it in rep.predict_net, later releases on rep itself); onnx-tf >= 1.7 on TF 2 and onnx2tf
write a SavedModel, which is frozen here (variables to constants) into a GraphDef.
"""

import os
import shutil
import tempfile

import _graphdef
import _lowerings
import _onnx_functions
import _onnx_rewrites
import _protocol
from _protocol import StageFailure

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {
    "inputs": {"model": True},
    "params": {"tool": True, "layout": True, "inputs": True, "outputs": True},
    "outputs": ["graph"],
    # the converter tools and graph layouts: compat.yaml is checked against these (the one place they are named)
    "choices": {"tool": ["onnx-tf", "onnx2tf"], "layout": ["nchw", "nhwc"]},
}


def _graph_and_tensors(rep):
    net = getattr(rep, "predict_net", None)
    if net is not None:                      # onnx-tf 1.1.x
        return net.graph, net.tensor_dict
    return rep.graph, rep.tensor_dict        # onnx-tf >= 1.2


class _CopyOnRead(dict):
    """A dict whose values are handed out as copies: see _guard_default_attrs."""

    def __getitem__(self, key):
        return dict(dict.__getitem__(self, key))


def _guard_default_attrs():
    """onnx-tf 1.1.x merges a node's attrs INTO its class-level defaults (DEFAULT_ONNX_ATTR_PER_OP[op]
    .update(attrs)): after a ReduceMean with axes, every later ReduceMean without axes (reduce over
    all) reduces over those axes instead, in the same model or the next. The defaults are handed out
    as copies, taken while still pristine (before this process's first conversion)."""
    from onnx_tf import backend
    cls = getattr(backend, "TensorflowBackendBase", None)      # onnx-tf 1.1.x only; later releases have none
    defaults = cls.__dict__.get("DEFAULT_ONNX_ATTR_PER_OP") if cls is not None else None
    if isinstance(defaults, dict) and not isinstance(defaults, _CopyOnRead):
        cls.DEFAULT_ONNX_ATTR_PER_OP = _CopyOnRead((k, dict(v)) for k, v in defaults.items())


def convert_onnx_tf(request):
    import onnx
    import tensorflow as tf
    from onnx_tf.backend import prepare
    _guard_default_attrs()
    params = request["params"]
    model = onnx.load(request["inputs"]["model"])
    if not tf.__version__.startswith("1."):     # onnx-tf >= 1.7: a SavedModel, then frozen
        _inlined(model, "onnx-tf", onnx)        # its onnx writes the function ops it lacks out
        saved = os.path.join(request["output_dir"], "saved_model.onnx_tf")
        try:
            _export_onnx_tf(prepare, model, saved, onnx)
        except Exception as exc:  # noqa: BLE001 - whatever onnx-tf raises is the route's failure
            raise _onnx_tf_failure(exc)
        gd = freeze_saved_model(tf, saved, params["inputs"], params["outputs"])
        shutil.rmtree(saved)        # the frozen graph is the artifact; packages are built from it
        return _finish(request, gd, tf)
    from onnx import helper, numpy_helper      # TF 1.x's convolution takes strides or dilations, not both
    if _onnx_rewrites.strided_dilated_conv(model, helper, numpy_helper):
        _protocol.log("a strided dilated Conv runs at stride 1, subsampled by a strided 1x1 identity Conv")
    try:
        rep = prepare(model, strict=False)
    except Exception as exc:  # noqa: BLE001
        raise _onnx_tf_failure(exc)
    graph, tensors = _graph_and_tensors(rep)
    gd = graph.as_graph_def()

    def lookup(name, what):
        tensor = tensors.get(name)
        if tensor is None:
            raise StageFailure("%s %r is not in the converted graph" % (what, name), kind="ConvertError")
        return (name, tensor.name, tensor.dtype.as_datatype_enum)

    _name_io(gd, [lookup(n, "input") for n in params["inputs"]], [lookup(n, "output") for n in params["outputs"]])
    return _finish(request, gd, tf)


def _name_io(gd, inputs, outputs):
    """inputs / outputs: [(config name, tensor name in gd, dtype enum)]: rename and add Identities."""
    for name, tensor, _ in inputs:
        op = tensor.split(":")[0]
        if op != name:
            _graphdef.rename_node(gd, op, name)
    for name, tensor, dtype in outputs:
        if tensor != name + ":0":
            if any(n.name == name for n in gd.node):
                _graphdef.rename_node(gd, name, name + "__torch2tf_src")
                tensor = tensor.replace(name + ":", name + "__torch2tf_src:") if tensor.startswith(name + ":") else tensor
            _graphdef.add_identity(gd, name, tensor, dtype)


def _match(names, candidates, what):
    """Config names -> the converter's names: exact, then sanitized, then by position."""
    def norm(x):
        return "".join(c for c in x.split(":")[0].lower() if c.isalnum())
    found = []
    for i, name in enumerate(names):
        exact = [c for c in candidates if c[0] == name] or [c for c in candidates if norm(c[0]) == norm(name)]
        if exact:
            found.append(exact[0])
        elif len(candidates) == len(names):
            found.append(candidates[i])
        else:
            raise StageFailure("cannot tell which converted %s is %r among %s" % (what, name, [c[0] for c in candidates]),
                               kind="ConvertError")
    return found


# channels-last -> channels-first, by rank: onnx2tf emits NWC / NHWC / NDHWC outputs even when it keeps
# the inputs NCHW, so an nchw route transposes them back for its users (and for verify).
TO_CHANNELS_FIRST = {3: [0, 2, 1], 4: [0, 3, 1, 2], 5: [0, 4, 1, 2, 3]}


def onnx_io_shapes(model):
    """{name: [size or None]} of the ONNX model's graph inputs (initializers left out) and outputs, and
    whether it has a grouped Conv with more than one input channel per group."""
    initializers = set(i.name for i in model.graph.initializer)

    def dims(value):
        return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
    ins = dict((v.name, dims(v)) for v in model.graph.input if v.name not in initializers)
    weights = dict((i.name, list(i.dims)) for i in model.graph.initializer)
    wide = any(n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)
               and len(weights.get(n.input[1], [0, 0])) > 1 and weights.get(n.input[1], [0, 0])[1] > 1
               for n in model.graph.node)
    return ins, dict((v.name, dims(v)) for v in model.graph.output), wide


def channels_first_perm(tf_shape, onnx_shape):
    """The transpose that gives an output the ONNX layout back, or None. Where the shapes tell (onnx2tf
    makes a rank-3 output NWC when it is an image-like NCW, and leaves some as ONNX has them) they decide."""
    rank = len(tf_shape) if tf_shape is not None else None
    perm = TO_CHANNELS_FIRST.get(rank)
    if perm is None:
        return None
    known = onnx_shape is not None and len(onnx_shape) == rank and None not in onnx_shape and None not in tf_shape
    if known:
        same, permuted = list(tf_shape) == list(onnx_shape), [tf_shape[p] for p in perm] == list(onnx_shape)
        if same != permuted:            # only one reading fits (a cube, [1, 4, 4, 4], fits both)
            return perm if permuted else None
    # a 4D / 5D tensor onnx2tf always makes channels-last; a 3D one it leaves as ONNX has it when it is a
    # sequence (m-lstm's [1, 10, 10] logits), so an undecided rank 3 is left alone
    return perm if rank in (4, 5) else None


def freeze_saved_model(tf, saved_dir, inputs, outputs, channels_first_outputs=None):
    """SavedModel (TF 2) -> GraphDef with variables folded to constants, I/O named as in the config.
    channels_first_outputs: {output name: ONNX shape} of an nchw route's outputs, to be put back in
    the ONNX layout; None leaves them as the converter gave them."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )
    loaded = tf.saved_model.load(saved_dir)
    fn = loaded.signatures["serving_default"]
    frozen = convert_variables_to_constants_v2(fn)
    gd = frozen.graph.as_graph_def(add_shapes=True)     # _output_shapes: static sizes for downgrade's lowerings
    arg_specs = fn.structured_input_signature[1]
    placeholders = [(t.name.split(":")[0], t.name, t.dtype.as_datatype_enum) for t in frozen.inputs
                    if t.dtype != tf.resource]
    spec_names = sorted(arg_specs)          # placeholders follow the sorted signature keys
    if len(spec_names) == len(placeholders):
        placeholders = [(k, p[1], p[2]) for k, p in zip(spec_names, placeholders)]
    keys = sorted(fn.structured_outputs)    # frozen.outputs follow nest.flatten order: sorted keys
    results = []
    for k, t in zip(keys, frozen.outputs):
        shape = None if t.shape.dims is None else [d if d is None else int(d) for d in t.shape.as_list()]
        results.append((k, t.name, t.dtype.as_datatype_enum, shape))
    matched = _match(outputs, results, "output")
    final = []
    for n, (k, name, dtype, shape) in zip(outputs, matched):
        perm = channels_first_perm(shape, channels_first_outputs.get(n)) if channels_first_outputs is not None else None
        if perm:
            name = _graphdef.add_transpose(gd, name.split(":")[0] + "/torch2tf_nchw", name, perm, dtype)
        final.append((n, name, dtype))
    _name_io(gd, [(n, c[1], c[2]) for n, c in zip(inputs, _match(inputs, placeholders, "input"))], final)
    return gd


def convert_onnx2tf(request):
    import _onnx2tf
    import tensorflow as tf
    params = request["params"]
    saved = os.path.join(request["output_dir"], "saved_model.onnx2tf")
    # a frozen graph for TF 1.x: recurrent layers unrolled (a TF 2 while loop over TensorLists does not
    # load in TF 1.x), and a grouped convolution with several channels per group (regnet) as per-group
    # convolutions: TF 1.x has no grouped Conv2D. One channel per group stays grouped: downgrade makes
    # it a depthwise conv, far faster than one conv per channel.
    import onnx
    model_path = request["inputs"]["model"]
    model = onnx.load(model_path, load_external_data=False)     # parsed once: shapes, function ops
    scratch = None
    if _inlined(model, "onnx2tf", onnx):
        onnx.load_external_data_for_model(model, os.path.dirname(os.path.abspath(model_path)))
        scratch = tempfile.mkdtemp(prefix="torch2tf-inlined-")
        model_path = os.path.join(scratch, "model.onnx")
        onnx.save(model, model_path)
    in_shapes, out_shapes, wide_groups = onnx_io_shapes(model)
    _refuse_wide_inputs(in_shapes, params["inputs"])
    kwargs = {"enable_rnn_unroll": True, "disable_group_convolution": wide_groups}
    nchw = params.get("layout", "nchw") == "nchw"
    if nchw:    # onnx2tf keeps only 3D / 4D / 5D inputs channels-first (AssertionError on any other)
        keep = [n for n in params["inputs"] if len(in_shapes.get(n, [0] * 4)) in (3, 4, 5)]
        if keep:
            kwargs["keep_ncw_or_nchw_or_ncdhw_input_names"] = keep
    try:
        _onnx2tf.saved_model(model_path, saved, **kwargs)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    gd = freeze_saved_model(tf, saved, params["inputs"], params["outputs"],
                            channels_first_outputs=out_shapes if nchw else None)
    shutil.rmtree(saved)
    return _finish(request, gd, tf)


def _refuse_wide_inputs(in_shapes, names):
    """onnx2tf picks each op's layout by trying every permutation of its operands' axes: 5040 for a
    rank-7 input, several minutes per op, and then it fails (none of the 42 rank >= 6 node tests
    converted). Refused at once, so the run moves on to a route that can."""
    wide = [(n, len(in_shapes[n])) for n in names if len(in_shapes.get(n, ())) >= 6]
    if wide:
        raise StageFailure("onnx2tf does not convert rank >= 6 inputs (%s): its layout search tries every "
                           "permutation of their axes and then fails; an onnx-tf route takes them"
                           % ", ".join("%s: rank %d" % w for w in wide), kind="UnsupportedInput",
                           cause="onnx2tf: rank-%d input" % max(r for _, r in wide))


def _onnx_tf_failure(exc):
    first = (str(exc).strip().splitlines() or [""])[0]
    return StageFailure("onnx-tf could not convert the model: %s: %s" % (type(exc).__name__, exc),
                        kind=type(exc).__name__, wrapped=True, cause="%s: %s" % (type(exc).__name__, first))


def _export_onnx_tf(prepare, model, saved, onnx):
    """onnx-tf 1.10 builds the graph when it exports; a model it lacks an opset-13 form for is tried
    once more at opset 12."""
    try:
        prepare(model).export_graph(saved)
    except Exception as exc:  # noqa: BLE001
        lower = _opset12(model, exc, onnx)
        if lower is None:
            raise
        shutil.rmtree(saved, ignore_errors=True)
        prepare(lower).export_graph(saved)


def _opset12(model, exc, onnx):
    """onnx-tf 1.10 has no handler for some ops' opset-13 forms ("Unsqueeze version 13 is not
    implemented"), which function bodies and opset-13 files hold: the model at opset 12 (axes back as
    attributes), through the opset step's converter and down-steps; None when that is not the failure."""
    current = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if current != 13 or "version 13 is not implemented" not in str(exc):
        return None
    import adapt
    from onnx import version_converter
    lower = onnx.ModelProto()
    lower.CopyFrom(model)
    try:
        lower = adapt.convert_opset(lower, 13, 12, onnx, version_converter)
    except Exception:  # noqa: BLE001 - the original failure is the one to report
        return None
    _protocol.log("onnx-tf lacks an opset-13 form (%s): converting the model taken to opset 12"
                  % str(exc).strip().splitlines()[-1][:120])
    return lower


def _inlined(model, converter, onnx):
    """The ONNX function ops this converter lacks written out as their bodies (logged); how many."""
    count = _onnx_functions.inline_lacked(model, converter, onnx)
    if count:
        _protocol.log("wrote %d function op(s) out as their ONNX function bodies (%s lacks them)" % (count, converter))
    return count


def _finish(request, gd, tf):
    warnings = []
    py_funcs = _graphdef.py_func_nodes(gd)
    if py_funcs:
        # a py_func calls back into the converting process's Python: no other process (verify, a server)
        # can run it, so the route has failed here, not at verify with "callback pyfunc_0 is not found"
        raise StageFailure("the converted graph holds %d tf.py_func node(s) (%s): they run only inside the "
                           "converting process and cannot be served" % (len(py_funcs), ", ".join(py_funcs[:5])),
                           hint="the converter fell back to Python for an op it cannot express (onnx-tf <= 1.3: "
                                "ceil_mode or asymmetric pads); another route converts it natively",
                           kind="UnservablePyFunc", cause="tf.py_func nodes: %s" % ", ".join(py_funcs[:5]))
    tiles = _lowerings.runnable_tiles(gd, tf.__version__)      # a legacy converter in its own old runtime
    if tiles:
        _graphdef.inputs_first(gd)                    # the Casts were added last; TF 1.4 imports in order
        _protocol.log("%d x %s (this TensorFlow's kernels)" % (len(tiles), tiles[0]))
    _graphdef.save(gd, os.path.join(request["output_dir"], "model.pb"))
    ops = set(n.op for n in gd.node)
    if "VariableV2" in ops or "VarHandleOp" in ops:
        raise StageFailure("the converted graph still holds variables; it is not frozen", kind="ConvertError")
    summary = _graphdef.summary(gd)
    return {"outputs": {"graph": "model.pb"}, "warnings": warnings,
            "metrics": {"tensorflow": tf.__version__, "nodes": summary["nodes"],
                        "transposes": summary["transposes"], "py_func_nodes": py_funcs}}


TOOLS = {"onnx-tf": convert_onnx_tf, "onnx2tf": convert_onnx2tf}
assert sorted(TOOLS) == sorted(CONTRACT["choices"]["tool"]), "a tool is declared in CONTRACT and registered here"


def run(request):
    tool = request["params"]["tool"]
    if tool not in TOOLS:
        raise StageFailure("unknown converter %r" % tool, hint="one of %s" % sorted(TOOLS), kind="ConfigError")
    return TOOLS[tool](request)


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
