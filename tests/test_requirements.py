"""model.requirements: a model whose code needs a package the export env lacks gets an env of its own,
the export env plus that pin, locked beside the config (hashed, the base's pins kept) and built in the
store; only the export step runs in it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, run_invoke

from torch2tf.configs.compat import load_compat
from torch2tf.configs.config import load_config
from torch2tf.errors import ConfigError
from torch2tf.run.plan import build_plan
from torch2tf.run.report import Report, Status
from torch2tf.settings import Settings

# a model that, like torchvision's googlenet with init_weights, needs scipy to initialise
MODEL = textwrap.dedent('''
    import torch.nn as nn
    from scipy import stats

    def build():
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(8, 4))
        conv = net[0]
        values = stats.truncnorm(-2, 2, scale=0.5).rvs(conv.weight.numel(), random_state=0)
        conv.weight.data.copy_(__import__("torch").as_tensor(values, dtype=conv.weight.dtype).view_as(conv.weight))
        return net
''')


def write_config(tmp_path: Path, requirements: str) -> Path:
    (tmp_path / "net.py").write_text(MODEL)
    config = tmp_path / "needs_scipy.yaml"
    config.write_text(textwrap.dedent(f'''
        name: needs-scipy
        model: {{factory: net.py:build{requirements}}}
        inputs: [{{name: image, shape: [1, 3, 16, 16]}}]
        outputs: [logits]
        target: tf1.13
        route: onnx-tf-1.3.0-opset9
    '''))
    return config


def test_only_the_export_runs_in_the_extended_env(tmp_path):
    settings = Settings()
    compat = load_compat(settings.configs_dir / "compat.yaml", settings.envs_dir)
    cfg = load_config(write_config(tmp_path, ", requirements: [scipy==1.5.4]"))
    plan = build_plan(cfg, "tf1.13", compat.route("tf1.13", "onnx-tf-1.3.0-opset9"), compat)
    assert plan.extension.packages == ("scipy==1.5.4",) and plan.extension.lock_dir == tmp_path / "locks"
    assert plan.step("export").env == plan.extension.name and plan.extension.name.startswith("torch17-plus-")
    assert {s.env for s in plan.steps if s.label != "export"} == {"torch17", "tf113"}
    other = load_config(write_config(tmp_path, ", requirements: [scipy==1.5.3]"))
    assert build_plan(other, "tf1.13", compat.route("tf1.13", "onnx-tf-1.3.0-opset9"), compat).extension.name \
        != plan.extension.name


def test_a_pin_the_export_env_holds_is_refused(tmp_path):
    from torch2tf.envs.extras import Extension, extended_spec
    ext = Extension(base="torch17", packages=("numpy==1.20.0",), lock_dir=tmp_path, where="cfg")
    with pytest.raises(ConfigError, match="pinned by the export env already"):
        extended_spec(ext, Settings())


@pytest.mark.stack
def test_a_missing_package_is_named_then_the_requirement_builds_its_env(tmp_path):
    artifacts = {"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "artifacts")}
    out = run_invoke("pipeline", "--config", str(write_config(tmp_path, "")), env_overrides=artifacts)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "No module named 'scipy'" in out.stderr and "model.requirements" in out.stderr, out.stderr
    assert Report.load(tmp_path / "artifacts" / "needs-scipy" / "report.json").error["class"] == "MissingModule"

    out = run_invoke("pipeline", "--config", str(write_config(tmp_path, ", requirements: [scipy==1.5.4]")),
                     env_overrides=artifacts)
    assert out.returncode == 0, out.stderr[-3000:]
    rep = Report.load(tmp_path / "artifacts" / "needs-scipy" / "report.json")
    assert rep.status is Status.PASSED and rep.verify.passed and not rep.verify.weak
    export = next(s for s in rep.steps if s.label == "export")
    assert export.env.startswith("torch17-plus-")
    lock = next((tmp_path / "locks").glob(f"{export.env}.*.txt")).read_text()
    base = next((ROOT / "envs" / "locks").glob("torch17.*.txt")).read_text()
    assert "scipy==1.5.4" in lock and "--hash=sha256:" in lock
    for pin in ("torch==1.7.1", "numpy==", "onnx=="):     # the base's versions kept
        line = next(ln for ln in base.splitlines() if ln.startswith(pin))
        assert line in lock


UV_FAILURE = """error: No solution found when resolving dependencies
  cause: Because only ultralytics<=8.0.53 is available and yolov5==7.0.13 depends on ultralytics>=8.0.100, we can conclude that yolov5==7.0.13 cannot be used.
         And because you require yolov5==7.0.13, we can conclude that your requirements are unsatisfiable.

