"""package: build a deployable package from the verified frozen graph.

format "saved_model": a SavedModel with a `serving_default` signature keyed by the config's input
and output names, built with the TF1 SavedModelBuilder of the env it runs in (the target runtime,
as TF Serving and TF-TRT of that version load it); format "tflite": a .tflite made by onnx2tf
from the exported ONNX file (input "model", in the onnx2tf env), or by TF 2's TFLiteConverter from a
frozen graph (input "graph", builtin TFLite ops only, as a device without the Flex delegate runs).
"""

import os

import _graphdef
import _protocol
from _protocol import StageFailure

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {
    "inputs": {"graph": False, "model": False},     # a TF graph (saved_model, tflite) or an ONNX file (tflite)
    "params": {"format": True, "inputs": True, "outputs": True},
    "outputs": ["saved_model", "tflite"],
}


def saved_model(request, tf):
    tf1 = _graphdef.tf_v1(tf)
    params = request["params"]
    export_dir = os.path.join(request["output_dir"], "saved_model")
    graph = tf1.Graph()
    with graph.as_default():
        tf1.import_graph_def(_graphdef.load(tf, request["inputs"]["graph"]), name="")
    with tf1.Session(graph=graph) as sess:
        sig = tf1.saved_model.signature_def_utils.predict_signature_def(
            inputs=dict((n, graph.get_tensor_by_name(n + ":0")) for n in params["inputs"]),
            outputs=dict((n, graph.get_tensor_by_name(n + ":0")) for n in params["outputs"]))
        builder = tf1.saved_model.builder.SavedModelBuilder(export_dir)
        builder.add_meta_graph_and_variables(sess, [tf1.saved_model.tag_constants.SERVING],
                                             signature_def_map={"serving_default": sig})
        builder.save()
    _rewrite_deterministically(os.path.join(export_dir, "saved_model.pb"))
    return {"outputs": {"saved_model": "saved_model"}, "metrics": {"tensorflow": tf.__version__}}


def _rewrite_deterministically(path):
    """The builder writes map fields (attrs, signatures) in hash order: the same model in other bytes."""
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    with open(path, "rb") as fh:
        proto.ParseFromString(fh.read())
    with open(path, "wb") as fh:
        fh.write(proto.SerializeToString(deterministic=True))


def tflite(request, tf):
    if "graph" in request["inputs"]:
        return tflite_from_graph(request, tf)
    return tflite_from_onnx(request, tf)


def tflite_from_graph(request, tf):
    params = request["params"]
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        request["inputs"]["graph"], input_arrays=list(params["inputs"]), output_arrays=list(params["outputs"]))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        blob = converter.convert()
    except Exception as exc:      # ConverterError names the ops TFLite has no builtin kernel for
        first = str(exc).strip().splitlines()
        raise StageFailure("TFLiteConverter (TF %s) failed: %s" % (tf.__version__, "; ".join(
            line.strip() for line in first if "op" in line.lower())[:600] or type(exc).__name__),
            hint="the graph needs TensorFlow ops that TFLite lacks as builtins: take the onnx2tf route",
            kind="TfliteConverterError")
    out = os.path.join(request["output_dir"], "model.tflite")
    with open(out, "wb") as f:
        f.write(blob)
    return {"outputs": {"tflite": "model.tflite"},
            "metrics": {"tensorflow": tf.__version__, "bytes": len(blob), "converter": "TFLiteConverter"}}


def tflite_from_onnx(request, tf):
    """onnx2tf straight from the ONNX file: NHWC-native TFLite ops, no flex (TF Select) kernels,
    which a frozen onnx-tf graph would need (e.g. Dilation2D for padded pools). I/O kept NCHW."""
    import glob
    import shutil
    import tempfile

    import _onnx2tf
    params = request["params"]
    work = tempfile.mkdtemp(dir=request["output_dir"])
    _onnx2tf.convert(request["inputs"]["model"], work, "the .tflite",
                     keep_ncw_or_nchw_or_ncdhw_input_names=list(params["inputs"]))
    found = glob.glob(os.path.join(work, "*_float32.tflite"))
    if not found:
        raise StageFailure("onnx2tf wrote no float32 .tflite", kind="TfliteError")
    out = os.path.join(request["output_dir"], "model.tflite")
    _name_tensors(found[0], out, params["inputs"], params["outputs"])
    shutil.rmtree(work)
    return {"outputs": {"tflite": "model.tflite"},
            "metrics": {"tensorflow": tf.__version__, "bytes": os.path.getsize(out), "converter": "onnx2tf"}}


def _name_tensors(src, dst, inputs, outputs):
    """onnx2tf names the .tflite outputs Identity, Identity_1, ... (its renaming needs the flatc
    program); give the tensors the config's names, in the ONNX graph's order that onnx2tf keeps.
    verify then looks them up by these names."""
    from tensorflow.lite.tools import flatbuffer_utils
    model = flatbuffer_utils.read_model(src)
    graph = model.subgraphs[0]
    for indices, names in ((graph.inputs, inputs), (graph.outputs, outputs)):
        if len(indices) == len(names):
            for i, name in zip(indices, names):
                graph.tensors[i].name = name.encode()
    flatbuffer_utils.write_model(model, dst)


FORMATS = {"saved_model": saved_model, "tflite": tflite}


def run(request):
    import tensorflow as tf
    return FORMATS[request["params"]["format"]](request, tf)


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
