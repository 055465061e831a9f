"""A model from a library labs use, as a new user brings it: a plain config (no route, no opset) with only
the library pinned in model.requirements, built from the committed lock, converted and verified in the
target runtime. segmentation_models_pytorch 0.2.1 on torch 1.7 needs pretrainedmodels and
efficientnet-pytorch, both published as source only: they are built from their sdists."""

from __future__ import annotations

import pytest
from conftest import ROOT, run_invoke

from torch2tf.run.report import Report, Status

pytestmark = pytest.mark.stack

CONFIG = ROOT / "configs" / "libraries" / "smp021_fpn.yaml"


def test_smp_fpn_from_a_plain_config_verifies_in_tf113(tmp_path):
    lock = next((CONFIG.parent / "locks").glob("torch17-plus-58bf58732c.*.txt"))
    assert "--no-binary pretrainedmodels" in lock.read_text()       # the lock names the source-only package
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
    assert tf.profile and tf.profile["layout_share"] < 0.1
