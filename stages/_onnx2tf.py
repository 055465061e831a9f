"""Running onnx2tf inside a stage (onnx2tf env): convert and package share it. Python 3.6-compatible
like every stage helper, though only the onnx2tf env imports it."""

import os
import shutil
import tempfile

from _protocol import StageFailure

# onnx2tf downloads calibration data for 4D 3-channel inputs unless this file is in its cwd (the
# stage's output dir); lab servers are often offline, and it only serves int8 quantization.
CALIBRATION = "calibration_image_sample_data_20x128x128x3_float32.npy"


def convert(onnx_path, output_folder, making, **kwargs):
    """onnx2tf.convert quietly, offline, with its exits turned into a StageFailure."""
    import numpy as np
    import onnx2tf
    np.save(CALIBRATION, np.zeros((20, 128, 128, 3), np.float32))
    # onnx2tf rewrites its input file in place (shape-inferred); the input is a stage-cache entry
    # that other runs share, so it gets a private copy
    scratch = tempfile.mkdtemp(prefix="onnx2tf-input-")
    private = os.path.join(scratch, os.path.basename(onnx_path))
    shutil.copyfile(onnx_path, private)
    try:
        return onnx2tf.convert(input_onnx_file_path=private, output_folder_path=output_folder, non_verbose=True,
                               **kwargs)
    except SystemExit as exc:     # onnx2tf exits on some errors instead of raising
        raise StageFailure("onnx2tf stopped (exit %s) while making %s; see the log" % (exc.code, making),
                           kind="Onnx2tfError")
    finally:
        os.remove(CALIBRATION)
        shutil.rmtree(scratch, ignore_errors=True)


def saved_model(onnx_path, output_folder, **kwargs):
    """The SavedModel alone: onnx2tf builds its Keras model without saving anything (its own save also
    writes a float32 and a float16 .tflite, half its time), and the model is written here as onnx2tf
    writes it with output_signaturedefs: one serving_default endpoint, inputs named as in the ONNX file."""
    import tensorflow as tf
    import tf_keras
    # output_signaturedefs also makes onnx2tf name its layers safely ("not a valid root scope name" without)
    model = convert(onnx_path, output_folder, "a SavedModel", disable_model_save=True, output_signaturedefs=True,
                    **kwargs)
    archive = tf_keras.export.ExportArchive()
    archive.add_endpoint(name="serving_default", fn=lambda *inputs: model(inputs),
                         input_signature=[tf.TensorSpec(t.shape, t.dtype, t.name) for t in model.inputs])
    archive.write_out(output_folder)
