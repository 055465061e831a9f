"""A conversion that falls back to tf.py_func fails that route at convert, with the cause: the graph could
never be served (its callback lives in the converting process). Real onnx-tf 1.1.2 on TF 1.4.1, given a
padded MaxPool without adapt's explicit_pool_pads rewrite (the fallback adapt exists to avoid)."""

from __future__ import annotations

import json

import pytest

from torch2tf import proc
from torch2tf.envs import store as envs
from torch2tf.settings import Settings

from conftest import ROOT

pytestmark = pytest.mark.stack

MAKE_ONNX = """
import sys, onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 2, 7, 7])
y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 2, 4, 4])
pool = helper.make_node("MaxPool", ["input"], ["output"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
model = helper.make_model(helper.make_graph([pool], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 7)])
model.ir_version = 3
onnx.save(model, sys.argv[1])
"""


def test_a_py_func_graph_fails_at_convert_naming_the_nodes(tmp_path):
    settings = Settings()
    tool, tf14 = envs.get("torch17", settings), envs.get("tf14", settings)
    model = tmp_path / "padded_pool.onnx"
    made = proc.run([tool.python, "-c", MAKE_ONNX, model], env=tool.environ(), capture=True)
    assert made.returncode == 0, made.stderr
    out = tmp_path / "out"
    out.mkdir()
    request = {"stage": "convert", "inputs": {"model": str(model)}, "output_dir": str(out),
               "params": {"tool": "onnx-tf", "layout": "nchw", "inputs": ["input"], "outputs": ["output"]}}
    (tmp_path / "request.json").write_text(json.dumps(request))
    res = proc.run([tf14.python, ROOT / "stages" / "convert.py", tmp_path / "request.json"], env=tf14.environ(),
                   capture=True)
    result = json.loads((out / "result.json").read_text())
    assert res.returncode == 1 and result["status"] == "error"
    assert result["error"]["type"] == "UnservablePyFunc" and "PyFunc" in result["error"]["cause"]
    assert "another route" in result["error"]["hint"] and not (out / "model.pb").exists()
