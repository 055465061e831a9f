"""Known failures of the old stacks: message pattern -> cause and fix (see shared REFERENCE.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Known:
    error_class: str
    pattern: str
    cause: str
    fix: str


CATALOGUE = (
    Known("IRTooNew", r"ir_version is higher than the checker", "the exporter wrote a newer ONNX IR than "
          "the converter env's onnx reads", "set adapt.ir_version to what that onnx reads (compat.yaml stacks.max_ir)"),
    Known("InitializerNotInput", r"in initializer but not in graph input", "IR >= 4 lets initializers stay "
          "out of graph inputs; onnx <= 1.3 needs them in", "export with keep_initializers_as_inputs=True "
          "(adapt.initializers_as_inputs: true)"),
    Known("SymbolicPad", r"float\(\) argument must be .*NoneType", "onnx-tf 1.1.2 cannot compute SAME-style "
          "padding for a symbolic (dynamic) dim", "make the batch static for this route (adapt.static_shapes) "
          "or take a newer target"),
    Known("StridedSlice", r"step!=1 is currently not supported", "strided slicing (e.g. a yolov5 Focus layer) "
          "does not export below opset 10", "opset >= 10"),
    Known("Protobuf4", r"Descriptors cannot be created directly", "protobuf >= 4 beside onnx/TF built for "
          "protobuf 3", "pin protobuf < 3.21 in the env spec and re-lock"),
    Known("UnpinnedTransitive", r"requires Python '>=3\.\d+'", "an unpinned transitive dependency",
          "lock every transitive pin (`invoke env.lock`)"),
    Known("OpTooNew", r"No op named (\w+) in defined operations", "the graph uses an op added after the "
          "target TensorFlow", "take a route that converts in the target runtime, or downgrade the graph"),
    Known("OpSignatureChanged", r"NodeDef expected inputs '[^']*' do not match \d+ inputs specified",
          "the converter's TF 2 graph uses an op whose inputs changed after the target TensorFlow (TF 2 control "
          "flow: a while loop over TensorLists, as onnx2tf writes a GRU or LSTM)",
          "take a route that converts in the target runtime (onnx-tf 1.x, where adapt unrolls GRU and LSTM)"),
    Known("AttrTooNew", r"NodeDef mentions attr '(\w+)' not in Op", "the graph carries an attr added after "
          "the target TensorFlow", "strip attrs the target's OpDef lacks (downgrade), or convert in the target"),
    Known("PyFunc", r"KeyError: 'pyfunc_\d+'", "onnx-tf <= 1.3 fell back to tf.py_func (e.g. ceil_mode pools); "
          "such a graph runs only in the converting process", "use a newer opset/onnx-tf route"),
    Known("ResizeMode", r"Resize coordinate_transformation_mode=(\w+) is not supported", "onnx-tf cannot convert "
          "Resize in that mode (torch writes bilinear upsampling with align_corners=False as pytorch_half_pixel)",
          "take the onnx2tf route for this target, or build the model with align_corners=True"),
    Known("TfliteBuiltins", r"TFLiteConverter .* failed", "the TensorFlow graph needs ops that TFLite has no "
          "builtin kernel for (the device has no Flex delegate)", "take the onnx2tf route, which writes builtin ops"),
    Known("KernelDtypeCheck", r"Check failed: dtype\(\) == expected_dtype \(9 vs\. 3\)", "a kernel of this old "
          "TensorFlow got an int64 tensor where it handles only int32 (TF 2 converters compute dynamic shapes in "
          "int64) and TensorFlow aborted", "take a legacy route that converts in this runtime, or onnx2tf-downgrade, "
          "or make the batch static"),
    Known("UpsampleBeforeOpset11", r"onnx:(Upsample|Resize) for ONNX opset version \d+", "ONNX Upsample/Resize before opset 11 "
          "cannot express PyTorch's interpolation (bilinear with align_corners=False); torch warned at export and "
          "the exported model computes other numbers", "take a route that exports at opset >= 11 (Resize), "
          "or build the model with align_corners=True"),
    Known("SliceStepsOnnxTf15", r"(?s)handlers/backend/slice\.py.*None values not supported", "onnx-tf 1.5.0's "
          "Slice-10 handler fails on the strided slices torch writes (e.g. a yolov5 Focus layer)",
          "take onnx2tf-downgrade for TF 1.15, or onnx-tf 1.3.0 at opset 10 (TF 1.13)"),
    Known("ExportUnsupportedOp", r"Couldn't export operator aten::(\w+)", "torch 1.7 has no ONNX form of that op "
          "at this opset (bilinear upsampling needs opset >= 9, and >= 11 to match PyTorch)",
          "take a route with a higher opset, or replace the op in the model"),
    Known("OpNotImplemented", r"(\w+) version (\d+) is not implemented", "the converter does not handle that "
          "op at that opset version (PyPI onnx-tf 1.3.0: MaxPool-10; onnx-tf 1.5.0: Conv-11)",
          "export at an opset the converter implements (a lower-opset route), or take another route"),
    Known("UnsupportedInTarget", r"cannot be expressed in TensorFlow", "the modern converter's graph needs ops or "
          "attrs the target TensorFlow lacks and no rewrite exists (e.g. ResizeBilinear half_pixel_centers and "
          "SelectV2 arrived in TF 1.14)", "take a legacy route that converts in the target, or a newer target"),
    Known("AvgPoolNoPads", r"object of type 'NoneType' has no len\(\)", "onnx-tf 1.3.0 crashes on an AveragePool "
          "without `pads` (torch writes one for AdaptiveAvgPool2d to the same size, as in alexnet and vgg)",
          "take onnx2tf-downgrade (or onnx-tf-1.10-downgrade) for this target: `--route onnx2tf-downgrade`"),
    Known("PadBeforePool", r"pad\(\) got multiple values for argument 'name'", "onnx-tf 1.5.0 crashes on the Pad "
          "torch writes before an AveragePool (densenet, inception)",
          "take onnx2tf-downgrade for TF 1.15: `--route onnx2tf-downgrade`"),
    Known("OpsetUnsupported", r"Unsupported: ONNX export of operator (\w+)|Exporting the operator (\w+) to ONNX "
          r"opset version \d+ is not supported", "torch 1.7 cannot export that op at this opset",
          "raise the opset (opset: in the config) if the target reads it, or replace the op in the model "
          "(e.g. SiLU -> x * sigmoid(x))"),
)


def match(text: str) -> Known | None:
    for known in CATALOGUE:
        if re.search(known.pattern, text or ""):
            return known
    return None
