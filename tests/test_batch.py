"""`invoke batch`: configs checked up front, run in parallel, one failure never stops the rest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, run_invoke

from torch2tf.batch import check, expand
from torch2tf.errors import ConfigError
from torch2tf.settings import Settings


def test_expand_keeps_order_dedupes_and_skips_compat():
    paths = expand([str(ROOT / "configs" / "tinynet.yaml"), str(ROOT / "configs" / "*.yaml")])
    assert paths[0].name == "tinynet.yaml" and len({p.resolve() for p in paths}) == len(paths)
    assert "compat.yaml" not in {p.name for p in paths}
    with pytest.raises(ConfigError, match="no config matches"):
        expand([str(ROOT / "configs" / "missing.yaml")])


def test_check_refuses_two_configs_sharing_an_artifacts_folder(tmp_path):
    twin = tmp_path / "models"
    shutil.copytree(ROOT / "configs" / "models", twin)
    copy = tmp_path / "tinynet-copy.yaml"
    copy.write_text((ROOT / "configs" / "tinynet.yaml").read_text())
    with pytest.raises(ConfigError, match="both named 'tinynet'"):
        check([ROOT / "configs" / "tinynet.yaml", copy], Settings(), None)
    with pytest.raises(ConfigError, match="unknown target 'tf9'"):
        check([ROOT / "configs" / "tinynet.yaml"], Settings(), "tf9")


def test_a_config_without_target_takes_the_commands(tmp_path):
    """A folder of files run to each target in turn needs no target: per config; without --target
    the check says which config lacks one."""
    plain = tmp_path / "plain.yaml"
    plain.write_text("\n".join(line for line in (ROOT / "configs" / "tinynet.yaml").read_text().splitlines()
                               if not line.startswith("target:")).replace("models/", f"{ROOT}/configs/models/"))
    check([plain], Settings(), "tf1.4")
    with pytest.raises(ConfigError, match="no target") as err:
        check([plain], Settings(), None)
    assert err.value.where == str(plain) and "--target" in err.value.hint


def test_bad_config_stops_the_batch_before_anything_runs(tmp_path, artifacts_env):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "configs" / "tinynet.yaml").read_text().replace("outputs:", "outptus:"))
    out = run_invoke("batch", "--configs", f"configs/tinynet.yaml,{bad}", env_overrides=artifacts_env)
    assert out.returncode == 1 and "outptus" in out.stderr and "Traceback" not in out.stderr
    assert not Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"]).exists()


@pytest.mark.stack
def test_one_failure_does_not_stop_the_others(artifacts_env, tmp_path):
    """tinynet converts for TF 1.4 and the Focus block gets there by fallback (its legacy route cannot
    export strided slices); a model that does not import fails on every route, alone."""
    broken = tmp_path / "broken.yaml"
    broken.write_text((ROOT / "configs" / "tinynet.yaml").read_text().replace("name: tinynet", "name: broken")
                      .replace("models/tinynet.py:build", "no_such_module:build"))
    out = run_invoke("batch", "--configs", f"configs/tinynet.yaml,configs/matrix/focus.yaml,{broken}",
                     "--target", "tf1.4", "--jobs", "2", env_overrides=artifacts_env)
    print(out.stdout[-3000:], out.stderr[-2000:])
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "2/3 configs passed" in out.stdout and "no_such_module" in out.stdout
    folder = Path(artifacts_env["INVOKE_TORCH2TF_ARTIFACTS"])
    summary = json.loads((folder / "batch.json").read_text())
    runs = {r["name"]: r for r in summary["runs"]}
    assert runs["tinynet"]["status"] == "passed" and runs["tinynet"]["max_abs_diff"] < 1e-4
    assert runs["m-focus"]["status"] == "passed" and runs["m-focus"]["route"] == "onnx2tf-downgrade"
    assert runs["broken"]["status"] == "failed" and runs["broken"]["error"]["class"] == "ModelImportError"
    assert (folder / "tinynet" / "model.pb").is_file()
    assert json.loads((folder / "broken" / "report.json").read_text())["status"] == "failed"
