"""The newer export stacks for real: torch 1.13.1 and torch 2.5.1 export models torch 1.7 cannot
build, and the result verifies in TF 1.4.1 from a plain config (no route, no opset)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, run_invoke

from torch2tf import proc
from torch2tf.run.report import Report

pytestmark = pytest.mark.stack


def pipeline(artifacts_env, config: str, *args: str):
    out = run_invoke("pipeline", "--config", config, *args, env_overrides=artifacts_env)
    print(out.stdout[-4000:], out.stderr[-3000:])
    return out


def report(artifacts_env, name: str) -> Report:
    return Report.load(Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]) / name / "report.json")


@pytest.mark.parametrize("config, name, stack, torch", [
    ("configs/modern/mobilenet_v3_small.yaml", "mobilenet_v3_small", "torch113", "1.13.1"),
    ("configs/modern/sdpa_block.yaml", "sdpa_block", "torch25", "2.5.1"),
])
def test_a_newer_stacks_model_verifies_in_tf14_from_a_plain_config(artifacts_env, config, name, stack, torch):
    out = pipeline(artifacts_env, config, "--target", "tf1.4")
    assert out.returncode == 0, out.stderr
    rep = report(artifacts_env, name)
    assert rep.export_stack == stack and rep.versions["torch"].startswith(torch)
    assert rep.verify.passed and not rep.verify.weak and rep.verify.versions["tensorflow"] == "1.4.1"
    assert f"export  stack {stack} (torch {torch}" in out.stdout
    onnx_check = rep.verification("model.onnx")
    assert onnx_check.env == stack          # the middle check reads the export in its own onnxruntime
    if name == "sdpa_block":                # torch 2.5 writes SDPA only at opset >= 14: the shim made it exportable
        assert "scaled_dot_product_attention" in rep.export_shims


def test_a_factory_missing_from_the_default_stack_names_the_stack_that_has_it(artifacts_env, tmp_path):
    cfg = tmp_path / "mnv3.yaml"
    cfg.write_text("name: mnv3\nmodel: {factory: torchvision.models:mobilenet_v3_small}\n"
                   "inputs: [{name: input, shape: [1, 3, 64, 64]}]\noutputs: [output]\ntarget: tf1.13\n")
    for stack in ("torch113", "torch25"):       # the hint asks the built stacks
        assert run_invoke("env.build", "--name", stack).returncode == 0
    out = pipeline(artifacts_env, str(cfg))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "has no callable 'mobilenet_v3_small' (in torch 1.7.1, torchvision 0.8.2)" in out.stderr
    assert 'export stack torch113 has it (torch 1.13.1): set model.torch: "1.13"' in out.stderr
    rep = report(artifacts_env, "mnv3")
    assert len(rep.attempts) == 1 and rep.error["class"] == "FactoryMissing"   # route-independent: no fallback
    assert "model.torch" in rep.error["hint"]


def test_plan_names_the_export_stack():
    out = run_invoke("pipeline", "--config", str(ROOT / "configs" / "modern" / "vit_small.yaml"), "--plan")
    assert out.returncode == 0, out.stderr
    assert "export stack: torch25 (torch 2.5.1)" in out.stdout
    assert "stages/export.py in torch25" in out.stdout


NET = """import torch

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3))

def build():
    return Net()
"""


def test_weights_load_with_the_stacks_own_safe_loader_and_a_pickled_module_is_refused(artifacts_env, tmp_path):
    """torch >= 1.13 has weights_only=True: a state_dict loads; a checkpoint that also pickles a Python
    object (its training args) is refused (unpickling it could run code) unless the config trusts it."""
    from torch2tf.envs import store
    from torch2tf.settings import Settings
    (tmp_path / "net.py").write_text(NET)
    save = ("import sys, torch; sys.path.insert(0, sys.argv[1]); import net; torch.manual_seed(1); m = net.build(); "
            "torch.save(m.state_dict(), sys.argv[1] + '/good.pth'); import argparse; "
            "torch.save({'state_dict': m.state_dict(), 'args': argparse.Namespace(lr=0.1)}, sys.argv[1] + '/ckpt.pth')")
    env = store.get("torch25", Settings())
    done = proc.run([env.python, "-c", save, tmp_path], env=env.environ(), capture=True)
    assert done.returncode == 0, done.stderr
    for weights, trust in (("good.pth", "false"), ("ckpt.pth", "false"), ("ckpt.pth", "true")):
        cfg = tmp_path / "w.yaml"
        cfg.write_text(f"name: w\nmodel: {{factory: net.py:build, torch: '2', weights: {weights}, trust_weights: {trust}}}\n"
                       "inputs: [{name: x, shape: [1, 3, 8, 8]}]\noutputs: [y]\ntarget: tf1.13\n")
        out = pipeline(artifacts_env, str(cfg))
        rep = report(artifacts_env, "w")
        if weights == "ckpt.pth" and trust == "false":
            assert out.returncode == 1 and "Traceback" not in out.stderr
            assert rep.error["class"] == "UnsafeWeights" and len(rep.attempts) == 1
            assert "model.trust_weights" in rep.error["hint"] and "\x1b[" not in out.stderr
        else:
            assert out.returncode == 0, out.stderr
            assert rep.verify.passed and rep.export_stack == "torch25"
