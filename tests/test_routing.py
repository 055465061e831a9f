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


def order(settings) -> list[str]:
    return [r.name for r, _ in routing.rank(COMPAT, CFG, "tf1.13", settings)]


def test_nothing_measured_keeps_the_declared_order(settings):
    ranked = routing.rank(COMPAT, CFG, "tf1.13", settings)
    assert [r.name for r, _ in ranked] == [R9, R10, ONNX2TF, TF2] and "nothing measured" in ranked[0][1]


def test_passed_for_this_model_first_then_pass_rate_then_latency(settings):
    write(settings.root / routing.SHIPPED, [
        cell(R9, ME, "passed", 112), cell(ONNX2TF, ME, "passed", 92), cell(TF2, ME, "failed"),
        cell(R9, "other", "passed", 120), cell(ONNX2TF, "other", "passed", 95), cell(TF2, "other", "passed", 90),
        cell(R10, "other", "passed", 80)])
    ranked = routing.rank(COMPAT, CFG, "tf1.13", settings)
    # R9 and ONNX2TF passed for this model at the same rate (2/2): the faster first; R10 unmeasured
    # for it comes next; TF2 failed for it, last, whatever its speed elsewhere
    assert [r.name for r, _ in ranked] == [ONNX2TF, R9, R10, TF2]
    assert "passed for this model; passed 2/2 matrix models, x0.94" in ranked[0][1]
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
