"""Each shipped env builds from its lock and imports its stack at the pinned versions."""

import pytest

from torch2tf import proc
from torch2tf.envs import store as envs
from torch2tf.envs.specs import load_specs
from torch2tf.run.stagerun import StageRunner
from torch2tf.settings import Settings

pytestmark = pytest.mark.envbuild

SETTINGS = Settings()
SPECS = load_specs(SETTINGS.envs_dir)
CHECKED = {"tensorflow": ["tensorflow", "tensorflow-cpu"], "onnx": ["onnx"], "onnx_tf": ["onnx-tf"],
           "torch": ["torch"], "torchvision": ["torchvision"], "onnxruntime": ["onnxruntime"],
           "onnx2tf": ["onnx2tf"], "numpy": ["numpy"], "google.protobuf": ["protobuf"]}


@pytest.mark.parametrize("name", ["torch17", "tf14", "tf113", "tf115", "tf2", "onnx2tf"])
def test_env_builds_and_imports_its_stack(name):
    spec = SPECS[name]
    env, _ = envs.build(spec, SETTINGS)
    assert env.is_built()
    wanted = [m for m, dists in CHECKED.items() if any(spec.pinned(d) for d in dists)]
    run = StageRunner(SETTINGS, fresh=True).run("probe", name, {}, {"modules": wanted, "required": wanted})
    versions = run.metrics["versions"]
    print(name, versions)
    assert versions["python"].rsplit(".", 1)[0] == spec.python
    for module in wanted:
        pin = next(spec.pinned(d) for d in CHECKED[module] if spec.pinned(d))
        assert versions[module] == pin, (module, versions[module], pin)


def test_env_python_does_not_see_host_packages():
    env, _ = envs.build(SPECS["tf14"], SETTINGS)
    out = proc.run([env.python, "-c", "import invoke"], env=env.environ(), capture=True)
    assert out.returncode != 0 and "No module named" in out.stderr
