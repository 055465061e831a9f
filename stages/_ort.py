"""onnxruntime sessions for the references and the onnx-check (Python 3.6; onnx + onnxruntime)."""

import os
import shutil
import tempfile

from _protocol import ModelFailure

RAISED_TO = (7, 9, 11)       # the opsets tried, lowest first, for a file whose op versions onnxruntime lacks


def reference_session(path, threads):
    """(an onnxruntime session for the references, how they were made). onnxruntime has no kernels for
    the oldest op versions (BatchNormalization-6, Gemm-6 ... of 2018's exporters): such a file is raised
    by onnx's version converter to the lowest opset it runs, for the references only; every route still
    gets the file as it is."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    try:
        return ort.InferenceSession(path, options), "its onnxruntime on the file"  # no providers= before 1.9
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own message says what it cannot run
        first = str(exc).splitlines()[0]
        if "Could not find an implementation" in first:
            raised = _raised(path, ort, options)
            if raised:
                return raised
        raise ModelFailure("onnxruntime %s cannot run the file: %s" % (ort.__version__, first),
                           hint="is the model valid? `python -m onnx.checker` (or onnx.checker.check_model) "
                                "says where it is not", kind="OnnxModelError")


def _raised(path, ort, options):
    import onnx
    from onnx import version_converter

    import adapt
    model = onnx.load(path)
    current = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    scratch = tempfile.mkdtemp(prefix="torch2tf-raised-")
    try:
        for opset in [o for o in RAISED_TO if o > current]:
            try:
                raised = os.path.join(scratch, "opset%d.onnx" % opset)
                copy = onnx.ModelProto()
                copy.CopyFrom(model)            # convert_opset edits the model it is given
                onnx.save(adapt.convert_opset(copy, current, opset, onnx, version_converter), raised)
                session = ort.InferenceSession(raised, options)
            except Exception:  # noqa: BLE001 - the next opset up, else the original error
                continue
            return session, ("its onnxruntime on the file raised from opset %d to %d by onnx %s's version "
                             "converter (onnxruntime %s has no kernels for its op versions)"
                             % (current, opset, onnx.__version__, ort.__version__))
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
