"""`invoke conformance` without the stacks: reading a node-test suite, planning its chains from the
real compat.yaml, and the page written from results. The real run is tests/test_conformance_real.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from torch2tf.configs.compat import load_compat
from torch2tf.conformance import render
from torch2tf.conformance.run import SKIPPED, chains_for, check_without
from torch2tf.conformance.suite import find_suite, load_suite
from torch2tf.errors import ConfigError
from torch2tf.run.plan import From

ROOT = Path(__file__).resolve().parent.parent


def _node_test(root: Path, name: str, opset: int = 9, domain: str = "", sequence: bool = False) -> None:
    """A node test as the ONNX suite lays one out: model.onnx and test_data_set_0/*.pb."""
    d = root / name
    (d / "test_data_set_0").mkdir(parents=True)
    x_type = helper.make_value_info("x", helper.make_sequence_type_proto(
        helper.make_tensor_type_proto(TensorProto.FLOAT, [3]))) if sequence else \
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], domain=domain)], name, [x_type],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, opset)])
    model.ir_version = 4
    onnx.save(model, str(d / "model.onnx"))
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    (d / "test_data_set_0" / "input_0.pb").write_bytes(numpy_helper.from_array(x).SerializeToString())
    (d / "test_data_set_0" / "output_0.pb").write_bytes(numpy_helper.from_array(np.maximum(x, 0)).SerializeToString())


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    root = tmp_path / "node"
    _node_test(root, "test_relu")
    _node_test(root, "test_relu_new", opset=13)
    _node_test(root, "test_training", domain="ai.onnx.preview.training")
    _node_test(root, "test_sequence", sequence=True)
    return root


def test_the_suite_is_read_with_its_tensors_as_npy_and_filtered(suite, tmp_path):
    tests = load_suite([suite], tmp_path / "data")
    assert [t.name for t in tests] == ["test_relu", "test_sequence"]      # opset 13 and training ops left out
    relu = tests[0]
    assert relu.opset == 9 and relu.ops == ("Relu",) and not relu.problem
    assert np.load(dict(relu.outputs)["y"]).tolist() == [[0, 2, 0], [4, 0, 6]]
    assert "sequence" in tests[1].problem
    assert [t.name for t in load_suite([suite], tmp_path / "data", max_opset=13)][:2] == ["test_relu", "test_relu_new"]
    assert [t.name for t in load_suite([suite], tmp_path / "data", "test_relu*")] == ["test_relu"]
    with pytest.raises(ConfigError, match="no node test"):
        load_suite([suite], tmp_path / "data", "test_gru_*")


def test_a_missing_suite_says_which_env_to_rebuild(tmp_path):
    with pytest.raises(ConfigError) as info:
        find_suite(tmp_path)
    assert "invoke env.build --name torch17" in info.value.hint


def test_every_route_of_the_legacy_targets_gets_the_pipeline_steps_fed_by_the_test(suite, tmp_path):
    compat = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")
    tests = load_suite([suite], tmp_path / "data")
    chains = chains_for(tests, ["tf1.4", "tf1.13", "tf1.15"], compat, set(), (), set())
    routes = sum(len(compat.routes(t)) for t in ("tf1.4", "tf1.13", "tf1.15"))
    assert len(chains) == 2 * routes
    relu = [c for c in chains if c.cell.test == "test_relu"]
    for chain in relu:
        labels = [s.label for s in chain.steps]
        assert labels[-1] == "verify" and not set(labels) & SKIPPED
        verify = chain.steps[-1]
        assert verify.inputs["ref.y"] == From("import", "ref.y") and chain.sources["ref.y"].name == "output.y.npy"
        assert verify.params["atol"] == 1e-7
    legacy = next(c for c in relu if c.cell.route == "onnx-tf-1.1.2-opset7")
    assert [s.label for s in legacy.steps] == ["opset", "adapt", "convert", "optimize", "verify"]
    assert legacy.steps[0].params["opset"] == 7      # the version converter: 9 -> 7 for onnx-tf 1.1.2
    sequence = [c for c in chains if c.cell.test == "test_sequence"]
    assert all(c.cell.error_class == "NotFeedable" and not c.steps for c in sequence)


def test_without_leaves_the_named_rewrites_and_lowerings_out(suite, tmp_path):
    compat = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")
    tests = load_suite([suite], tmp_path / "data", "test_relu")
    rewrites = {"unroll_gru", "unroll_lstm"}
    chains = chains_for(tests, ["tf1.4"], compat, set(), ("unroll_gru", "Fill"), rewrites)
    adapt = next(s for c in chains for s in c.steps if s.label == "adapt")
    assert "unroll_gru" not in adapt.params and adapt.params.get("unroll_lstm")
    downgrade = next(s for c in chains for s in c.steps if s.stage == "downgrade")
    assert downgrade.params["without"] == ["Fill"]
    opset = next(s for c in chains for s in c.steps if s.label == "opset")
    assert opset.params["without"] == ["Fill"] and "without" not in adapt.params
    with pytest.raises(ConfigError, match="neither"):
        check_without(("fold_everything",), rewrites)


def _results(cells, without=()):
    return {"suite": {"source": "onnx 1.8.1 wheel in torch17", "tests": 3, "max_opset": 11, "pattern": ""},
            "targets": {"tf1.4": ["onnx-tf-1.1.2-opset7", "onnx2tf-downgrade"]},
            "tolerance": {"atol": 1e-7, "rtol": 1e-3},
            "without": list(without), "seconds": 60.0, "jobs": 2,
            "tests": {"test_relu": {"opset": 9, "ops": ["Relu"]}, "test_gru": {"opset": 9, "ops": ["GRU"]},
                      "test_zeros": {"opset": 9, "ops": ["ConstantOfShape"]}},
            "cells": cells}


def _cell(test, route, passed, cls="", cause="", weak=False, step="convert"):
    return {"test": test, "target": "tf1.4", "route": route, "passed": passed, "error_class": cls, "cause": cause,
            "weak": weak, "step": "" if passed else step}


def test_the_page_gives_totals_best_routes_and_every_failure_with_its_reason():
    after = _results([_cell("test_relu", "onnx-tf-1.1.2-opset7", True), _cell("test_relu", "onnx2tf-downgrade", True),
                      _cell("test_gru", "onnx-tf-1.1.2-opset7", False, "NotImplementedError",
                            "GRU op | not implemented"),
                      _cell("test_gru", "onnx2tf-downgrade", False, "TypeError", "\x1b[31mNone\x1b[0m", step="config"),
                      _cell("test_zeros", "onnx-tf-1.1.2-opset7", False, "OpsetConversionError", "no adapter"),
                      _cell("test_zeros", "onnx2tf-downgrade", True, weak=True)])
    before = _results([_cell("test_relu", "onnx-tf-1.1.2-opset7", True),
                       _cell("test_zeros", "onnx2tf-downgrade", False, "NotFound", "Fill")], without=["Fill"])
    page = render.render(render.compact(after), render.compact(before))
    assert "| tf1.4 | 1/3 | **2/3** |" in page and page.split("| tf1.4 | 1/3 | **2/3** |")[1].split("\n")[0].endswith(
        " test_zeros |")                                                              # before / after / gained
    assert "| tf1.4 | onnx-tf-1.1.2-opset7 | **1**/3 | 1 | 0 | 2 |" in page
    assert "| tf1.4 | onnx2tf-downgrade | **2**/3 | 0 | 1 | 1 | TypeError 1 |" in page
    assert "| GRU | 1 | none 0/1 |" in page and "| Relu | 1 | 1.1.2-opset7 1/1 |" in page
    gru_row = next(line for line in page.splitlines() if line.startswith("| test_gru |"))
    assert "**no route**" in gru_row and "GRU op \\| not implemented" in gru_row and "\x1b" not in gru_row
    assert "onnx2tf-dg (weak)" in page
    assert "**tf1.4: 1**" in page and "- test_gru [converters]: 1.1.2-opset7 at convert: NotImplementedError" in page


