"""Two --fresh runs of one config publish byte-identical artifacts (the converters' graphs are
serialized deterministically: protobuf map fields are otherwise written in hash order)."""

from __future__ import annotations

import hashlib

import pytest
from conftest import ROOT, run_invoke

pytestmark = pytest.mark.stack


def digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "logs" not in p.parts and p.name != "report.json"}


@pytest.mark.parametrize("route", ["onnx-tf-1.1.2-opset7", "onnx2tf-downgrade"])
def test_two_fresh_runs_publish_the_same_bytes(route, tmp_path):
    runs = []
    for n in (1, 2):
        out = run_invoke("pipeline", "--config", str(ROOT / "configs" / "tinynet.yaml"), "--target", "tf1.4",
                         "--route", route, "--fresh",
                         env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / str(n))})
        assert out.returncode == 0, out.stderr[-2000:]
        runs.append(digests(tmp_path / str(n) / "tinynet"))
    assert "model.pb" in runs[0] and runs[0] == runs[1]