hint: `ultralytics` was requested with a pre-release marker (e.g., ultralytics>=8.0.100), but pre-releases weren't enabled (try: `--prerelease=allow`)
"""
UV_NO_WHEELS = """  × No solution found when resolving dependencies:
  ╰─▶ Because all versions of fire have no usable wheels and yolov5==7.0.13 depends on fire, we can conclude
      that yolov5==7.0.13 cannot be used.
      And because you require yolov5==7.0.13, we can conclude that your requirements are unsatisfiable.

      hint: Wheels are required for `fire` because building from source is disabled for all packages
"""


def test_a_resolution_failure_is_a_few_lines_of_why_without_uvs_hints():
    from torch2tf.envs.locks import uv_reasons
    reasons = uv_reasons(UV_FAILURE)
    assert reasons[0].startswith("Because only ultralytics<=8.0.53 is available and yolov5==7.0.13 depends")
    assert reasons[1].startswith("And because you require yolov5==7.0.13") and len(reasons) == 2
    assert not any("--prerelease" in r or "error:" in r for r in reasons)
    boxed = uv_reasons(UV_NO_WHEELS)
    assert boxed[0].startswith("Because all versions of fire have no usable wheels") and "╰" not in " ".join(boxed)


def test_a_package_published_as_source_only_is_named_from_the_explanation():
    from torch2tf.envs.extras import _sdist_only
    from torch2tf.envs.locks import uv_reasons
    assert _sdist_only(uv_reasons(UV_NO_WHEELS)) == "fire"
    assert _sdist_only(["Because pretrainedmodels==0.7.4 has no usable wheels and x depends on it"]) == "pretrainedmodels"
    assert _sdist_only(uv_reasons(UV_FAILURE)) is None


def test_requirements_resolve_as_of_the_later_of_the_stacks_era_and_the_pinned_release(monkeypatch):
    import datetime

    from torch2tf.envs import package_index, release_dates
    days = {("yolov5", "7.0.13"): datetime.date(2023, 10, 16), ("timm", "0.4.12"): datetime.date(2021, 6, 30)}
    monkeypatch.setattr(release_dates, "released", lambda p, v, index=None: days.get((p, v)))
    assert release_dates.resolve_as_of("2023-03-15", [("yolov5", "7.0.13")]) == \
        ("2023-10-17", "yolov5==7.0.13's release; the stack's era is 2023-03-15")
    assert release_dates.resolve_as_of("2021-03-04", [("timm", "0.4.12")])[0] == "2021-07-01"
    assert release_dates.resolve_as_of("2025-01-29", [("timm", "0.4.12")]) == ("2025-01-29", "the stack's era")
    assert release_dates.resolve_as_of("2025-01-29", [("unknown", "1.0")]) == ("2025-01-29", "the stack's era")


def test_every_export_stack_declares_its_era_and_a_bad_one_is_refused(tmp_path):
    compat = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")
    assert all(compat.stacks[s].get("era") for s in compat.export_stacks)
    text = (ROOT / "configs" / "compat.yaml").read_text().replace('era: "2021-03-04"', "era: March 2021")
    (tmp_path / "compat.yaml").write_text(text)
    with pytest.raises(ConfigError, match="is not a date YYYY-MM-DD"):
        load_compat(tmp_path / "compat.yaml", ROOT / "envs")


def test_a_release_day_is_read_from_the_index_whatever_the_files_spell_the_name(monkeypatch):
    import io
    import json as _json

    from torch2tf.envs import package_index, release_dates
    files = [{"filename": "segmentation_models_pytorch-0.2.1-py3-none-any.whl", "upload-time": "2021-11-18T09:00:00Z"},
             {"filename": "segmentation_models_pytorch-0.2.1.tar.gz", "upload-time": "2021-11-18T09:01:00Z"},
             {"filename": "segmentation_models_pytorch-0.2.10-py3-none-any.whl", "upload-time": "2023-01-01T00:00:00Z"}]
    seen = []

    def urlopen(request, timeout):
        seen.append(request.full_url)
        return io.BytesIO(_json.dumps({"files": files}).encode())
    monkeypatch.setattr(package_index.urllib.request, "urlopen", urlopen)
    assert str(release_dates.released("segmentation-models-pytorch", "0.2.1")) == "2021-11-18"
    assert seen[0].endswith("/segmentation-models-pytorch/")
    assert release_dates.released("segmentation-models-pytorch", "9.9") is None


LOCK = """--only-binary :all:
--no-binary fire

