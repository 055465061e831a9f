"""A model from a library labs use, as a new user brings it: a plain config (no route, no opset) with only
the library pinned in model.requirements, built from the committed lock, converted and verified in the
target runtime. segmentation_models_pytorch 0.2.1 on torch 1.7 needs pretrainedmodels and
efficientnet-pytorch, both published as source only: the lock names the wheels torch2tf builds from
their sdists (reproducibly: a store without them builds the same bytes again)."""

from __future__ import annotations

import pytest
from conftest import ROOT, run_invoke

from torch2tf.run.report import Report, Status

pytestmark = pytest.mark.stack

CONFIG = ROOT / "configs" / "libraries" / "smp021_fpn.yaml"


def test_smp_fpn_from_a_plain_config_verifies_in_tf113(tmp_path):
    lock = next((CONFIG.parent / "locks").glob("torch17-plus-58bf58732c.*.txt"))
    assert "# torch2tf-wheel pretrainedmodels==0.7.4 " in lock.read_text()     # the wheel built from its sdist
    out = run_invoke("pipeline", "--config", str(CONFIG),
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "artifacts")})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "locking env" not in out.stdout, "the committed lock was not current"
    rep = Report.load(tmp_path / "artifacts" / "smp021_fpn" / "report.json")
    assert rep.status is Status.PASSED and rep.target == "tf1.13" and rep.export_stack == "torch17"
    assert rep.steps[0].env == "torch17-plus-58bf58732c"
    tf = next(v for v in rep.verifications if v.artifact == "model.pb")
    assert tf.passed and tf.versions["tensorflow"] == "1.13.1"
    assert not tf.weak, "the check could not have told a broken conversion (the mask ignores the input)"
    # the traced profile is there (its shares are timings: bench/, not a test); the layout left is counted
    assert tf.profile and tf.profile["per_op"]["Conv2D"]["nodes"] > 0 and 0 <= tf.profile["layout_share"] < 1
    # the FPN head's 7 GroupNorms taken on the NHWC tensor: the input's and the output's Transposes are left
    assert rep.optimize["rewrites"]["group_norm_channels_last"] == 7 and rep.optimize["after"]["transposes"] == 2, \
        rep.optimize


def test_distilbert_reaches_tf113_through_the_route_that_refused_its_attention_mask(tmp_path):
    """HF DistilBERT (transformers 4.26 on torch 1.13, from a config object): its attention mask is a Where
    against a scalar, a broadcasting SelectV2 that onnx-tf 1.10's graph holds and TF 1.13 cannot run
    ("the operands broadcast"): the downgrade broadcasts them exactly, then Select."""
    config = ROOT / "configs" / "libraries" / "hf_distilbert.yaml"
    out = run_invoke("pipeline", "--config", str(config), "--route", "onnx-tf-1.10-downgrade",
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "artifacts")})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rep = Report.load(tmp_path / "artifacts" / "hf_distilbert" / "report.json")
    assert rep.status is Status.PASSED and rep.export_stack == "torch113"
    assert rep.downgrade["renamed"].get("SelectV2(broadcast)->Fill+Select") == 2, rep.downgrade    # one per layer
    tf = next(v for v in rep.verifications if v.artifact == "model.pb")
    assert tf.passed and not tf.weak and tf.versions["tensorflow"] == "1.13.1"
