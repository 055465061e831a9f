"""`invoke conformance` for real, in CI's reduced form: a handful of ONNX node tests (from the onnx
1.8.1 wheel in the torch17 env) over every route of tf1.4, tf1.13 and tf1.15, converted and verified
in the real stacks. Every route must pass something, and every failure must name its cause."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, run_invoke

from torch2tf.configs.compat import load_compat

pytestmark = pytest.mark.stack

# chosen so that every route passes at least one (relu, a pool, a matmul), one needs a gap closure
# (instancenorm on onnx-tf 1.1.2), one is weak (all-zero output), one fails everywhere (GRU with its
# weights as graph inputs: no converter here takes those), and a reduce over all axes is served after
# the instance norm's reduce over axes 2, 3 in the same onnx-tf 1.1.2 process (its defaults once leaked)
REDUCED = ["test_relu", "test_averagepool_2d_default", "test_matmul_2d", "test_instancenorm_example",
           "test_reduce_mean_default_axes_keepdims_example",
           "test_constantofshape_int_zeros", "test_gru_defaults"]
TARGETS = ("tf1.4", "tf1.13", "tf1.15")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    artifacts = tmp_path_factory.mktemp("conformance")
    out = run_invoke("conformance", "--tests", ",".join(REDUCED), "--jobs", "2",
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(artifacts)})
    print(out.stdout[-4000:], out.stderr[-4000:])
    assert out.returncode == 0, out.stderr
    return json.loads((artifacts / "conformance" / "results.json").read_text())


def test_every_route_of_every_legacy_target_is_run_and_passes_something(results):
    compat = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")
    assert set(results["tests"]) == set(REDUCED)
    for target in TARGETS:
        routes = [r.name for r in compat.routes(target)]
        assert results["targets"][target] == routes
        for route in routes:
            cells = [c for c in results["cells"] if c["target"] == target and c["route"] == route]
            assert len(cells) == len(REDUCED)
            assert any(c["passed"] and not c.get("weak") for c in cells), (target, route, cells)
    mean = [c for c in results["cells"] if c["test"] == "test_reduce_mean_default_axes_keepdims_example"]
    assert all(c["passed"] for c in mean if c["route"].startswith("onnx-tf-1.1.2")), mean
    relu = [c for c in results["cells"] if c["test"] == "test_relu"]
    assert all(c["passed"] for c in relu), [c for c in relu if not c["passed"]]


def test_every_failure_names_its_class_its_step_and_its_cause(results):
    failed = [c for c in results["cells"] if not c["passed"]]
    assert failed
    for cell in failed:
        assert cell["error_class"] and cell["cause"] and cell["step"], cell
    gru = [c for c in results["cells"] if c["test"] == "test_gru_defaults"]
    assert not any(c["passed"] for c in gru)


def test_an_all_zero_expected_output_passes_only_as_weak(results):
    zeros = [c for c in results["cells"] if c["test"] == "test_constantofshape_int_zeros" and c["passed"]]
    assert zeros and all(c.get("weak") for c in zeros)


def test_instance_norm_reaches_tf14_through_onnx_tf_112_only_with_its_decomposition(results, tmp_path):
    route = "onnx-tf-1.1.2-opset7"
    cell = next(c for c in results["cells"] if c["test"] == "test_instancenorm_example" and c["route"] == route)
    assert cell["passed"], cell
    out = run_invoke("conformance", "--tests", "test_instancenorm_example", "--targets", "tf1.4", "--routes", route,
                     "--without", "decompose_instancenorm", env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    [before] = json.loads((tmp_path / "conformance" / "results-without.json").read_text())["cells"]
    assert not before["passed"] and "InstanceNormalization" in before["cause"], before


def test_the_model_files_torch_04_exported_pass_in_tf113(tmp_path):
    """`--suite pytorch`: the onnx wheel's pytorch-converted / pytorch-operator files (opset 6, tensors named
    "0", "1"): a per-channel PReLU-6 (its slope reshaped when raised past opset 7) and a sqrt whose NaNs
    (of negative inputs) match the reference's pass by some route; a dilated strided conv too."""
    tests = ["test_PReLU_2d_multiparam", "test_operator_sqrt", "test_Conv2d_dilated"]
    out = run_invoke("conformance", "--suite", "pytorch", "--tests", ",".join(tests), "--targets", "tf1.13",
                     "--routes", "onnx-tf-1.3.0-opset9", "--jobs", "2",
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path)})
    print(out.stdout[-3000:], out.stderr[-3000:])
    assert out.returncode == 0, out.stderr
    cells = json.loads((tmp_path / "conformance" / "results-pytorch.json").read_text())["cells"]
    assert {c["test"]: c["passed"] for c in cells} == {t: True for t in tests}, cells


def test_opset_13_files_and_scan_loops_reach_tf113_through_onnx_tf_110(tmp_path):
    """onnx-tf 1.10 has no Squeeze-13 / Unsqueeze-13 ("version 13 is not implemented"): convert takes the
    model to opset 12 (the axes back as attributes) and tries once more. A SoftmaxCrossEntropyLoss-13 too:
    written out as its function body, whose NegativeLogLikelihoodLoss is written out in turn, and whose
    Sub-13 / Transpose-13 / Shape-13 the opset step carries to 12 as they are. A Scan, a TF 2 loop over
    TensorLists, loads in TF 1.13 once downgrade drops the element_shape inputs TF 1.14 added."""
    out = run_invoke("conformance", "--tests",
                     "test_squeeze,test_unsqueeze_axis_0,test_sce_mean_weight_ii_3d,test_scan_sum",
                     "--targets", "tf1.13",
                     "--routes", "onnx-tf-1.10-downgrade", "--jobs", "2",
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    cells = json.loads((tmp_path / "conformance" / "results.json").read_text())["cells"]
    assert all(c["passed"] for c in cells) and len(cells) == 4, cells


def test_tf2s_graphs_of_scatters_dropout_and_nearest_resizes_load_in_tf14(tmp_path):
    """The modern routes' graphs in TF 1.4: a ScatterND (TensorScatterUpdate, lowered to ScatterNd +
    Select), an inference Dropout with its ratio given (Equal with incompatible_shape_error=false, an attr
    TF 1.4 lacks and an ONNX graph never needs), a half-pixel nearest upsampling (two GatherV2), and a
    rank-7 loss whose GatherNd indexes 7 dims (TF 1.4 takes 5: renumbered into the flattened tensor)."""
    tests = ["test_scatternd", "test_dropout_default_ratio", "test_resize_upsample_scales_nearest",
             "test_nllloss_NCd1d2d3d4d5_none_no_weight"]
    out = run_invoke("conformance", "--tests", ",".join(tests), "--targets", "tf1.4",
                     "--routes", "onnx-tf-1.10-downgrade,onnx2tf-downgrade", "--jobs", "2",
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    cells = json.loads((tmp_path / "conformance" / "results.json").read_text())["cells"]
    assert {t: any(c["passed"] for c in cells if c["test"] == t) for t in tests} == {t: True for t in tests}, cells
