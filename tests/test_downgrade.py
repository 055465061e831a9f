"""The downgrade stage on small hand-built GraphDefs, with the real op registries of TF 2.15 (source)
and TF 1.4.1 (target), and the result loaded and run in the real TF 1.4.1."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from torch2tf import proc
from torch2tf.envs import store as envs
from torch2tf.errors import StageError
from torch2tf.run.stagerun import StageRunner
from torch2tf.settings import Settings

pytestmark = pytest.mark.stack

SETTINGS = Settings()

PLACEHOLDER = """
node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } }
       attr { key: "shape" value { shape { dim { size: 1 } dim { size: 4 } dim { size: 4 } dim { size: 1 } } } } }
node { name: "one" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
       attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 1.0 } } } }
node { name: "w" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
       attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 1 } dim { size: 1 } dim { size: 1 } dim { size: 1 } } float_val: 2.0 } } } }
"""
ADDV2 = 'node { name: "y" op: "AddV2" input: "x" input: "one" attr { key: "T" value { type: DT_FLOAT } } }'
CONV = """node { name: "conv" op: "Conv2D" input: "x" input: "w" attr { key: "T" value { type: DT_FLOAT } }
  attr { key: "strides" value { list { i: 1 i: 1 i: 1 i: 1 } } } attr { key: "padding" value { s: "%s" } }
  attr { key: "explicit_paddings" value { list { %s } } } attr { key: "data_format" value { s: "NHWC" } }
  attr { key: "use_cudnn_on_gpu" value { b: true } } attr { key: "dilations" value { list { i: 1 i: 1 i: 1 i: 1 } } } }"""
EINSUM = """node { name: "e" op: "Einsum" input: "x" input: "x" attr { key: "T" value { type: DT_FLOAT } }
  attr { key: "N" value { i: 2 } } attr { key: "equation" value { s: "abcd,abcd->a" } } }"""


PAD_INT64 = """
node { name: "p0" op: "Const" attr { key: "dtype" value { type: DT_INT64 } }
       attr { key: "value" value { tensor { dtype: DT_INT64 tensor_shape { dim { size: 4 } dim { size: 2 } }
              int64_val: 0 int64_val: 0 int64_val: 1 int64_val: 1 int64_val: 1 int64_val: 1 int64_val: 0 int64_val: 0 } } } }
node { name: "p" op: "Identity" input: "p0" attr { key: "T" value { type: DT_INT64 } } }
node { name: "zero" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
       attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 0.0 } } } }
node { name: "padded" op: "PadV2" input: "x" input: "p" input: "zero" attr { key: "T" value { type: DT_FLOAT } }
       attr { key: "Tpaddings" value { type: DT_INT64 } } }
"""


def make_pb(tmp_path: Path, text: str, name: str) -> Path:
    """Serialize a text GraphDef with the TF 2.15 env's protos (as a TF 2 converter would write it)."""
    pbtxt = tmp_path / f"{name}.pbtxt"
    pbtxt.write_text(textwrap.dedent(text))
    out = tmp_path / f"{name}.pb"
    tf2 = envs.get("tf2", SETTINGS)
    code = ("import sys, tensorflow as tf; from google.protobuf import text_format; "
            "gd = text_format.Parse(open(sys.argv[1]).read(), tf.compat.v1.GraphDef()); "
            "open(sys.argv[2], 'wb').write(gd.SerializeToString())")
    res = proc.run([tf2.python, "-c", code, pbtxt, out], env=tf2.environ(), capture=True)
    assert res.returncode == 0, res.stderr
    return out


def downgrade(pb: Path):
    runner = StageRunner(SETTINGS)
    source = runner.run("opregistry", "tf2", {}, {}).outputs["registry"]
    target = runner.run("opregistry", "tf14", {}, {}).outputs["registry"]
    return runner.run("downgrade", "tf14", {"graph": pb, "source_registry": source, "target_registry": target}, {})


