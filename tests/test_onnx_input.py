"""`model: {onnx: FILE}`: the file read on the host (names, shapes, dtypes, opset, IR), names TF cannot
carry mapped to safe ones, and every bad file refused with one clear error before anything runs."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from conftest import run_invoke
import numpy as np
from onnx import TensorProto, helper, numpy_helper

from torch2tf.configs.compat import load_compat
from torch2tf.configs.config import load_config
from torch2tf.configs.onnx_file import safe_name
from torch2tf.errors import ConfigError
from torch2tf.routing import export_stack

ROOT = Path(__file__).resolve().parent.parent
COMPAT = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")


def tiny(path: Path, *, inp="0", out="onnx::Relu_3", opset=11, ir=6, batch="N", domain="") -> Path:
    x = helper.make_tensor_value_info(inp, TensorProto.FLOAT, [batch, 4])
    y = helper.make_tensor_value_info(out, TensorProto.FLOAT, [batch, 4])
    node = helper.make_node("Relu", [inp], [out], domain=domain)
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=opsets)
    model.ir_version = ir
    onnx.save(model, str(path))
    return path


def config(tmp_path: Path, model: str = "m.onnx", extra: str = "") -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"name: c\nmodel: {{onnx: {model}}}\ntarget: tf1.13\n{extra}")
    return path


def test_names_tf_cannot_carry_become_safe_and_unique():
    assert safe_name("input.1", set()) == "input.1"
    assert safe_name("0", set()) == "t_0"
    assert safe_name("onnx::Conv_123", set()) == "onnx__Conv_123"
    assert safe_name("a/b:0", {"a_b_0"}) == "a_b_0_2"


def test_inputs_and_outputs_come_from_the_file(tmp_path):
    tiny(tmp_path / "m.onnx")
    cfg = load_config(config(tmp_path))
    assert [(i.name, i.shape, i.dtype, i.dynamic) for i in cfg.inputs] == [("t_0", (1, 4), "float32", {0: "N"})]
    assert cfg.outputs == ("onnx__Relu_3",)
    assert cfg.model.onnx.renamed == {"0": "t_0", "onnx::Relu_3": "onnx__Relu_3"}
    assert export_stack(COMPAT, cfg) == "torch17"          # onnx 1.8 / onnxruntime 1.8 read opset 11, IR 6


def test_a_config_may_set_a_symbolic_dim_by_either_name(tmp_path):
    tiny(tmp_path / "m.onnx")
    cfg = load_config(config(tmp_path, extra="inputs: [{name: '0', shape: [3, 4]}]\n"))
    assert cfg.inputs[0].shape == (3, 4) and cfg.inputs[0].name == "t_0"
    with pytest.raises(ConfigError, match=r"does not fit the file's \['N', 4\]"):
        load_config(config(tmp_path, extra="inputs: [{name: t_0, shape: [3, 5]}]\n"))
    with pytest.raises(ConfigError, match="no tensor 'x' there"):
        load_config(config(tmp_path, extra="outputs: [x]\n"))


def test_a_newer_file_is_taken_in_by_a_newer_stack(tmp_path):
    tiny(tmp_path / "m.onnx", opset=17, ir=8)
    assert export_stack(COMPAT, load_config(config(tmp_path))) == "torch113"
    tiny(tmp_path / "m.onnx", opset=20, ir=10)
    assert export_stack(COMPAT, load_config(config(tmp_path))) == "torch25"


def bad_cases(tmp_path: Path):
    good = tiny(tmp_path / "good.onnx").read_bytes()
    (tmp_path / "truncated.onnx").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.onnx").write_text("not a model at all\n")
    tiny(tmp_path / "opset23.onnx", opset=23, ir=10)
    tiny(tmp_path / "same.onnx", inp="x", out="x")
    tiny(tmp_path / "custom.onnx", domain="com.example")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    w = numpy_helper.from_array(np.ones((1, 4), np.float32), "w")      # raw data: what external data holds
    model = helper.make_model(helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w]),
                              opset_imports=[helper.make_opsetid("", 11)])
    onnx.save(model, str(tmp_path / "external.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="external.bin", size_threshold=0)
    (tmp_path / "external.bin").unlink()
    return [("truncated.onnx", "is not a readable ONNX file"), ("text.onnx", "is not a readable ONNX file"),
            ("opset23.onnx", "no env here reads an ONNX file of opset 23, IR 10"),
            ("same.onnx", "both an input and an output"), ("custom.onnx", "operator domains no converter"),
            ("external.onnx", "in external data file 'external.bin', which is not beside it"),
            ("missing.onnx", "ONNX file 'missing.onnx' does not exist")]


def test_every_bad_file_is_one_clear_error_and_nothing_is_written(tmp_path):
    for name, message in bad_cases(tmp_path):
        out = run_invoke("pipeline", "--config", str(config(tmp_path, name)),
                         env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "artifacts")}, timeout=120)
        assert out.returncode == 1 and "Traceback" not in out.stderr, (name, out.stderr)
        assert out.stderr.startswith("torch2tf: ") and message in out.stderr, (name, out.stderr)
        assert "[1/" not in out.stdout, f"a stage ran for {name}"
        assert not (tmp_path / "artifacts").exists() or not any((tmp_path / "artifacts").iterdir())


def test_opset_is_refused_for_an_onnx_model(tmp_path):
    tiny(tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="an .onnx model is taken at its own"):
        load_config(config(tmp_path, extra="opset: 9\n"))


def test_each_route_gets_the_file_at_an_opset_its_converter_reads(tmp_path):
    """A legacy converter reads its route's opset only; a modern one takes a newer file down only to
    the highest opset its stack reads (each step down is one more adapter the converter may lack)."""
    from torch2tf.run.plan import build_plan
    tiny(tmp_path / "m.onnx", opset=18, ir=8)
    cfg = load_config(config(tmp_path))
    stack = export_stack(COMPAT, cfg)

    def opset_step(target, route):
        plan = build_plan(cfg, target, COMPAT.route(target, route, stack), COMPAT)
        return next((s.params for s in plan.steps if s.label == "opset"), None), plan.opset
    assert opset_step("tf1.13", "onnx-tf-1.3.0-opset9") == ({"opset": 9}, 9)
    assert opset_step("tf1.13", "onnx-tf-1.10-downgrade") == ({"opset": 16}, 16)      # tf2's onnx-tf reads <= 16
    assert opset_step("tf1.13", "onnx2tf-downgrade") == (None, 18)
