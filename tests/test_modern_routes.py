"""Modern converters for legacy runtimes, for real: onnx2tf (TF 2.20) -> TF 1.4.1 and onnx-tf 1.10
(TF 2.15) -> TF 1.13.1 through the downgrade stage; SavedModel and TFLite packages verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_invoke

pytestmark = pytest.mark.stack


def run(artifacts_env, *args) -> dict:
    out = run_invoke("pipeline", *args, env_overrides=artifacts_env)
    print(out.stdout[-4000:], out.stderr[-3000:])
    assert out.returncode == 0, out.stderr
    cfg_name = "resnet18-serving" if "configs/resnet18-serving.yaml" in args else "resnet18"
    return json.loads((Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / cfg_name / "report.json").read_text())


@pytest.mark.parametrize("target, route, tf_version, renamed", [
    ("tf1.4", "onnx2tf-downgrade", "1.4.1", "AddV2->Add"),
    ("tf1.13", "onnx-tf-1.10-downgrade", "1.13.1", None),
])
def test_modern_converter_downgraded_and_verified(artifacts_env, target, route, tf_version, renamed):
    rep = run(artifacts_env, "--config", "configs/resnet18.yaml", "--target", target, "--route", route)
    assert rep["route"] == route and rep["verify"]["tensorflow"] == tf_version
    assert rep["verify"]["passed"] and rep["verify"]["outputs"][0]["max_abs_diff"] <= 1e-4
    assert rep["downgrade"]["target_tensorflow"] == tf_version
    assert rep["downgrade"]["dropped_attrs"].get("explicit_paddings", 0) > 0
    if renamed:
        assert rep["downgrade"]["renamed"].get(renamed, 0) > 0
    assert "AddV2" not in rep["graph"]["ops"] or tf_version != "1.4.1"
    [row] = [r for r in rep["latency"] if r["artifact"] == "model.pb"]
    assert row["latency_ms"] > 0 and row["vs_pytorch"] > 0 and row["transposes"] == rep["graph"]["transposes"]
    folder = Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / "resnet18"
    assert (folder / "model.pb").is_file() and (folder / "model.converted.pb").is_file()


@pytest.mark.parametrize("target, tf_version", [("tf1.15", "1.15.5"), ("tf2.15", "2.15.1")])
def test_all_three_formats_each_verified(artifacts_env, target, tf_version):
    rep = run(artifacts_env, "--config", "configs/resnet18-serving.yaml", "--target", target)
    assert rep["verify"]["passed"]
    assert set(rep["packages"]) == {"saved_model", "tflite"}
    assert rep["packages"]["saved_model"]["tensorflow"] == tf_version and rep["packages"]["saved_model"]["passed"]
    assert rep["packages"]["tflite"]["passed"]
    assert all(o["max_abs_diff"] <= 1e-4 for p in rep["packages"].values() for o in p["outputs"])
    folder = Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / "resnet18-serving"
    assert (folder / "model.pb").is_file() and (folder / "model.tflite").stat().st_size > 1_000_000
    assert (folder / "saved_model" / "saved_model.pb").is_file()
    assert {r["artifact"] for r in rep["latency"]} >= {"model.pb", "saved_model", "tflite"}
    info = json.loads(run_invoke("inspect", str(folder / "saved_model"), "--json", "--env",
                                 "tf115" if target == "tf1.15" else "tf2").stdout)
    assert info["format"] == "saved_model" and info["inputs"][0]["name"].startswith("input")
    info = json.loads(run_invoke("inspect", str(folder / "model.tflite"), "--json").stdout)
    assert info["format"] == "tflite" and info["outputs"]
