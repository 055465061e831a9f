"""Modern converters for legacy runtimes, for real: onnx2tf (TF 2.20) -> TF 1.4.1 and onnx-tf 1.10
(TF 2.15) -> TF 1.13.1 through the downgrade stage; SavedModel and TFLite packages verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_invoke

from torch2tf.run.report import Report, Status

pytestmark = pytest.mark.stack


def run(artifacts_env, *args) -> dict:
    out = run_invoke("pipeline", *args, env_overrides=artifacts_env)
    print(out.stdout[-4000:], out.stderr[-3000:])
    assert out.returncode == 0, out.stderr
    cfg_name = "resnet18-serving" if "configs/resnet18-serving.yaml" in args else "resnet18"
    return Report.load(Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / cfg_name / "report.json")


@pytest.mark.parametrize("target, route, tf_version, renamed", [
    ("tf1.4", "onnx2tf-downgrade", "1.4.1", "AddV2->Add"),
    ("tf1.13", "onnx-tf-1.10-downgrade", "1.13.1", None),
])
def test_modern_converter_downgraded_and_verified(artifacts_env, target, route, tf_version, renamed):
    rep = run(artifacts_env, "--config", "configs/resnet18.yaml", "--target", target, "--route", route)
    assert rep.route == route and rep.verify.versions["tensorflow"] == tf_version
    assert rep.verify.passed and rep.verify.max_abs_diff <= 1e-4
    assert rep.downgrade["target_tensorflow"] == tf_version
    assert rep.downgrade["dropped_attrs"].get("explicit_paddings", 0) > 0
    if renamed:
        assert rep.downgrade["renamed"].get(renamed, 0) > 0
    assert "AddV2" not in rep.graph["ops"] or tf_version != "1.4.1"
    [row] = [r for r in rep.latency() if r["artifact"] == "model.pb"]
    assert row["latency_ms"] > 0 and row["vs_pytorch"] > 0 and row["transposes"] == rep.graph["transposes"]
    folder = Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / "resnet18"
    assert (folder / "model.pb").is_file() and (folder / "model.converted.pb").is_file()


@pytest.mark.parametrize("target, tf_version", [("tf1.15", "1.15.5"), ("tf2.15", "2.15.1")])
def test_all_three_formats_each_verified(artifacts_env, target, tf_version):
    rep = run(artifacts_env, "--config", "configs/resnet18-serving.yaml", "--target", target)
    assert rep.verify.passed
    assert {v.artifact for v in rep.verifications} == {"model.onnx", "model.pb", "saved_model", "model.tflite"}
    saved = rep.verification("saved_model")
    assert saved.versions["tensorflow"] == tf_version and saved.passed and rep.verification("model.tflite").passed
    assert all(v.max_abs_diff <= 1e-4 for v in rep.verifications)
    # the converter's own graph is published beside model.pb only by a route that downgrades it
    assert ("model.converted.pb" in rep.artifacts) == rep.route.endswith("-downgrade")
    folder = Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / "resnet18-serving"
    assert (folder / "model.pb").is_file() and (folder / "model.tflite").stat().st_size > 1_000_000
    assert (folder / "saved_model" / "saved_model.pb").is_file()
    assert {r["artifact"] for r in rep.latency()} >= {"model.pb", "saved_model", "model.tflite"}
    info = json.loads(run_invoke("inspect", str(folder / "saved_model"), "--json", "--env",
                                 "tf115" if target == "tf1.15" else "tf2").stdout)
    assert info["format"] == "saved_model" and info["inputs"][0]["name"].startswith("input")
    info = json.loads(run_invoke("inspect", str(folder / "model.tflite"), "--json").stdout)
    assert info["format"] == "tflite" and info["outputs"]


def test_tflite_target_both_routes_on_an_upsampling_net(artifacts_env):
    """tflite as a deploy target: onnx2tf's .tflite runs in ai-edge-litert with the NCHW input kept
    and the channels-last output told apart; onnx-tf 1.10 cannot take the bilinear Resize."""
    args = ("--config", "configs/matrix/segnet.yaml", "--target", "tflite")
    out = run_invoke("pipeline", *args, "--route", "onnx2tf-opset11", env_overrides=artifacts_env)
    assert out.returncode == 0, out.stderr
    folder = Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / "m-segnet"
    rep = Report.load(folder / "report.json")
    assert rep.primary == "model.tflite" and (folder / "model.tflite").is_file()
    assert not (folder / "model.pb").exists()
    [mask] = rep.verify.outputs
    assert rep.verify.passed and mask["layout"] == "channels_last" and mask["max_abs_diff"] < 1e-4
    assert rep.graph["format"] == "tflite"

    out = run_invoke("pipeline", *args, "--route", "onnx-tf-1.10-tfliteconverter", env_overrides=artifacts_env)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "pytorch_half_pixel" in out.stderr and "onnx2tf route" in out.stderr
    rep = Report.load(folder / "report.json")
    assert rep.status is Status.FAILED and rep.last_good["route"] == "onnx2tf-opset11"
    assert (folder / "model.tflite").is_file()      # the last good artifact stays


@pytest.mark.parametrize("config, target, tf_version", [
    ("configs/two_inputs.yaml", "tf1.13", "1.13.1"),        # a 2D input beside the image: AssertionError before
    ("configs/gru_tagger.yaml", "tf1.4", "1.4.1"),          # its GRU as a TF 2 while loop did not load in TF 1.x
    ("configs/modern/regnet_y_400mf.yaml", "tf1.15", "1.15.5"),   # grouped convs TF 1.x has no form for
])
def test_onnx2tf_writes_forms_the_legacy_runtime_loads(artifacts_env, config, target, tf_version):
    out = run_invoke("pipeline", "--config", config, "--target", target, "--route", "onnx2tf-downgrade",
                     env_overrides=artifacts_env)
    print(out.stdout[-4000:], out.stderr[-3000:])
    assert out.returncode == 0, out.stderr
    name = Path(config).stem
    rep = Report.load(Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / name / "report.json")
    assert rep.route == "onnx2tf-downgrade" and rep.verify.versions["tensorflow"] == tf_version
    assert rep.verify.passed and not rep.verify.weak and rep.verify.max_abs_diff <= 1e-4
    assert not {"TensorListGetItem", "While", "StatelessWhile"} & set(rep.graph["ops"])
