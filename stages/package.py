"""package: build a deployable package from the verified frozen graph.

format "saved_model": a SavedModel with a `serving_default` signature keyed by the config's input
and output names, built with the TF1 SavedModelBuilder of the env it runs in (the target runtime,
as TF Serving and TF-TRT of that version load it); format "tflite": a .tflite converted with the
TF 2 converter of the env it runs in.
"""

import os

import _graphdef
import _protocol
from _protocol import StageFailure


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
    return {"outputs": {"saved_model": "saved_model"}, "metrics": {"tensorflow": tf.__version__}}


def tflite(request, tf):
    params = request["params"]
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        request["inputs"]["graph"], input_arrays=list(params["inputs"]), output_arrays=list(params["outputs"]),
        input_shapes=dict((k, list(v)) for k, v in params["input_shapes"].items()))
    try:
        blob = converter.convert()
    except Exception as exc:
        raise StageFailure("TFLite conversion failed: %s: %s" % (type(exc).__name__, str(exc)[:2000]),
                           hint="ops TFLite lacks need SELECT_TF_OPS; try the onnx2tf route", kind="TfliteError")
    with open(os.path.join(request["output_dir"], "model.tflite"), "wb") as fh:
        fh.write(blob)
    return {"outputs": {"tflite": "model.tflite"}, "metrics": {"tensorflow": tf.__version__, "bytes": len(blob)}}


FORMATS = {"saved_model": saved_model, "tflite": tflite}


def run(request):
    import tensorflow as tf
    return FORMATS[request["params"]["format"]](request, tf)


if __name__ == "__main__":
    _protocol.main(run)