def test_docs_are_written_again_from_the_kept_json(tmp_path):
    after = _results([_cell("test_relu", "onnx-tf-1.1.2-opset7", True)])
    render.write_docs(tmp_path, after, None)
    first = (tmp_path / "CONFORMANCE.md").read_text()
    (tmp_path / "CONFORMANCE.md").unlink()
    render.write_docs(tmp_path, None, None)
    assert (tmp_path / "CONFORMANCE.md").read_text() == first
    with pytest.raises(ConfigError, match="no conformance results"):
        render.write_docs(tmp_path / "empty", None, None)


@pytest.mark.parametrize("kwargs, message", [
    ({"targets": ["tf9.9"]}, "unknown target"),
    ({"routes": ["onnx-tf-9"]}, "no route"),
    ({"without": ["fold_everything"]}, "neither an adapt rewrite"),
])
def test_bad_flags_are_refused_before_anything_is_built(tmp_path, kwargs, message):
    from torch2tf.conformance.command import run_conformance
    from torch2tf.settings import Settings
    with pytest.raises(ConfigError, match=message):
        run_conformance(Settings(store=tmp_path / "empty-store"), echo=lambda line: None, **kwargs)
    assert not (tmp_path / "empty-store").exists()


def test_a_miss_is_the_runtimes_the_suites_or_the_converters():
    from torch2tf.conformance.render import miss_kind
    lacks = {"error_class": "UnsupportedInTarget", "step": "downgrade",
             "cause": "the graph cannot be expressed in TensorFlow 1.4.1: ops ['LeftShift', 'RightShift']; nodes: ..."}
    strings = {"error_class": "NotFeedable", "step": "suite", "cause": "input_0.pb holds strings"}
    other = {"error_class": "Mismatch", "step": "verify", "cause": "max abs diff 2"}
    assert miss_kind([other, lacks]) == ("runtime", "LeftShift, RightShift")
    assert miss_kind([strings, other])[0] == "suite"
    assert miss_kind([other]) == ("converters", "")


