"""Locating the first divergent node: the bisection on its own (a fake probe, the one seam), and for
real through onnx2tf and TF 1.13: resnet18 at a tolerance no float graph meets, and an fmod that
onnx2tf computes wrongly (found by the ONNX node tests)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import run_invoke

from torch2tf.run.locate import Node, Probe, search
from torch2tf.run.report import Report


def probes(count: int, first_bad: int, uncuttable=()):
    calls = []

    def probe_at(i):
        calls.append(i)
        if i in uncuttable:
            return None
        node = Node(index=i, name=f"n{i}", op="Op", tensor=f"t{i}", input_shapes=[], attributes={})
        return Probe(node=node, passed=i < first_bad, max_abs=0.0 if i < first_bad else 1.0, max_rel=0.0,
                     submodel=Path("x"))
    return probe_at, calls


@pytest.mark.parametrize("count, first_bad", [(49, 0), (49, 17), (122, 60), (122, 121), (2, 1)])
def test_the_bisection_finds_the_first_differing_node_in_log2_probes(count, first_bad):
    probe_at, calls = probes(count, first_bad)
    matched, first, exact = search(probe_at, count, probe_at(count - 1), lambda _: None)
    assert first.node.index == first_bad and exact
    assert (matched is None) == (first_bad == 0) and (matched is None or matched.node.index == first_bad - 1)
    assert len(calls) <= math.ceil(math.log2(count)) + 1


def test_a_point_that_cannot_be_cut_is_skipped_for_its_neighbour():
    probe_at, calls = probes(50, 20, uncuttable={24, 12, 18})
    said = []
    matched, first, exact = search(probe_at, 50, probe_at(49), said.append)
    assert first.node.index == 20 and exact and not said


def test_when_nothing_between_can_be_cut_it_stops_and_says_so():
    probe_at, _ = probes(10, 5, uncuttable=set(range(0, 9)))
    said = []
    matched, first, exact = search(probe_at, 10, probe_at(9), said.append)
    assert first.node.index == 9 and not exact and "can be cut; stopping there" in said[0]


@pytest.mark.stack
def test_resnet18_at_a_tolerance_no_float_graph_meets_is_located_to_its_first_conv(tmp_path):
    cfg = tmp_path / "tight.yaml"
    cfg.write_text("name: tight\nmodel: {factory: torchvision.models:resnet18}\n"
                   "inputs: [{name: input, shape: [1, 3, 32, 32]}]\noutputs: [output]\ntarget: tf1.13\n"
                   "route: onnx2tf-downgrade\ntolerance: {atol: 1.0e-9, rtol: 0}\n")
    out = run_invoke("pipeline", "--config", str(cfg), "--locate",
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")})
    print(out.stdout[-3000:], out.stderr[-2000:])
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "first divergent node: Conv_0 (Conv), node 1 of" in out.stdout
    block = Report.load(tmp_path / "a" / "tight" / "report.json").locate
    assert block["status"] == "found" and block["first_divergent"]["op"] == "Conv"
    assert block["first_divergent"]["max_abs_diff"] > 1e-9 and block["last_matching"] is None
    assert block["conversions"] <= math.ceil(math.log2(block["nodes"])) + 2
    assert Path(block["submodel"]).is_file() and Path(block["submodel"]).parent == tmp_path / "a" / "tight" / "locate"


@pytest.mark.stack
def test_a_wrong_numbers_failure_is_located_by_itself(tmp_path):
    """onnx2tf 1.28 computes fmod of mixed signs wrongly (the ONNX node test test_mod_mixed_sign_float32
    fails on it in docs/CONFORMANCE.md): behind an exact Add, the run fails and is located to the Mod."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    zero = numpy_helper.from_array(np.zeros([6], np.float32), "zero")
    graph = helper.make_graph([helper.make_node("Add", ["x", "zero"], ["shifted"], name="shift"),
                               helper.make_node("Mod", ["shifted", "y"], ["z"], name="fmod", fmod=1)], "fmod",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [6]) for n in ("x", "y")],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [6])], [zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    onnx.save(model, str(tmp_path / "fmod.onnx"))
    (tmp_path / "fmod.yaml").write_text(f"name: fmod\nmodel: {{onnx: {tmp_path / 'fmod.onnx'}}}\ntarget: tf1.13\n")
    out = run_invoke("pipeline", "--config", str(tmp_path / "fmod.yaml"), "--route", "onnx2tf-downgrade",
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")})
    print(out.stdout[-3000:], out.stderr[-2000:])
    assert out.returncode == 1 and "locate: bisecting" in out.stdout
    block = Report.load(tmp_path / "a" / "fmod" / "report.json").locate
    assert block["status"] == "found" and block["exact"]
    first, last = block["first_divergent"], block["last_matching"]
    assert first["op"] == "Mod" and first["name"] == "fmod" and first["max_abs_diff"] > 1e-3
    assert last is not None and last["name"] == "shift" and last["index"] < first["index"]