def run_in_tf14(pb: Path, fetch: str) -> list:
    tf14 = envs.get("tf14", SETTINGS)
    code = ("import sys, json, numpy as np, tensorflow as tf; gd = tf.GraphDef(); gd.ParseFromString(open(sys.argv[1], 'rb').read()); "
            "tf.import_graph_def(gd, name=''); s = tf.Session(); "
            "print(json.dumps(s.run(sys.argv[2], {'x:0': np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)}).ravel().tolist()))")
    res = proc.run([tf14.python, "-c", code, pb, fetch], env=tf14.environ({"TF_CPP_MIN_LOG_LEVEL": "3"}), capture=True)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_registry_is_the_real_one():
    run = StageRunner(SETTINGS).run("opregistry", "tf14", {}, {})
    reg = json.loads(run.outputs["registry"].path.read_text())
    assert reg["tensorflow"] == "1.4.1" and "Add" in reg["ops"] and "AddV2" not in reg["ops"]
    assert "explicit_paddings" not in reg["ops"]["Conv2D"]["attrs"]


def test_renamed_op_runs_in_tf14(tmp_path):
    run = downgrade(make_pb(tmp_path, PLACEHOLDER + ADDV2, "addv2"))
    assert run.metrics["renamed"] == {"AddV2->Add": 1}
    assert run_in_tf14(run.outputs["graph"].path, "y:0") == [float(v + 1) for v in range(16)]


def test_default_attrs_are_dropped_and_graph_runs(tmp_path):
    run = downgrade(make_pb(tmp_path, PLACEHOLDER + CONV % ("SAME", ""), "conv"))
    assert run.metrics["dropped_attrs"].get("explicit_paddings") == 1
    assert run_in_tf14(run.outputs["graph"].path, "conv:0") == [float(2 * v) for v in range(16)]


def test_what_cannot_be_expressed_is_refused_with_nodes(tmp_path):
    pb = make_pb(tmp_path, PLACEHOLDER + CONV % ("EXPLICIT", "i: 0 i: 0 i: 1 i: 1 i: 1 i: 1 i: 0 i: 0") + EINSUM, "bad")
    with pytest.raises(StageError) as info:
        downgrade(pb)
    text = str(info.value)
    assert "cannot be expressed in TensorFlow 1.4.1" in text
    assert "e (op Einsum" in text and "conv (op Conv2D: attr explicit_paddings" in text
    assert info.value.error_class == "UnsupportedInTarget"


def test_int64_paddings_are_cast_for_tf1_kernels_and_nodes_put_after_their_inputs(tmp_path):
    """TF 2 converters compute paddings in int64; TF 1's Pad kernels abort on them (Check failed:
    dtype() == expected_dtype (9 vs. 3)). The added Cast must also precede the Pad for TF 1.4's importer."""
    import numpy as np
    run = downgrade(make_pb(tmp_path, PLACEHOLDER + PAD_INT64, "pad"))
    assert run.metrics["int64_paddings_cast"] == 1
    expected = np.pad(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
    assert run_in_tf14(run.outputs["graph"].path, "padded:0") == expected.ravel().tolist()


FILL_INT64 = """
node { name: "dims" op: "Const" attr { key: "dtype" value { type: DT_INT64 } }
       attr { key: "value" value { tensor { dtype: DT_INT64 tensor_shape { dim { size: 4 } }
              int64_val: 1 int64_val: 4 int64_val: 4 int64_val: 1 } } } }
node { name: "filled" op: "Fill" input: "dims" input: "one" attr { key: "T" value { type: DT_FLOAT } }
       attr { key: "index_type" value { type: DT_INT64 } } }
node { name: "z" op: "AddV2" input: "x" input: "filled" attr { key: "T" value { type: DT_FLOAT } } }
"""


def test_fill_with_int64_dims_is_lowered_for_tf14(tmp_path):
    """onnx-tf 1.10 writes ConstantOfShape as Fill with index_type int64, an attr TF 1.4's Fill lacks."""
    run = downgrade(make_pb(tmp_path, PLACEHOLDER + FILL_INT64, "fill"))
    assert run.metrics["renamed"].get("Fill(int64 dims)->Cast+Fill") == 1
    assert run_in_tf14(run.outputs["graph"].path, "z:0") == [float(v + 1) for v in range(16)]
