"""Plan building for every route kind, checked against the stages' declared contracts; no stack runs.
`--plan` is driven through the fake-env seam of tests/test_stagerun.py (`envs.resolve`)."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from torch2tf.configs.compat import load_compat
from torch2tf.configs.config import load_config
from torch2tf.digests import file_digest
from torch2tf.errors import ConfigError, StageError
from torch2tf.run import contracts
from torch2tf.run.plan import From, PlanOptions, build_plan, check_plan

ROOT = Path(__file__).resolve().parent.parent
STAGES = ROOT / "stages"
COMPAT = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")


def plan_for(config: str, target: str, route: str, **options):
    cfg = load_config(ROOT / "configs" / config)
    plan = build_plan(cfg, target, COMPAT.route(target, route), COMPAT, PlanOptions(**options))
    check_plan(plan, STAGES)
    return plan


def labels(plan) -> list[str]:
    return [s.label for s in plan.steps]


def test_legacy_route_adapts_converts_in_the_runtime_and_publishes_its_graph():
    plan = plan_for("resnet18.yaml", "tf1.4", "onnx-tf-1.1.2-opset7")
    assert labels(plan) == ["export", "adapt", "onnx-check", "convert", "optimize", "verify", "inspect"]
    assert [s.env for s in plan.steps] == ["torch17", "torch17", "torch17", "tf14", "tf14", "tf14", "tf14"]
    adapt = plan.step("adapt")
    assert adapt.params["static_shapes"] == {"input": [1, 3, 224, 224]} and adapt.params["ir_version"] == 3
    assert plan.step("convert").inputs["model"] == From("adapt", "model")
    assert plan.step("onnx-check").inputs["artifact"] == From("adapt", "model")    # adapt's rewrites are checked
    assert plan.opset == 7 and plan.step("export").params["opset"] == 7
    assert plan.published() == {"model.onnx": From("export", "model"), "input.input.npy": From("export", "input.input"),
                                "ref.output.npy": From("export", "ref.output"),
                                "model.adapted.onnx": From("adapt", "model"), "model.pb": From("optimize", "graph")}
    assert plan.step("optimize").env == "tf14" and plan.step("verify").inputs["artifact"] == From("optimize", "graph")
    assert plan.step("optimize").inputs["input.input"] == From("export", "input.input")     # its self-check's feeds
    plain = plan_for("resnet18.yaml", "tf1.4", "onnx-tf-1.1.2-opset7", optimize=False)
    assert "optimize" not in labels(plain) and plain.published()["model.pb"] == From("convert", "graph")


def test_downgrade_route_reads_both_registries_and_verifies_the_downgraded_graph():
    plan = plan_for("resnet18.yaml", "tf1.13", "onnx2tf-downgrade")
    assert labels(plan) == ["export", "onnx-check", "convert", "registry-source", "registry-target", "downgrade",
                            "optimize", "verify", "inspect"]
    down = plan.step("downgrade")
    assert down.env == "tf113" and down.inputs["source_registry"] == From("registry-source", "registry")
    assert plan.step("registry-source").env == "onnx2tf" and plan.step("registry-target").env == "tf113"
    assert plan.step("optimize").inputs["graph"] == From("downgrade", "graph") and plan.step("optimize").env == "tf113"
    assert plan.step("verify").inputs["artifact"] == From("optimize", "graph")
    assert plan.published()["model.pb"] == From("optimize", "graph")
    assert plan.published()["model.converted.pb"] == From("convert", "graph")


def test_tflite_routes_write_a_tflite_and_verify_it_in_litert():
    direct = plan_for("resnet18.yaml", "tflite", "onnx2tf-opset11")
    assert labels(direct) == ["export", "onnx-check", "convert", "verify", "inspect"]
    assert direct.step("convert").stage == "package" and direct.primary == "model.tflite"
    via = plan_for("resnet18.yaml", "tflite", "onnx-tf-1.10-tfliteconverter")
    assert labels(via) == ["export", "onnx-check", "convert", "tflite", "verify", "inspect"]
    assert via.step("verify").params["runtime"] == "tflite"
    assert set(via.published()) >= {"model.tflite", "model.converted.pb"} and "model.pb" not in via.published()


def test_extra_formats_are_packaged_and_each_verified_without_a_stray_converted_graph():
    plan = plan_for("resnet18-serving.yaml", "tf1.15", "onnx-tf-1.5.0-opset10")
    assert labels(plan)[-4:] == ["saved_model", "verify-saved_model", "tflite", "verify-tflite"]
    assert plan.step("saved_model").env == "tf115" and plan.step("tflite").env == COMPAT.readers["tflite"]
    assert plan.step("saved_model").inputs["graph"] == From("optimize", "graph")    # packaged as verified
    # the bug this layout removed: a legacy route with formats [tflite] published model.converted.pb
    assert "model.converted.pb" not in plan.published()
    assert {"model.pb", "saved_model", "model.tflite"} <= set(plan.published())
    checks = {s.check.artifact for s in plan.steps if s.check}
    assert checks == {"model.onnx", "model.pb", "saved_model", "model.tflite"}


def test_every_route_of_every_target_builds_a_plan_its_stages_accept():
    for target in COMPAT.targets:
        for route in COMPAT.routes(target):
            plan = plan_for("multihead.yaml", target, route.name)
            assert plan.steps[0].label == "export" and plan.step("verify").check.artifact == plan.primary


def test_every_export_stack_serves_every_route_and_exports_and_checks_onnx_in_its_own_env():
    cfg = load_config(ROOT / "configs" / "multihead.yaml")
    assert set(COMPAT.export_stacks) == {"torch17", "torch113", "torch25"}
    for stack in COMPAT.export_stacks:
        for target in COMPAT.targets:
            for route in COMPAT.routes(target, stack):
                plan = build_plan(cfg, target, route, COMPAT)
                check_plan(plan, ROOT / "stages")
                assert plan.step("export").env == stack and plan.step("onnx-check").env == stack
                if route.adapt:      # adapt's onnx tools are the default stack's, whatever the export
                    assert plan.step("adapt").env == COMPAT.default_export


def test_export_only_and_opset_override():
    plan = plan_for("resnet18.yaml", "tf1.13", "onnx-tf-1.3.0-opset9", export_only=True, opset=10)
    assert labels(plan) == ["export"] and plan.step("export").params["opset"] == 10


def test_a_request_the_stage_does_not_declare_is_refused_naming_stage_and_key():
    plan = plan_for("resnet18.yaml", "tf1.13", "onnx-tf-1.3.0-opset9")
    steps = list(plan.steps)
    steps[0] = dataclasses.replace(steps[0], params={**steps[0].params, "dynamic_outputs": {}})
    with pytest.raises(StageError, match="stage export: .*unknown param 'dynamic_outputs'"):
        check_plan(dataclasses.replace(plan, steps=tuple(steps)), STAGES)
    steps[0] = dataclasses.replace(plan.steps[0], params={k: v for k, v in plan.steps[0].params.items() if k != "opset"})
    with pytest.raises(StageError, match="missing param 'opset'"):
        check_plan(dataclasses.replace(plan, steps=tuple(steps)), STAGES)


def test_an_input_from_a_later_or_unknown_step_is_refused():
    plan = plan_for("resnet18.yaml", "tf1.13", "onnx-tf-1.3.0-opset9")
    steps = list(plan.steps)
    i = labels(plan).index("onnx-check")
    steps[i] = dataclasses.replace(steps[i], inputs={**steps[i].inputs, "artifact": From("convert", "graph")})
    with pytest.raises(StageError, match="takes convert.graph, which no earlier step gives"):
        check_plan(dataclasses.replace(plan, steps=tuple(steps)), STAGES)


def test_every_stage_declares_a_contract():
    for path in STAGES.glob("[!_]*.py"):
        c = contracts.contract(STAGES, path.stem)
        assert {"inputs", "params", "outputs"} <= set(c) <= {"inputs", "params", "outputs", "choices"}, path.name


def test_a_tflite_target_with_a_tf_format_is_a_config_error(tmp_path):
    text = (ROOT / "configs" / "resnet18-serving.yaml").read_text()
    (tmp_path / "c.yaml").write_text(text)
    cfg = load_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="makes a .tflite"):
        build_plan(cfg, "tflite", COMPAT.route("tflite", "onnx2tf-opset11"), COMPAT)


def test_plan_is_printed_with_cache_expectations_without_running(tmp_path, monkeypatch):
    """--plan through the fake-env seam: no env is built and no stage runs; a warm cache entry shows."""
    from torch2tf.envs.store import Env
    from torch2tf.run import stagerun
    from torch2tf.run.pipeline import Options, describe_plan
    from torch2tf.settings import Settings

    env = Env(name="fake", path=tmp_path / "env", digest="fake00000000")
    monkeypatch.setattr(stagerun.envs, "resolve", lambda spec, settings: (env, None, None))
    monkeypatch.setattr(stagerun.envs, "build", lambda *a, **k: pytest.fail("--plan must not build"))
    settings = Settings(store=tmp_path / "store", artifacts=tmp_path / "artifacts")
    text = describe_plan(ROOT / "configs" / "resnet18.yaml", settings, Options(target="tf1.4", route="onnx2tf-downgrade"))
    assert "via route onnx2tf-downgrade" in text and "[9/9] inspect" in text
    assert "stages/downgrade.py in tf14" in text and "runs (an input is not cached)" in text
    assert "publishes: model.onnx, input.input.npy, ref.output.npy" in text
    assert not (tmp_path / "artifacts").exists()
    # a warm export: fake a cache entry where the runner would look
    runner = stagerun.StageRunner(settings)
    step = build_plan(load_config(ROOT / "configs" / "resnet18.yaml"), "tf1.4",
                      COMPAT.route("tf1.4", "onnx2tf-downgrade"), COMPAT).steps[0]
    key = runner.key("export", "torch17", {}, step.params)
    entry = settings.store / "cache" / "export" / key[:2] / key
    entry.mkdir(parents=True)
    outputs = {}
    for out_key, name in step.publishes.items():
        (entry / name).write_text(f"fake {out_key}")
        outputs[out_key] = {"path": name, "sha256": file_digest(entry / name)}
    (entry / "result.json").write_text(json.dumps({"status": "ok", "outputs": outputs}))
    text = describe_plan(ROOT / "configs" / "resnet18.yaml", settings, Options(target="tf1.4", route="onnx2tf-downgrade"))
    assert "[1/9] export          stages/export.py in torch17  cached" in text
    assert textwrap.dedent(text).count(" runs") >= 6
