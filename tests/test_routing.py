"""Route ranking from measurements (shipped + local), with a fake compat of three routes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torch2tf import routing
from torch2tf.configs.compat import load_compat
from torch2tf.configs.config import load_config
from torch2tf.configs.identity import model_digest
from torch2tf.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPAT = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")
CFG = load_config(ROOT / "configs" / "resnet18.yaml")
ME = model_digest(CFG)
R9, R10, ONNX2TF, TF2 = (r.name for r in COMPAT.routes("tf1.13"))


def cell(route, digest, status, latency=None, torch=100.0, target="tf1.13"):
    return {"target": target, "route": route, "model_digest": digest, "status": status,
            "latency_ms": latency, "pytorch_latency_ms": torch}


@pytest.fixture
def settings(tmp_path) -> Settings:
    (tmp_path / "docs").mkdir()
    return Settings(root=tmp_path, store=tmp_path / "store", artifacts=tmp_path / "artifacts")


def write(path: Path, cells) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells}))


def rank_of(settings, model_ops=None, cfg=CFG):
    return routing.candidates(COMPAT, cfg, "tf1.13", None, settings, model_ops)


def order(settings, model_ops=None) -> list[str]:
    return [r.name for r, _ in rank_of(settings, model_ops)]


def test_nothing_measured_keeps_the_declared_order(settings):
    ranked = rank_of(settings)
    assert [r.name for r, _ in ranked] == [R9, R10, ONNX2TF, TF2] and "nothing measured" in ranked[0][1]


def test_passed_for_this_model_first_then_pass_rate_then_latency(settings):
    write(settings.root / routing.SHIPPED, [
        cell(R9, ME, "passed", 112), cell(ONNX2TF, ME, "passed", 92), cell(TF2, ME, "failed"),
        cell(R9, "other", "passed", 120), cell(ONNX2TF, "other", "passed", 95), cell(TF2, "other", "passed", 90),
        cell(R10, "other", "passed", 80)])
    ranked = rank_of(settings)
    # R9 and ONNX2TF passed for this model: the faster for it first; R10 unmeasured for it comes next;
    # TF2 failed for it, last, whatever its speed elsewhere
    assert [r.name for r, _ in ranked] == [ONNX2TF, R9, R10, TF2]
    assert "passed for this model; passed 100% of 2 matrix models, x0.92" in ranked[0][1]
    assert ranked[3][1].startswith("rank 4 of 4: failed for this model")


def test_an_unmeasured_model_goes_by_pass_rate(settings):
    write(settings.root / routing.SHIPPED, [cell(R9, "x", "failed"), cell(R9, "y", "passed", 100),
                                            cell(ONNX2TF, "x", "passed", 100), cell(ONNX2TF, "y", "passed", 100)])
    assert order(settings)[:2] == [ONNX2TF, R9]


def test_local_results_override_the_shipped_ones(settings):
    write(settings.root / routing.SHIPPED, [cell(R9, ME, "passed", 100), cell(ONNX2TF, ME, "failed")])
    assert order(settings)[0] == R9
    write(settings.matrix_dir / "results.json", [cell(ONNX2TF, ME, "passed", 50)])
    assert order(settings)[0] == ONNX2TF


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", ""])
def test_damaged_results_are_a_warning_never_a_traceback(settings, content):
    (settings.matrix_dir).mkdir(parents=True)
    (settings.matrix_dir / "results.json").write_text(content)
    with pytest.warns(UserWarning, match="ignoring damaged matrix results"):
        assert order(settings) == [R9, R10, ONNX2TF, TF2]


def test_a_forced_route_is_the_only_candidate(settings):
    [(route, why)] = routing.candidates(COMPAT, CFG, "tf1.13", ONNX2TF, settings)
    assert route.name == ONNX2TF and "forced" in why


def test_matrix_results_merge_into_the_shipped_measurements(settings):
    from torch2tf.matrix.results import ship_measurements
    write(settings.root / routing.SHIPPED, [{**cell(R9, "other", "passed", 90), "model": "o"},
                                            {**cell(R9, ME, "failed"), "model": "r"}])
    path = ship_measurements(settings, {"cells": [{**cell(R9, ME, "passed", 80), "model": "r", "message": "x" * 500}]})
    shipped = {(c["model_digest"], c["route"]): c for c in routing.cells_in(path)}
    assert shipped[(ME, R9)]["status"] == "passed" and shipped[(ME, R9)]["message"] == "x" * 200
    assert shipped[("other", R9)]["latency_ms"] == 90 and len(shipped) == 2
    # the same matrix model redefined (a new digest): its old cells go, or it would count twice
    path = ship_measurements(settings, {"cells": [{**cell(R9, "new", "passed", 70), "model": "r"}]})
    shipped = {(c["model_digest"], c["route"]): c for c in routing.cells_in(path)}
    assert (ME, R9) not in shipped and shipped[("new", R9)]["latency_ms"] == 70 and len(shipped) == 2


def test_a_measurement_of_a_changed_route_definition_is_ignored(settings):
    route = COMPAT.route("tf1.13", ONNX2TF)
    write(settings.root / routing.SHIPPED, [{**cell(ONNX2TF, ME, "passed", 50), "route_digest": "old"},
                                            {**cell(R10, ME, "passed", 90), "route_digest": COMPAT.route("tf1.13", R10).digest}])
    assert route.digest != "old" and order(settings)[0] == R10


def test_models_like_this_one_decide_the_latency_and_unlike_ones_hardly_count(settings):
    """A depthwise net measured fast on R9 and an unlike one measured fast on ONNX2TF: a depthwise model
    goes by the depthwise net's numbers, a plain one by the other's."""
    depthwise = ["Conv", "Conv:depthwise", "Relu", "Add", "GlobalAveragePool", "Gemm"]
    plain = ["Conv", "Relu", "MaxPool", "Add", "GlobalAveragePool", "Gemm"]
    write(settings.root / routing.SHIPPED, [
        {**cell(R9, "dw", "passed", 300), "ops": depthwise}, {**cell(ONNX2TF, "dw", "passed", 90), "ops": depthwise},
        {**cell(R9, "pl", "passed", 80), "ops": plain}, {**cell(ONNX2TF, "pl", "passed", 100), "ops": plain}])
    assert order(settings, frozenset(depthwise))[0] == ONNX2TF
    assert order(settings, frozenset(plain))[0] == R9
    why = dict((r.name, w) for r, w in rank_of(settings, frozenset(plain)))
    assert "x0.80" in why[R9]


def test_a_route_that_fails_every_node_test_of_one_of_the_models_ops_is_not_tried_first(settings):
    write(settings.root / routing.SHIPPED, [cell(R9, "x", "passed", 50), cell(ONNX2TF, "x", "passed", 100)])
    conformance = {"after": {"targets": {"tf1.13": [R9, ONNX2TF]},
                             "tests": {"test_gru": {"ops": ["GRU"]}, "test_relu": {"ops": ["Relu"]}},
                             "cells": {"test_gru": [[0, 0, "RuntimeError", "convert", "linear_before_reset"], [1, 0]],
                                       "test_relu": [[1, 0], [1, 0]]}}}
    (settings.root / routing.CONFORMANCE).write_text(json.dumps(conformance))
    assert order(settings, frozenset({"Relu", "Gemm"}))[0] == R9           # faster, and nothing known against it
    ranked_gru = rank_of(settings, frozenset({"GRU", "Gemm"}))
    assert ranked_gru[0][0].name == ONNX2TF and order(settings, frozenset({"GRU"}))[-1] == R9
    assert "no node test of GRU passes on it" in dict((r.name, w) for r, w in ranked_gru)[R9]


def test_measurements_of_another_export_stack_count_for_a_stack_with_none(settings):
    """A torch 2 model on a machine whose matrix measured only torch 1.7 exports still ranks by them."""
    modern = load_config(ROOT / "configs" / "modern" / "swin_t.yaml")
    fast_tf2 = COMPAT.route("tf1.13", TF2)           # torch17's definition of the route
    write(settings.root / routing.SHIPPED, [{**cell(TF2, "x", "passed", 50), "route_digest": fast_tf2.digest},
                                            {**cell(R9, "x", "passed", 100),
                                             "route_digest": COMPAT.route("tf1.13", R9).digest}])
    names = [r.name for r, _ in routing.candidates(COMPAT, modern, "tf1.13", None, settings)]
    assert names[0] == TF2