fire==0.5.0 \\
    --hash=sha256:a6b0d49e98c8963910021f92bba66f65ab440da2982b78eb1bbf95a0a34aacc6
    # via yolov5
Flask_Cors==3.0.10 \\
    --hash=sha256:74efc975af1194fc7891ff5cd85b0f7478be4f7f59fe158102e91abb72bb4438
"""


def test_a_source_only_package_is_built_from_its_own_lock_lines():
    from torch2tf.envs.source_builds import lock_block
    assert lock_block(LOCK, "fire") == ("fire==0.5.0 \\\n    --hash=sha256:a6b0d49e98c8963910021f92bba66f65ab440da2982b78eb1bbf95a0a34aacc6")
    assert lock_block(LOCK, "flask-cors").startswith("Flask_Cors==3.0.10")
    assert lock_block(LOCK, "wget") is None


@pytest.mark.parametrize("code, output, wheel, why", [
    (0, "", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n", None),
    (0, "", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp38-cp38-linux_x86_64\n",
     "it compiles code (its wheel is cp38-cp38-linux_x86_64, not pure Python)"),
    (1, "building 'Levenshtein' extension\nerror: command 'gcc' failed: No such file or directory\n", None,
     "it compiles code (its build failed: error: command 'gcc' failed: No such file or directory)"),
    (1, "src/x.c:1:10: fatal error: Python.h: No such file or directory\n", None, "it compiles code (its build failed: src/x.c"),
    (1, "ModuleNotFoundError: No module named 'numpy'\n", None,
     "its build failed (ModuleNotFoundError: No module named 'numpy')"),
])
def test_a_source_build_that_compiles_or_fails_says_why(code, output, wheel, why):
    from torch2tf.envs.source_builds import verdict
    got = verdict(code, output, wheel)
    assert got == why if why is None or why.endswith(")") else got.startswith(why)


SDIST = "a" * 64


def _fake_build(content: bytes):
    """build_wheel at its seam: writes a wheel of the given bytes (the real one is tested below)."""
    def build(name, sdist_sha256, python, as_of, out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        wheel = out_dir / "fire-0.5.0-py2.py3-none-any.whl"
        wheel.write_bytes(content)
        return wheel, None
    return build


def test_a_wheel_built_from_an_sdist_is_named_in_the_lock_by_its_own_hash(monkeypatch, tmp_path):
    import hashlib

    from torch2tf.envs import source_builds
    monkeypatch.setattr(source_builds, "build_wheel", _fake_build(b"wheel bytes"))
    lock = f"# torch2tf-lock header\n--only-binary :all:\n--no-binary fire\n\nfire==0.5.0 \\\n    --hash=sha256:{SDIST}\n    # via yolov5\n"
    text, built = source_builds.build_into_lock(["fire"], lock, Path("/python"), "2023-10-17", tmp_path, "where")
    wheel_hash = hashlib.sha256(b"wheel bytes").hexdigest()
    assert built == ["fire==0.5.0"]
    assert "--no-binary" not in text and SDIST not in text.split("\n\n", 1)[1]
    assert f"fire==0.5.0 \\\n    --hash=sha256:{wheel_hash}" in text
    (entry,) = source_builds.named_in(text)
    assert (entry.name, entry.version, entry.sdist_sha256, entry.as_of) == ("fire", "0.5.0", SDIST, "2023-10-17")
    # a store that has it installs it; one that has lost it builds it again, the same bytes
    assert source_builds.ensure_wheels(text, Path("/python"), tmp_path, "where") == []
    (tmp_path / entry.file).unlink()
    assert source_builds.ensure_wheels(text, Path("/python"), tmp_path, "where") == [entry.file]


def test_a_wheel_rebuilt_with_other_bytes_is_refused_and_not_kept(monkeypatch, tmp_path):
    from torch2tf.envs import source_builds
    from torch2tf.errors import EnvError
    monkeypatch.setattr(source_builds, "build_wheel", _fake_build(b"built on the lock's machine"))
    lock = f"# h\n--only-binary :all:\n--no-binary fire\n\nfire==0.5.0 \\\n    --hash=sha256:{SDIST}\n"
    text, _ = source_builds.build_into_lock(["fire"], lock, Path("/python"), "2023-10-17", tmp_path / "a", "where")
    monkeypatch.setattr(source_builds, "build_wheel", _fake_build(b"built elsewhere"))
    with pytest.raises(EnvError, match="not reproducible on this machine") as err:
        source_builds.ensure_wheels(text, Path("/python"), tmp_path / "b", "env x")
    assert "lock the config again" in err.value.hint
    assert not list((tmp_path / "b").glob("*.whl"))


def test_the_store_s_wheels_are_offered_to_the_installer_only_when_asked():
    from torch2tf.envs.installers import steps
    plain = steps("uv", Path("/py"), Path("/lock.txt"), Path("/b"), Path("/f"))
    linked = steps("pip", Path("/py"), Path("/lock.txt"), Path("/b"), Path("/f"), find_links=Path("/store/wheels"))
    assert "--find-links" not in plain[1]
    assert linked[1][linked[1].index("--find-links") + 1] == "/store/wheels"


@pytest.mark.envbuild
def test_a_pure_python_sdist_builds_into_the_same_wheel_every_time(tmp_path):
    """Real uv, real index: wget 3.2 (source only) built twice, into byte-identical wheels, stamped as of
    the date given; what lets another machine check the wheel a committed lock names."""
    import hashlib
    import zipfile

    from torch2tf.envs.interpreters import find_interpreter
    from torch2tf.envs.source_builds import build_wheel
    from torch2tf.settings import Settings
    python = find_interpreter("3.8", Settings.from_mapping(None)).path
    sdist = "35e630eca2aa50ce998b9b1a127bb26b30dfee573702782aa982f875e3f16061"   # wget-3.2.zip
    built = [build_wheel("wget", sdist, python, "2021-03-04", tmp_path / str(i)) for i in range(2)]
    assert all(why is None for _, why in built), built
    first, second = (hashlib.sha256(w.read_bytes()).hexdigest() for w, _ in built)
    assert first == second
    with zipfile.ZipFile(built[0][0]) as zf:
        assert {info.date_time[:3] for info in zf.infolist()} == {(2021, 3, 4)}


def test_a_release_whose_wheels_are_for_other_pythons_is_not_taken_for_a_source_only_one(monkeypatch):
    """uv says "no usable wheels" for scipy 1.14.1 on Python 3.8 as for pretrainedmodels: the index tells
    them apart (scipy has wheels, for cp310 and up), so scipy is refused, not built from source."""
    from torch2tf.envs import extras, package_index
    listing = {"scipy": [{"filename": "scipy-1.14.1-cp310-cp310-manylinux_2_17_x86_64.whl"},
                         {"filename": "scipy-1.14.1-cp313-cp313-manylinux_2_17_x86_64.whl"},
                         {"filename": "scipy-1.14.1.tar.gz"}],
               "pretrainedmodels": [{"filename": "pretrainedmodels-0.7.4.tar.gz"}]}
    monkeypatch.setattr(package_index, "files", lambda name, index=None: listing[name])
    reasons = ["Because {0}=={1} has no usable wheels and you require {0}=={1}, we can conclude ..."]
    assert extras._wheels_elsewhere([reasons[0].format("scipy", "1.14.1")], "scipy") == ["cp310", "cp313"]
    assert extras._wheels_elsewhere([reasons[0].format("pretrainedmodels", "0.7.4")], "pretrainedmodels") == []
