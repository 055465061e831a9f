"""`invoke pipeline` for real: PyTorch 1.7.1 -> ONNX -> TensorFlow 1.4.1 / 1.13.1 / 1.15.5, verified there.

Artifacts go to a temp dir; envs and the stage cache are the shared store's (built once).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import run_invoke

from torch2tf import proc
from torch2tf.digests import file_digest
from torch2tf.envs import store as envs
from torch2tf.run.report import Report, Status
from torch2tf.settings import Settings

pytestmark = pytest.mark.stack


def pipeline(artifacts_env, *args):
    out = run_invoke("pipeline", *args, env_overrides=artifacts_env)
    print(out.stdout[-3000:], out.stderr[-3000:])
    return out


def report(artifacts_env, name) -> Report:
    return Report.load(Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / name / "report.json")


@pytest.mark.parametrize("target, tf_version, route", [("tf1.13", "1.13.1", "onnx-tf-1.3.0-opset9"),
                                                       ("tf1.4", "1.4.1", "onnx-tf-1.1.2-opset7"),
                                                       ("tf1.15", "1.15.5", "onnx-tf-1.5.0-opset10")])
def test_resnet18_verified_in_target_runtime(artifacts_env, target, tf_version, route):
    out = pipeline(artifacts_env, "--config", "configs/resnet18.yaml", "--target", target, "--route", route)
    assert out.returncode == 0, out.stderr
    rep = report(artifacts_env, "resnet18")
    assert rep.status is Status.PASSED and rep.target == target and rep.schema == 2
    assert rep.verify.versions["tensorflow"] == tf_version and rep.verify.passed
    [row] = rep.verify.outputs
    assert row["name"] == "output" and row["max_abs_diff"] <= 1e-4
    assert rep.verification("model.onnx").passed
    graph = rep.graph
    assert [i["name"] for i in graph["inputs"]] == ["input:0"] and "output:0" in graph["outputs"]
    assert graph["py_func_nodes"] == []
    folder = Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / "resnet18"
    for name in ("model.onnx", "model.pb", "input.input.npy", "ref.output.npy", "logs/convert.log"):
        assert (folder / name).is_file(), name
    assert [s.label for s in rep.steps] == ["export", "adapt", "onnx-check", "convert", "optimize", "verify", "inspect"]
    # onnx-tf's NCHW<->NHWC Transposes around each conv are gone: the input's one is left
    assert rep.optimize["before"]["transposes"] >= 40 and rep.graph["transposes"] <= 2, rep.optimize
    assert rep.verify.profile["total_ms"] > 0 and rep.verify.profile["per_op"]["Conv2D"]["nodes"] == 20
    # every published file carries the digest of what was published, and is not the cache's inode
    assert set(rep.artifacts) >= {"model.onnx", "model.pb", "model.adapted.onnx", "input.input.npy"}
    for name, art in rep.artifacts.items():
        assert file_digest(Path(art.path), {}) == art.sha256, name
    assert (folder / "model.pb").stat().st_nlink == 1
    assert "max abs" in out.stdout and "PASSED" in out.stdout

    again = pipeline(artifacts_env, "--config", "configs/resnet18.yaml", "--target", target, "--route", route)
    assert again.returncode == 0
    assert all(s.cached for s in report(artifacts_env, "resnet18").steps)
    assert "7/7 stages from cache" in again.stdout


def test_user_file_model_and_multi_output_with_dynamic_batch(artifacts_env):
    out = pipeline(artifacts_env, "--config", "configs/tinynet.yaml")
    assert out.returncode == 0, out.stderr
    assert report(artifacts_env, "tinynet").verify.outputs[0]["name"] == "logits"
    out = pipeline(artifacts_env, "--config", "configs/multihead.yaml")
    assert out.returncode == 0, out.stderr
    rep = report(artifacts_env, "multihead")
    assert [o["name"] for o in rep.verify.outputs] == ["scores", "boxes"]
    assert all(o["passed"] and o["shape"][0] == 2 for o in rep.verify.outputs)
    assert {"scores:0", "boxes:0"} <= set(rep.graph["outputs"])


# ---------------------------------------------------------------- errors a user meets

def write_config(tmp_path: Path, body: str, model_py: str | None = None) -> Path:
    if model_py:
        (tmp_path / "net.py").write_text(textwrap.dedent(model_py))
    path = tmp_path / "cfg.yaml"
    path.write_text(textwrap.dedent(body))
    return path


TINY_CFG = """\
    name: {name}
    model:
      factory: {factory}
      kwargs: {{}}
      weights: {weights}
    inputs:
      - name: x
        shape: [1, 3, 16, 16]
    outputs: [y]
    target: tf1.13
    {extra}
    """

NET = """\
    import torch
    from torch import nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3))
    def build():
        return Net()
    """


def assert_clean_error(out, *fragments):
    assert out.returncode == 1
    assert "Traceback" not in out.stderr, out.stderr
    for f in fragments:
        assert f in out.stderr, (f, out.stderr)
    assert "log:" in out.stderr or "where:" in out.stderr


def test_model_import_failure(artifacts_env, tmp_path):
    cfg = write_config(tmp_path, TINY_CFG.format(name="bad-import", factory="no_such_module:build", weights="null", extra=""))
    out = pipeline(artifacts_env, "--config", str(cfg))
    assert_clean_error(out, "stage export failed", "cannot import the model module", "torch17")
    rep = report(artifacts_env, "bad-import")
    assert rep.status is Status.FAILED and rep.error["class"] == "ModelImportError"
    assert Path(rep.error["log"]).is_file() and rep.error["step"] == "export"
    assert [(s.label, s.status) for s in rep.steps] == [("export", "failed")]


def test_a_forward_returning_a_dict_is_named_with_its_keys(artifacts_env, tmp_path):
    """HF models return a ModelOutput (a dict): the count mismatch says so, with the keys in output order."""
    as_dict = NET.replace("return self.conv(x).mean(dim=(2, 3))",
                          "y = self.conv(x)\n            return {'pooled': y.mean(dim=(2, 3)), 'features': y}")
    cfg = write_config(tmp_path, TINY_CFG.format(name="dict-out", factory="net.py:build", weights="null", extra=""),
                       as_dict)
    out = pipeline(artifacts_env, "--config", str(cfg))
    assert_clean_error(out, "the model returns 2 output(s) but the config names 1: ['y']",
                       "its forward returns a dict with keys pooled, features", "in that order")
    assert report(artifacts_env, "dict-out").error["class"] == "ConfigMismatch"


def _torch17_python() -> Path:
    return envs.get("torch17", Settings()).python


def test_weights_with_wrong_keys_are_listed_and_good_ones_load(artifacts_env, tmp_path):
    write_config(tmp_path, "", NET)
    save = ("import sys, torch; sys.path.insert(0, sys.argv[1]); import net; sd = net.build().state_dict(); "
            "torch.save({'state_dict': {'module.' + k: v for k, v in sd.items()}}, sys.argv[1] + '/good.pth'); "
            "sd['extra.bias'] = sd['conv.bias']; del sd['conv.weight']; torch.save(sd, sys.argv[1] + '/bad.pth')")
    assert proc.run([_torch17_python(), "-c", save, tmp_path], capture=True).returncode == 0
    cfg = write_config(tmp_path, TINY_CFG.format(name="w", factory="net.py:build", weights="bad.pth", extra=""))
    out = pipeline(artifacts_env, "--config", str(cfg))
    assert_clean_error(out, "do not match the model", "conv.weight", "extra.bias")
    cfg = write_config(tmp_path, TINY_CFG.format(name="w", factory="net.py:build", weights="good.pth", extra=""))
    assert pipeline(artifacts_env, "--config", str(cfg)).returncode == 0


def test_export_failure_gives_the_opset_hint(artifacts_env, tmp_path):
    focus = NET.replace("return self.conv(x).mean(dim=(2, 3))",
                        "x = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2]], 1)\n            return x.mean(dim=(2, 3))")
    cfg = write_config(tmp_path, TINY_CFG.format(name="focus", factory="net.py:build", weights="null", extra="opset: 9"),
                       focus)
    out = pipeline(artifacts_env, "--config", str(cfg), "--route", "onnx-tf-1.3.0-opset9")   # one route, its own error
    assert_clean_error(out, "torch.onnx.export at opset 9 failed", "opset >= 10")


def test_verification_mismatch_names_the_output_and_keeps_last_good_artifacts(artifacts_env, tmp_path):
    good = write_config(tmp_path, TINY_CFG.format(name="tol", factory="net.py:build", weights="null", extra=""), NET)
    assert pipeline(artifacts_env, "--config", str(good)).returncode == 0
    folder = Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / "tol"
    pb = (folder / "model.pb").read_bytes()
    # a tolerance no float32 conversion can meet (the data itself is fine): a real mismatch report
    strict = write_config(tmp_path, TINY_CFG.format(name="tol", factory="net.py:build", weights="null",
                                                    extra="tolerance: {atol: 0.0, rtol: 0.0}\n    seed: 3"))
    out = pipeline(artifacts_env, "--config", str(strict), "--route", "onnx-tf-1.3.0-opset9")
    assert_clean_error(out, "verification failed", "y: max abs diff")
    assert (folder / "model.pb").read_bytes() == pb
    rep = report(artifacts_env, "tol")
    assert rep.status is Status.FAILED and rep.error["class"] == "VerifyMismatch"
    assert rep.last_good["status"] == "passed" and rep.steps[-1].status == "failed"
    assert rep.steps[-1].label == rep.error["step"] in ("onnx-check", "verify")
    # the artifact that failed is kept for inspection, apart from the last good one
    kept = Path(rep.error["artifact"])
    assert kept.parent == folder / "failed" and kept.name == rep.error["artifact_name"] and kept.stat().st_size > 0


def test_bilinear_upsample_below_opset_11_is_caught_at_the_middle_hop_and_explained(artifacts_env):
    """torch 1.7 writes align_corners=False bilinear as ONNX Upsample-9, which computes other numbers:
    onnxruntime catches it before any TensorFlow, and torch's export warning names the cause."""
    out = pipeline(artifacts_env, "--config", "configs/matrix/segnet.yaml", "--target", "tf1.13",
                   "--route", "onnx-tf-1.3.0-opset9")
    assert_clean_error(out, "verification failed in onnxruntime", "mask: max abs diff")
    assert "opset >= 11" in out.stderr and "align_corners=True" in out.stderr
    rep = report(artifacts_env, "m-segnet")
    assert rep.error["class"] == "UpsampleBeforeOpset11"
    assert [s.label for s in rep.steps] == ["export", "adapt", "onnx-check"]


def test_config_error_is_clean(artifacts_env, tmp_path):
    cfg = write_config(tmp_path, TINY_CFG.format(name="c", factory="net.py:build", weights="null", extra="opsett: 9"), NET)
    out = pipeline(artifacts_env, "--config", str(cfg))
    assert_clean_error(out, "unknown key 'opsett'", "did you mean 'opset'")
    assert not (Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / "c").exists()


def test_inspect_task_on_pb_and_onnx(artifacts_env):
    assert pipeline(artifacts_env, "--config", "configs/tinynet.yaml").returncode == 0
    folder = Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / "tinynet"
    out = run_invoke("inspect", str(folder / "model.pb"))
    assert out.returncode == 0 and "input   image:0" in out.stdout and "logits:0" in out.stdout
    info = json.loads(run_invoke("inspect", str(folder / "model.onnx"), "--json").stdout)
    assert info["format"] == "onnx" and info["inputs"][0]["name"] == "image" and info["ops"]["Conv"] == 2