def test_opset_13s_axes_fed_as_inputs_become_the_tests_constants(tmp_path):
    """A node test feeds Squeeze-13's axes as a graph input; a real model holds them as a constant, which
    the version converter needs: the suite folds the test's own value into an initializer."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from torch2tf.conformance.suite import read_test
    test = tmp_path / "test_squeeze"
    (test / "test_data_set_0").mkdir(parents=True)
    graph = helper.make_graph([helper.make_node("Squeeze", ["x", "axes"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3]),
                               helper.make_tensor_value_info("axes", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(test / "model.onnx"))
    for i, (name, value) in enumerate((("x", np.ones((1, 3), np.float32)), ("axes", np.array([0], np.int64)))):
        (test / "test_data_set_0" / f"input_{i}.pb").write_bytes(numpy_helper.from_array(value, name).SerializeToString())
    (test / "test_data_set_0" / "output_0.pb").write_bytes(numpy_helper.from_array(np.ones(3, np.float32), "y").SerializeToString())
    read = read_test(test, tmp_path / "data")
    assert [n for n, _ in read.inputs] == ["x"] and read.model != test / "model.onnx"
    folded = onnx.load(str(read.model))
    assert [i.name for i in folded.graph.input] == ["x"] and numpy_helper.to_array(folded.graph.initializer[0]).tolist() == [0]


def test_a_group_is_dealt_to_the_processes_so_a_run_of_costly_tests_is_shared():
    from torch2tf.conformance.run import MIN_CHUNK, _chunks
    items = [f"test_a{i}" for i in range(60)] + [f"test_sce_{i}" for i in range(40)]   # the costly ones last
    parts = _chunks(items, 2)
    assert sorted(sum(parts, [])) == sorted(items) and len(parts) == 2
    assert [sum(1 for t in p if "sce" in t) for p in parts] == [20, 20]
    assert _chunks(items[:MIN_CHUNK], 2) == [items[:MIN_CHUNK]]     # never below MIN_CHUNK a process


@pytest.mark.parametrize("ratio, training, random", [(0.75, True, True), (0.0, True, False), (0.5, False, False)])
def test_a_training_dropouts_random_reference_is_the_suites_miss(tmp_path, ratio, training, random):
    """test_training_dropout's expected output is numpy's random mask: no runtime draws the same one, so
    it is the suite's miss, not the converters'; a zero ratio or inference mode stays a real test."""
    from torch2tf.conformance.render import miss_kind
    from torch2tf.conformance.suite import read_test
    test = tmp_path / "test_training_dropout"
    (test / "test_data_set_0").mkdir(parents=True)
    graph = helper.make_graph([helper.make_node("Dropout", ["x", "r", "t"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                               helper.make_tensor_value_info("r", TensorProto.FLOAT, []),
                               helper.make_tensor_value_info("t", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]), str(test / "model.onnx"))
    for i, value in enumerate((np.ones((2, 3), np.float32), np.array(ratio, np.float32), np.array(training))):
        (test / "test_data_set_0" / f"input_{i}.pb").write_bytes(numpy_helper.from_array(value).SerializeToString())
    (test / "test_data_set_0" / "output_0.pb").write_bytes(numpy_helper.from_array(np.ones((2, 3), np.float32))
                                                           .SerializeToString())
    read = read_test(test, tmp_path / "data")
    assert bool(read.problem) == random and (read.problem_class == "RandomReference") == random
    if random:
        cell = {"error_class": read.problem_class, "step": "suite", "cause": read.problem}
        assert miss_kind([cell])[0] == "suite" and "ratio 0.75" in read.problem
