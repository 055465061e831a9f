"""Exact lowerings in `downgrade`: half-pixel bilinear resize (PyTorch's align_corners=False; TF < 1.14
has no half_pixel_centers) as two MatMuls with constant interpolation matrices.

The matrices are checked here against PyTorch's own formula; the stack tests convert a bilinear
segmentation net to the real TF 1.4 and 1.13 and verify it against PyTorch."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import ROOT, pipeline_on_onnx, run_invoke

from torch2tf.run.report import Report

sys.path.insert(0, str(ROOT / "stages"))
from _lowerings import interpolation_matrix  # noqa: E402


def pytorch_linear(x: np.ndarray, out_size: int) -> np.ndarray:
    """torch's upsample_linear1d, align_corners=False (aten/src/ATen/native/UpSample.h), on one axis."""
    in_size = len(x)
    scale = in_size / out_size
    y = np.empty(out_size)
    for i in range(out_size):
        src = max((i + 0.5) * scale - 0.5, 0.0)
        lo = int(src)
        hi = lo + 1 if lo < in_size - 1 else lo
        lam = src - lo
        y[i] = (1 - lam) * x[lo] + lam * x[hi]
    return y


@pytest.mark.parametrize("in_size, out_size", [(4, 8), (7, 14), (5, 3), (16, 16), (3, 10), (1, 4)])
def test_the_matrix_is_pytorchs_half_pixel_interpolation(in_size, out_size):
    x = np.random.RandomState(0).randn(in_size)
    got = interpolation_matrix(in_size, out_size).astype(np.float64) @ x
    assert np.abs(got - pytorch_linear(x, out_size)).max() < 1e-6


