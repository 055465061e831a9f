"""Strict reading of env specs, pipeline configs and the compatibility matrix (no envs needed)."""

from pathlib import Path

import pytest
from conftest import TINY_SPEC

from torch2tf.configs.compat import load_compat
from torch2tf.configs.config import load_config
from torch2tf.envs.specs import load_spec, load_specs
from torch2tf.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_shipped_specs_parse():
    specs = load_specs(ROOT / "envs")
    assert {"torch17", "tf14", "tf113", "tf115", "tf2", "onnx2tf"} <= set(specs)
    assert specs["tf14"].python == "3.6" and specs["tf14"].pinned("tensorflow") == "1.4.1"
    assert "--no-binary=onnx-tf" in specs["tf14"].build_options
    assert specs["tf115"].pinned("onnx-tf") == "1.5.0"


SPEC = TINY_SPEC


def test_spec_digest_ignores_yaml_layout_and_order(tmp_path):
    a = load_spec(write(tmp_path / "a.yml", SPEC))
    b = load_spec(write(tmp_path / "b.yml", "# comment\n" + SPEC.replace(
        "      - six==1.16.0\n      - numpy==1.19.5\n", "      - numpy==1.19.5\n      - six==1.16.0\n")))
    assert a.digest == b.digest
    c = load_spec(write(tmp_path / "c.yml", SPEC.replace("six==1.16.0", "six==1.15.0")))
    assert c.digest != a.digest


@pytest.mark.parametrize("bad, message", [
    (SPEC.replace("six==1.16.0", "six>=1.16"), "not an exact pin"),
    (SPEC.replace("  - python=3.6\n", ""), "python=X.Y"),
    (SPEC + "extra: 1\n", "unknown key"),
    (SPEC.replace("  - pip\n", "  - numpy=1.19\n"), "unsupported conda dependency"),
])
def test_bad_specs_are_refused_with_the_file(tmp_path, bad, message):
    path = write(tmp_path / "bad.yml", bad)
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert message in str(info.value) and str(path) in str(info.value)


CONFIG = """name: m
model:
  factory: torchvision.models:resnet18
inputs:
  - name: input
    shape: [1, 3, 8, 8]
outputs: [output]
target: tf1.13
"""


def test_config_defaults(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", CONFIG))
    assert cfg.inputs[0].shape == (1, 3, 8, 8) and cfg.inputs[0].dtype == "float32"
    assert cfg.atol == 1e-4 and cfg.seed == 0 and cfg.model.model_file is None


def test_config_misspelled_key_names_file_key_and_guess(tmp_path):
    path = write(tmp_path / "c.yaml", CONFIG.replace("target:", "traget:"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "traget" in text and str(path) in text and "did you mean 'target'" in text


@pytest.mark.parametrize("change, message", [
    (("factory: torchvision.models:resnet18", "factory: resnet18"), "module:callable"),
    (("factory: torchvision.models:resnet18", "factory: models/nope.py:build"), "does not exist"),
    (("shape: [1, 3, 8, 8]", "shape: [1, -3, 8]"), "positive integers"),
    (("outputs: [output]", "outputs: [input]"), "unique"),
    (("    shape: [1, 3, 8, 8]\n", "    shape: [1, 3, 8, 8]\n    dtype: float8\n"), "dtype"),
    (("    shape: [1, 3, 8, 8]\n", "    shape: [1, 3, 8, 8]\n    dynamic: {7: b}\n"), "not an axis"),
    (("target: tf1.13\n", "target: tf1.13\ntolerance: {atl: 1}\n"), "unknown key 'atl'"),
])
def test_config_errors(tmp_path, change, message):
    path = write(tmp_path / "c.yaml", CONFIG.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)


def test_user_model_file_resolves_relative_to_config():
    cfg = load_config(ROOT / "configs" / "tinynet.yaml")
    assert cfg.model.model_file == ROOT / "configs" / "models" / "tinynet.py"


def test_shipped_configs_parse():
    for path in (ROOT / "configs").glob("*.yaml"):
        if path.name != "compat.yaml":
            assert load_config(path).name


def test_compat_routes():
    compat = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")
    assert {"tf1.4", "tf1.13", "tf1.15"} <= set(compat.targets)
    r = compat.routes("tf1.4")[0]
    assert r.convert.env == "tf14" and r.opset <= compat.stacks["tf14"]["max_opset"]
    with pytest.raises(ConfigError, match="unknown target"):
        compat.routes("tf9")
    with pytest.raises(ConfigError, match="has no route"):
        compat.route("tf1.13", "nope")


def test_compat_refuses_opset_the_converter_cannot_read(tmp_path):
    text = (ROOT / "configs" / "compat.yaml").read_text().replace(
        "{name: onnx-tf-1.1.2-opset7, converter: onnx-tf-1.1.2, opset: 7}",
        "{name: onnx-tf-1.1.2-opset7, converter: onnx-tf-1.1.2, opset: 11}")
    with pytest.raises(ConfigError, match="reads at most 7"):
        load_compat(write(tmp_path / "compat.yaml", text), ROOT / "envs")


def test_compat_tflite_target(tmp_path):
    compat = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")
    assert {r.artifact for r in compat.routes("tflite")} == {"tflite"}
    assert {r.artifact for r in compat.routes("tf1.13")} == {"frozen_pb"}
    base = (ROOT / "configs" / "compat.yaml").read_text()
    text = base.replace("{name: onnx2tf-opset11, converter: onnx2tf, opset: 11}",
                        "{name: onnx2tf-opset11, converter: onnx2tf, opset: 11, downgrade: true}")
    with pytest.raises(ConfigError, match="downgrades a graph for a tflite target"):
        load_compat(write(tmp_path / "a.yaml", text), ROOT / "envs")
    with pytest.raises(ConfigError, match="unknown artifact 'tfjs'"):
        load_compat(write(tmp_path / "b.yaml", base.replace("artifact: tflite", "artifact: tfjs")), ROOT / "envs")


def test_shipped_locks_are_current_and_pip_readable():
    """--only-binary :all: must precede the --no-binary exceptions, or pip drops the exceptions."""
    from torch2tf.envs.locks import read_lock
    from torch2tf.settings import Settings
    settings = Settings()
    for spec in load_specs(ROOT / "envs").values():
        lock = read_lock(spec, settings)
        assert lock.spec_digest == spec.digest, f"{spec.name}: run `invoke env.lock --name {spec.name}`"
        opts = [ln for ln in lock.text.splitlines() if ln.startswith("--")]
        assert opts[0].startswith("--only-binary"), opts
        assert all(spec.pinned(p) == v for p, v in lock.pins().items() if spec.pinned(p))
