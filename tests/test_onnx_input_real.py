"""An .onnx file as the model, for real: resnet18 exported by torch 1.7 at opset 11 and by torch 2.5
at opset 17, each given as `model: {onnx: FILE}` with nothing else named, verifies in TF 1.4, 1.13 and
1.15 (references: onnxruntime on the original file) with a check that can fail."""

from __future__ import annotations


import pytest
from conftest import pipeline_on_onnx, run_invoke

from torch2tf.run.report import Report

pytestmark = pytest.mark.stack

EXPORT = ("python -c \"import torch, torchvision; torch.manual_seed(0); m = torchvision.models.resnet18().eval(); "
          "torch.onnx.export(m, torch.randn(1, 3, 64, 64), '{path}', opset_version={opset}{extra})\"")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("onnx")
    made = {}
    for stack, opset, extra in (("torch17", 11, ""), ("torch25", 17, ", dynamo=False")):
        path = folder / f"resnet18-{stack}-opset{opset}.onnx"
        out = run_invoke("env.run", "--name", stack, EXPORT.format(path=path, opset=opset, extra=extra))
        assert out.returncode == 0 and path.is_file(), out.stderr
        made[(stack, opset)] = path
    return made


@pytest.mark.parametrize("target, tf", [("tf1.4", "1.4.1"), ("tf1.13", "1.13.1"), ("tf1.15", "1.15.5")])
@pytest.mark.parametrize("stack, opset", [("torch17", 11), ("torch25", 17)])
def test_a_plain_onnx_config_verifies_in_legacy_tf(files, tmp_path, stack, opset, target, tf):
    cfg = tmp_path / "r18.yaml"
    cfg.write_text(f"name: r18\nmodel: {{onnx: {files[(stack, opset)]}}}\ntarget: {target}\n")
    out = run_invoke("pipeline", "--config", str(cfg), env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")})
    print(out.stdout[-3000:], out.stderr[-3000:])
    assert out.returncode == 0, out.stderr
    rep = Report.load(tmp_path / "a" / "r18" / "report.json")
    assert rep.verify.passed and not rep.verify.weak and rep.verify.versions["tensorflow"] == tf
    # torch names the output '191': every artifact carries the safe name, and the mapping is recorded
    assert rep.tensor_names and all(":" not in v and not v[0].isdigit() for v in rep.tensor_names.values())
    outputs = [(o if isinstance(o, str) else o["name"]).split(":")[0] for o in rep.graph["outputs"]]
    assert outputs == [rep.tensor_names["191"]] == ["t_191"]
    assert "safe tensor names:" in out.stdout and "TensorFlow vs the ONNX file" in out.stdout


def test_onnx_tf_112_keeps_each_reduce_to_its_own_axes(tmp_path):
    """onnx-tf 1.1.2 merged a node's attrs into its class-level defaults: after a ReduceMean over axis 1,
    a ReduceMean over everything reduced axis 1 too (a [2, 2, 4] output instead of [2, 1, 4])."""
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
                               helper.make_node("ReduceMean", ["x"], ["total"], keepdims=0),
                               helper.make_node("Add", ["m", "total"], ["y"])], "two_means",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 7)])
    model.ir_version = 3
    onnx.save(model, str(tmp_path / "two_means.onnx"))
    cfg = tmp_path / "two_means.yaml"
    cfg.write_text(f"name: two_means\nmodel: {{onnx: {tmp_path / 'two_means.onnx'}}}\ntarget: tf1.4\n")
    out = run_invoke("pipeline", "--config", str(cfg), "--route", "onnx-tf-1.1.2-opset7",
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")})
    print(out.stdout[-3000:], out.stderr[-3000:])
    assert out.returncode == 0, out.stderr
    rep = Report.load(tmp_path / "a" / "two_means" / "report.json")
    assert rep.verify.passed and rep.verify.versions["tensorflow"] == "1.4.1"


@pytest.mark.parametrize("target", ["tf1.4", "tf1.13", "tf1.15"])
def test_an_integer_input_that_indexes_a_table_is_drawn_inside_it(tmp_path, target):
    """An Embedding of 4 rows as a file: the example ids must be valid rows (they were drawn in [0, 10):
    'indices element out of data bounds, idx=5 must be within the inclusive range [-4,3]')."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    table = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "table")
    graph = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["emb"], axis=0),
                               helper.make_node("Relu", ["emb"], ["y"])], "embedding",
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 3])], [table])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 4
    _, rep = pipeline_on_onnx(tmp_path, model, "emb", target)
    ids = np.load(tmp_path / "a" / "emb" / "input.ids.npy")
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 4 and len(set(ids.ravel())) > 1
    assert rep.verify.passed and not rep.verify.weak


@pytest.mark.parametrize("target, route", [("tf1.13", "onnx-tf-1.3.0-opset9"), ("tf1.4", "onnx-tf-1.1.2-opset7")])
def test_a_gru_tagger_written_at_opset_14_reaches_the_legacy_converters(tmp_path, target, route):
    """The stacks' onnx has no adapter for Add from 14: the ops whose opset-14 forms only added types go
    round the version converter (stages/_opset_down.py), and the GRU is unrolled for the old onnx-tf."""
    from test_opset_down import _gru14
    _, rep = pipeline_on_onnx(tmp_path, _gru14(2), "gru14", target, "--route", route)
    assert rep.verify.passed and not rep.verify.weak and rep.opset < 14


@pytest.mark.parametrize("target, env", [("tf1.4", "tf14"), ("tf1.13", "tf113"), ("tf1.15", "tf115")])
def test_a_gru_tagger_with_a_dynamic_batch_verifies_and_stays_dynamic(tmp_path, target, env):
    """torch 2.5's GRU tagger at opset 14 with a dynamic batch, from a plain config (the route is the
    tool's pick): the GRU is unrolled with its zero state tiled by the input's batch, and the published
    graph takes another batch than the example's with ONNX's numbers (the reference evaluator's) —
    but in TF 1.4, whose onnx-tf 1.1.2 cannot take a symbolic batch (the batch is made static there)."""
    import subprocess

    import numpy as np
    from onnx.reference import ReferenceEvaluator
    from test_opset_down import _gru14

    from torch2tf.envs import store
    from torch2tf.settings import Settings
    model = _gru14("batch")
    _, rep = pipeline_on_onnx(tmp_path, model, "gru14dyn", target)
    assert rep.verify.passed and not rep.verify.weak
    batch = 1 if target == "tf1.4" else 3
    x = np.random.RandomState(3).randn(7, batch, 4).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = ("import numpy as np, tensorflow as tf; tf1 = getattr(tf, 'compat', tf); tf1 = getattr(tf1, 'v1', tf)\n"
              "gd = tf1.GraphDef(); gd.ParseFromString(open(%r, 'rb').read())\n"
              "g = tf1.Graph()\nwith g.as_default(): tf1.import_graph_def(gd, name='')\n"
              "np.save(%r, tf1.Session(graph=g).run('y:0', {'x:0': np.load(%r)}))\n"
              % (str(tmp_path / "a" / "gru14dyn" / "model.pb"), str(tmp_path / "y.npy"), str(tmp_path / "x.npy")))
    python = store.get(env, Settings()).python
    out = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = np.load(tmp_path / "y.npy")
    assert got.shape == (batch, 5) and np.abs(got - expected).max() < 1e-4


@pytest.mark.parametrize("target", ["tf1.4", "tf1.13", "tf1.15"])
def test_a_2018_file_at_opset_6_verifies_with_references_from_the_raised_file(tmp_path, target):
    """torch 0.4 / onnx 1.2 wrote BatchNormalization-6, Gemm-6 and Add-6, which onnxruntime has no kernels for:
    the references come from the file raised by onnx's version converter, and the summary says so."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(0)
    inits = [numpy_helper.from_array(v, n) for n, v in (
        ("scale", rng.rand(3).astype(np.float32) + 0.5), ("bias", rng.randn(3).astype(np.float32)),
        ("mean", rng.randn(3).astype(np.float32)), ("var", rng.rand(3).astype(np.float32) + 0.5),
        ("w", rng.randn(4, 48).astype(np.float32)), ("b", rng.randn(4).astype(np.float32)),
        ("shape", np.array([1, 48], np.int64)))]
    nodes = [helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["bn"], is_test=1,
                              epsilon=1e-5),
             helper.make_node("Relu", ["bn"], ["r"]), helper.make_node("Reshape", ["r", "shape"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w", "b"], ["g"], transB=1, broadcast=1),
             # torch 0.4 wrote a constant as a Constant node (no inputs): addconstant's Add-6
             helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
             helper.make_node("Add", ["g", "one"], ["y"], broadcast=1)]
    graph = helper.make_graph(nodes, "old", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)])
    model.ir_version = 3
    model.graph.input.extend([helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits])
    out, rep = pipeline_on_onnx(tmp_path, model, "old", target, inputs="[{name: x, shape: [1, 3, 4, 4]}]")
    assert rep.verify.passed and not rep.verify.weak
    assert "raised from opset 6 to 7" in rep.references and "raised from opset 6" in out.stdout