@pytest.mark.stack
@pytest.mark.parametrize("target", ["tf1.4", "tf1.13"])
@pytest.mark.parametrize("model", ["segnet", "segnet-dyn"])
def test_bilinear_segnet_reaches_legacy_tf_through_the_lowering(target, model, tmp_path):
    out = run_invoke("pipeline", "--config", str(ROOT / "configs" / "matrix" / f"{model}.yaml"), "--target", target,
                     "--route", "onnx2tf-downgrade", env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    rep = Report.load(tmp_path / f"m-{model}" / "report.json")
    assert rep.downgrade["renamed"].get("ResizeBilinear(half_pixel_centers)->2 MatMul") == 1
    assert rep.verify.passed and not rep.verify.weak and rep.verify.max_abs_diff < 1e-5
    assert "ResizeBilinear" not in rep.graph["ops"] and rep.graph["ops"]["MatMul"] >= 2


FCN_LIKE = '''
import torch
import torch.nn.functional as F

class Net(torch.nn.Module):
    """fcn's pattern: a bilinear resize back to the input's size (a size computed from Shape ops,
    not a constant)."""
    def __init__(self):
        super().__init__()
        self.pw = torch.nn.Conv2d(3, 8, 1)
        self.dw = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)   # a depthwise conv as well

    def forward(self, x):
        y = self.dw(torch.relu(self.pw(x)))
        return F.interpolate(y, size=x.shape[2:], mode="bilinear", align_corners=False)

def build():
    return Net()
'''


@pytest.mark.stack
@pytest.mark.parametrize("target", ["tf1.4", "tf1.13"])
def test_a_resize_to_a_computed_size_reaches_legacy_tf(target, tmp_path):
    (tmp_path / "fcnlike.py").write_text(FCN_LIKE)
    (tmp_path / "fcnlike.yaml").write_text("name: fcnlike\nmodel: {factory: fcnlike.py:build}\n"
                                           "inputs: [{name: image, shape: [1, 3, 32, 32]}]\noutputs: [mask]\n"
                                           f"target: {target}\nroute: onnx2tf-downgrade\n")
    out = run_invoke("pipeline", "--config", str(tmp_path / "fcnlike.yaml"),
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")})
    assert out.returncode == 0, out.stderr[-3000:]
    rep = Report.load(tmp_path / "a" / "fcnlike" / "report.json")
    renamed = rep.downgrade["renamed"]
    assert renamed.get("ResizeBilinear(half_pixel_centers)->2 MatMul") == 1, renamed
    assert rep.verify.passed and not rep.verify.weak and rep.verify.max_abs_diff < 1e-5


@pytest.mark.stack
def test_shufflenets_grouped_convs_become_depthwise_for_tf14(tmp_path):
    """onnx2tf writes some of shufflenet_v2's depthwise convs as grouped Conv2D, which TF 1.4 cannot load."""
    # He init: with torch's default init its logits hardly depend on the input (a weak check)
    (tmp_path / "shufflenet.py").write_text(
        "import torchvision\nfrom torch import nn\n\n"
        "def build():\n    net = torchvision.models.shufflenet_v2_x0_5()\n"
        "    for m in net.modules():\n        if isinstance(m, nn.Conv2d):\n"
        "            nn.init.kaiming_normal_(m.weight, nonlinearity='relu')\n    return net\n")
    (tmp_path / "shufflenet.yaml").write_text(
        "name: shufflenet\nmodel: {factory: 'shufflenet.py:build'}\n"
        "inputs: [{name: image, shape: [1, 3, 64, 64]}]\noutputs: [logits]\ntarget: tf1.4\n"
        "route: onnx2tf-downgrade\n")
    out = run_invoke("pipeline", "--config", str(tmp_path / "shufflenet.yaml"),
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")})
    assert out.returncode == 0, out.stderr[-3000:]
    rep = Report.load(tmp_path / "a" / "shufflenet" / "report.json")
    assert rep.downgrade["renamed"].get("Conv2D(grouped)->DepthwiseConv2dNative", 0) >= 1, rep.downgrade
    assert rep.verify.passed and not rep.verify.weak


def run_matrix_model(model: str, target: str, route: str, tmp_path) -> Report:
    out = run_invoke("pipeline", "--config", str(ROOT / "configs" / "matrix" / f"{model}.yaml"), "--target", target,
                     "--route", route, env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    rep = Report.load(tmp_path / f"m-{model}" / "report.json")
    assert rep.verify.passed and not rep.verify.weak and rep.verify.max_abs_diff < 1e-5, rep.verify
    return rep


@pytest.mark.stack
@pytest.mark.parametrize("target, route", [("tf1.4", "onnx2tf-downgrade"), ("tf1.13", "onnx-tf-1.10-downgrade")])
def test_attention_reaches_legacy_tf_through_the_batch_matmul_lowering(target, route, tmp_path):
    """TF 2's BatchMatMulV2 (TF >= 1.14) becomes BatchMatMul where the batch dims are equal and
    Reshape/MatMul/Reshape for a Linear on a sequence; TF 1.4's Softmax runs on matrices only."""
    rep = run_matrix_model("encoder", target, route, tmp_path)
    renamed = rep.downgrade["renamed"]
    assert renamed.get("BatchMatMulV2->BatchMatMul", 0) + \
        renamed.get("BatchMatMulV2(matrix operand)->Reshape+MatMul+Reshape", 0) >= 2, renamed
    assert "BatchMatMulV2" not in rep.graph["ops"]
    assert ("Softmax(N-D)->Reshape+Softmax+Reshape" in renamed) == (target == "tf1.4"), renamed


def adapt_log(tmp_path, model: str) -> str:
    return (tmp_path / f"m-{model}" / "logs" / "adapt.log").read_text()


@pytest.mark.stack
@pytest.mark.parametrize("model, target, route, rewrites", [
    # onnx-tf 1.1.2 ignores the ONNX LSTM's weights; opset 7 writes ConstantFill; tf.matmul wants equal ranks
    ("lstm", "tf1.4", "onnx-tf-1.1.2-opset7", ["fold_shapes", "unroll_lstm", "matmul_2d"]),
    # onnx-tf 1.1.2 normalises a standalone BatchNormalization with batch statistics (max abs 9e-3)
    ("standalone-bn", "tf1.4", "onnx-tf-1.1.2-opset7", ["fold_batchnorm"]),
    # onnx-tf 1.3.0 crashes on an AveragePool without pads
    ("samepool", "tf1.13", "onnx-tf-1.3.0-opset9", ["zero_pool_pads"]),
    ("lstm", "tf1.13", "onnx-tf-1.3.0-opset9", ["matmul_2d"]),
])
def test_adapt_rewrites_let_the_legacy_converters_verify(model, target, route, rewrites, tmp_path):
    run_matrix_model(model, target, route, tmp_path)
    log = adapt_log(tmp_path, model)
    for name in rewrites:
        assert f"{name}: " in log, log


@pytest.mark.stack
@pytest.mark.parametrize("target", ["tf1.4", "tf1.13"])
def test_strided_slices_reach_legacy_tf_through_the_select_lowering(target, tmp_path):
    """onnx-tf 1.10's Slice clamps its indices with tf.where (SelectV2, TF >= 1.14) on equal shapes."""
    rep = run_matrix_model("focus", target, "onnx-tf-1.10-downgrade", tmp_path)
    assert rep.downgrade["renamed"].get("SelectV2->Select", 0) >= 1, rep.downgrade
    assert "SelectV2" not in rep.graph["ops"]


@pytest.mark.stack
def test_a_pad_before_an_average_pool_is_folded_for_onnx_tf_15(tmp_path):
    """onnx-tf 1.5.0 crashes on it ("pad() got multiple values for argument 'name'")."""
    run_matrix_model("padpool", "tf1.15", "onnx-tf-1.5.0-opset10", tmp_path)
    assert "fold_pads: " in adapt_log(tmp_path, "padpool")


@pytest.mark.stack
def test_nearest_upsampling_reaches_tf14_through_the_version_converter(tmp_path):
    """torch 1.7 cannot export it at opset 7: export at 9, convert to 7, Upsample as Reshape + Concat."""
    run_matrix_model("nearest", "tf1.4", "onnx-tf-1.1.2-opset9to7", tmp_path)
    log = adapt_log(tmp_path, "nearest")
    assert "opset 9 -> 7" in log and "nearest_upsample: " in log, log


@pytest.mark.stack
@pytest.mark.parametrize("target", ["tf1.4", "tf1.13"])
def test_a_where_with_a_scalar_branch_is_broadcast_before_select(target, tmp_path):
    """An attention mask's Where(mask, scores, -inf-ish scalar): SelectV2 broadcasts its operands, TF < 1.14's
    Select does not; the lowering broadcasts them exactly first (DistilBERT reached no tf1.13 route)."""
    from onnx import TensorProto, helper, numpy_helper
    fill = numpy_helper.from_array(np.array(-1e4, np.float32), "masked")
    graph = helper.make_graph([helper.make_node("Greater", ["x", "zero"], ["mask"]),
                               helper.make_node("Where", ["mask", "x", "masked"], ["y"])], "masked_fill",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [fill, numpy_helper.from_array(np.zeros((1, 1, 1, 4), np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 4
    _, rep = pipeline_on_onnx(tmp_path, model, "mf", target, "--route", "onnx-tf-1.10-downgrade")
    assert rep.verify.passed and not rep.verify.weak
    assert rep.downgrade["renamed"].get("SelectV2(broadcast)->Fill+Select", 0) == 1, rep.downgrade


@pytest.mark.stack
@pytest.mark.parametrize("route", ["onnx-tf-1.1.2-opset7", "onnx-tf-1.10-downgrade"])
def test_a_tile_with_int64_repeats_runs_in_tf14(route, tmp_path):
    """torch's repeat is ONNX Tile with int64 repeats; TF 1.4 has Tile kernels for int32 multiples only
    ('No OpKernel was registered to support Op 'Tile''): the multiples go through a Cast, on the legacy
    converter's graph (convert) and on a modern one's (downgrade) alike."""
    from onnx import TensorProto, helper, numpy_helper
    reps = numpy_helper.from_array(np.array([1, 2, 1, 3], np.int64), "reps")
    graph = helper.make_graph([helper.make_node("Constant", [], ["reps"], value=reps),
                               helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Tile", ["r", "reps"], ["y"])],
                              "repeat", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 12])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 7)])
    model.ir_version = 3
    _, rep = pipeline_on_onnx(tmp_path, model, "tile", "tf1.4", "--route", route)
    assert rep.verify.passed and not rep.verify.weak and rep.verify.versions["tensorflow"] == "1.4.1"
    logs = "".join(p.read_text() for p in (tmp_path / "a" / "tile" / "logs").glob("*.log"))
    assert "Tile(int64 multiples)->Cast+Tile" in logs


@pytest.mark.stack
def test_an_eye_reaches_tf14_through_matrix_diag(tmp_path):
    """TF 2 writes tf.eye as MatrixDiagV3 (TF >= 2.2), its zero constants stored with no values (which TF
    1.4's MakeNdarray cannot read); TF 1.4 gets MatrixDiag, exactly."""
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("EyeLike", ["x"], ["eye"]), helper.make_node("Add", ["x", "eye"], ["y"])],
                              "eye", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    _, rep = pipeline_on_onnx(tmp_path, model, "eye", "tf1.4", "--route", "onnx-tf-1.10-downgrade")
    assert rep.verify.passed and not rep.verify.weak and rep.verify.versions["tensorflow"] == "1.4.1"
    assert rep.downgrade["renamed"].get("MatrixDiagV3->MatrixDiag") == 1, rep.downgrade


@pytest.mark.stack
def test_a_quantize_reaches_tf14_through_min_max(tmp_path):
    """onnx2tf quantizes through tf.saturate_cast, whose clamp is ClipByValue (TF >= 1.8): TF 1.4 gets
    Maximum then Minimum, the op's own definition."""
    from onnx import TensorProto, helper, numpy_helper
    consts = [numpy_helper.from_array(np.array(0.02, np.float32), "scale"),
              numpy_helper.from_array(np.array(128, np.uint8), "zero_point")]
    graph = helper.make_graph([helper.make_node("QuantizeLinear", ["x", "scale", "zero_point"], ["q"]),
                               helper.make_node("DequantizeLinear", ["q", "scale", "zero_point"], ["y"])], "quantize",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    _, rep = pipeline_on_onnx(tmp_path, model, "quant", "tf1.4", "--route", "onnx2tf-downgrade")
    assert rep.verify.passed and not rep.verify.weak and rep.verify.versions["tensorflow"] == "1.4.1"
    assert rep.downgrade["renamed"].get("ClipByValue->Maximum+Minimum", 0) >= 1, rep.downgrade


@pytest.mark.stack
def test_scatters_and_gather_elements_reach_tf14_through_scatter_nd(tmp_path):
    """onnx-tf writes ScatterND, ScatterElements and GatherElements' axis swap (an int32 permutation) as
    TensorScatterUpdate (TF >= 1.14); TF 1.4 gets ScatterNd + Select."""
    from onnx import TensorProto, helper, numpy_helper
    consts = [numpy_helper.from_array(np.array([[1], [3]], np.int64), "rows"),
              numpy_helper.from_array(np.array([[2, 0, 1], [0, 3, 2]], np.int64), "cols"),
              numpy_helper.from_array(np.array([[3, 0, 1], [1, 1, 0], [0, 2, 2], [2, 3, 1]], np.int64), "picks")]
    nodes = [helper.make_node("Mul", ["x", "x"], ["sq"]),
             helper.make_node("Slice", ["sq", "s0", "s1", "s2"], ["rows_upd"]),
             helper.make_node("ScatterND", ["x", "rows", "rows_upd"], ["a"]),
             helper.make_node("Slice", ["x", "s0", "s1", "s2"], ["upd"]),
             helper.make_node("Slice", ["upd", "c0", "c1", "c2"], ["upd3"]),
             helper.make_node("ScatterElements", ["a", "cols", "upd3"], ["b"], axis=1),
             helper.make_node("GatherElements", ["b", "picks"], ["y"], axis=1)]
    consts += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
               [("s0", [0]), ("s1", [2]), ("s2", [0]), ("c0", [0]), ("c1", [3]), ("c2", [1])]]
    graph = helper.make_graph(nodes, "scatters", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    _, rep = pipeline_on_onnx(tmp_path, model, "scatters", "tf1.4", "--route", "onnx-tf-1.10-downgrade")
    assert rep.verify.passed and not rep.verify.weak and rep.verify.versions["tensorflow"] == "1.4.1"
    assert rep.downgrade["renamed"].get("TensorScatterUpdate->ScatterNd+Select", 0) == 3, rep.downgrade


def test_nearest_source_rows_are_tfs_half_pixel_ones():
    """TF's half-pixel nearest kernel: source = min(floor((out + 0.5) * in / out), in - 1), in float32."""
    from _lowerings import nearest_indices
    assert nearest_indices(2, 4).tolist() == [0, 0, 1, 1]
    assert nearest_indices(4, 2).tolist() == [1, 3]
    assert nearest_indices(3, 7).tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert nearest_indices(5, 3).tolist() == [0, 2, 4]
