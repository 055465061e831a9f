"""The known-error catalogue against messages copied verbatim from the real failures the matrix met
(stage logs of PyTorch 1.7.1, onnx-tf 1.3.0 / 1.5.0 / 1.10, TF 1.4.1, on these machines)."""

import pytest

from torch2tf import catalogue

REAL = [
    ("StridedSlice", "torch.onnx.export at opset 7 failed: RuntimeError: step!=1 is currently not supported"),
    ("ExportUnsupportedOp", "RuntimeError: ONNX export failed: Couldn't export operator aten::upsample_bilinear2d"),
    ("UpsampleBeforeOpset11", "UserWarning: You are trying to export the model with onnx:Upsample for ONNX opset "
                              "version 9. This operator might cause results to not match the expected results by PyTorch."),
    ("UpsampleBeforeOpset11", "UserWarning: You are trying to export the model with onnx:Resize for ONNX opset "
                              "version 10. This operator might cause results to not match the expected results by PyTorch."),
    ("OpNotImplemented", "onnx-tf could not convert the model: NotImplementedError: MaxPool version 10 is not implemented."),
    ("ResizeMode", "RuntimeError: Resize coordinate_transformation_mode=pytorch_half_pixel is not supported in Tensorflow."),
    ("SliceStepsOnnxTf15", '  File ".../site-packages/onnx_tf/handlers/backend/slice.py", line 56, in version_10\n'
                           "    ...\nValueError: None values not supported."),
    ("KernelDtypeCheck", "F tensorflow/core/framework/tensor.cc:586] Check failed: dtype() == expected_dtype (9 vs. 3)"),
    ("PyFunc", "KeyError: 'pyfunc_0'"),
    ("OpSignatureChanged", "TensorFlow 1.13.1 cannot load the graph: ValueError: NodeDef expected inputs 'variant, "
                           "int32' do not match 3 inputs specified; Op<name=TensorListGetItem; signature=input_handle:"
                           "variant, index:int32 -> item:element_dtype; attr=element_dtype:type>"),
    ("OpTooNew", "ValueError: No op named AddV2 in defined operations."),
    ("AvgPoolNoPads", "onnx-tf could not convert the model: TypeError: object of type 'NoneType' has no len()"),
    ("PadBeforePool", "onnx-tf could not convert the model: TypeError: pad() got multiple values for argument 'name'"),
]


@pytest.mark.parametrize("error_class, text", REAL)
def test_real_messages_map_to_their_class_with_cause_and_fix(error_class, text):
    known = catalogue.match(text)
    assert known is not None and known.error_class == error_class
    assert known.cause and known.fix


def test_unknown_message_is_not_guessed():
    assert catalogue.match("ValueError: something nobody has seen") is None


def test_a_tensorflow_in_user_code_error_is_told_by_its_last_line():
    from torch2tf.errors import first_line
    text = ("BackendIsNotSupposedToImplementIt: in user code:\n\n    File \"/env/onnx_tf/backend.py\", line 99, in f  *\n"
            "        return handler.handle(node)\n\n    BackendIsNotSupposedToImplementIt: Squeeze version 13 is not implemented.\n")
    assert first_line(text) == "BackendIsNotSupposedToImplementIt: Squeeze version 13 is not implemented."
    assert first_line("ValueError: bad\n  more") == "ValueError: bad"
