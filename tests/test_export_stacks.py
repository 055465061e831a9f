"""Export stacks: model.torch picks one, compat.yaml declares each converter once and names an
export env at most once, and the shipped measurements' route identities survived the rework."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from torch2tf import routing
from torch2tf.configs.compat import load_compat
from torch2tf.configs.config import load_config
from torch2tf.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
COMPAT = load_compat(ROOT / "configs" / "compat.yaml", ROOT / "envs")


def config(tmp_path: Path, torch_line: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"name: c\nmodel: {{factory: torchvision.models:resnet18{torch_line}}}\n"
                    "inputs: [{name: input, shape: [1, 3, 64, 64]}]\noutputs: [output]\ntarget: tf1.13\n")
    return path


@pytest.mark.parametrize("value, stack", [("1.13", "torch113"), ("2", "torch25"), ("2.5.1", "torch25"),
                                          ("1.7", "torch17"), (None, "torch17")])
def test_model_torch_is_a_version_prefix_of_one_stack(value, stack):
    assert COMPAT.export_stack(value) == stack


def test_an_unquoted_yaml_number_is_read_as_written(tmp_path):
    cfg = load_config(config(tmp_path, ", torch: 1.13"))
    assert cfg.model.torch == "1.13" and routing.export_stack(COMPAT, cfg) == "torch113"


@pytest.mark.parametrize("value, message", [("3", "no export stack has torch '3'"),
                                            ("1", "matches several export stacks: torch17, torch113"),
                                            ("1.8", "no export stack has torch '1.8'")])
def test_an_unknown_or_ambiguous_torch_lists_the_stacks(tmp_path, value, message):
    cfg = load_config(config(tmp_path, f", torch: \"{value}\""))
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        routing.export_stack(COMPAT, cfg)
    assert "model.torch" in err.value.where and "1.13.1 (torch113)" in err.value.hint


def test_a_torch_value_that_is_no_version_is_refused_where_written(tmp_path):
    with pytest.raises(ConfigError, match="not a version prefix") as err:
        load_config(config(tmp_path, ", torch: latest"))
    assert err.value.where.endswith("model.torch")


def test_every_route_exports_in_the_models_stack_and_keeps_its_converter():
    for target in COMPAT.targets:
        default = {r.name: r for r in COMPAT.routes(target)}
        for stack in COMPAT.export_stacks:
            for r in COMPAT.routes(target, stack):
                assert r.export.env == stack
                assert (r.convert, r.adapt, r.opset) == (default[r.name].convert, default[r.name].adapt,
                                                         default[r.name].opset)
                assert (r.digest == default[r.name].digest) == (stack == COMPAT.default_export)


def test_compat_yaml_names_each_export_env_once_and_no_route_names_one():
    text = (ROOT / "configs" / "compat.yaml").read_text()
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    for stack in COMPAT.export_stacks:
        assert len(re.findall(rf"\b{stack}\b", code)) == 1, stack
    assert not re.search(r"\bexport:", code)


def test_the_shipped_measurements_still_name_todays_routes():
    """Route identities are what measurements are keyed by: the rework must keep every one."""
    cells = json.loads((ROOT / routing.SHIPPED).read_text())["cells"]
    digests = {(t, r.name, r.digest) for t in COMPAT.targets for s in COMPAT.export_stacks
               for r in COMPAT.routes(t, s)}
    stale = [(c["target"], c["route"]) for c in cells if (c["target"], c["route"], c["route_digest"]) not in digests]
    assert not stale and len(cells) >= 240


def test_adapt_derives_the_ir_version_from_the_opset_it_hands_on():
    r7 = COMPAT.route("tf1.4", "onnx-tf-1.1.2-opset9to7")
    assert r7.adapt.params["ir_version"] == 3 and r7.adapt.params["opset"] == 7 and r7.adapt.params["nearest_upsample"]
    assert COMPAT.route("tf1.15", "onnx-tf-1.5.0-opset11").adapt.params["ir_version"] == 6
    assert COMPAT.route("tf1.13", "onnx2tf-downgrade").adapt is None


def test_a_route_naming_an_unknown_converter_or_rewrite_is_refused(tmp_path):
    base = (ROOT / "configs" / "compat.yaml").read_text()
    for old, new, message in [("converter: onnx-tf-1.3.0, opset: 9}", "converter: onnx-tf-1.3, opset: 9}",
                               "unknown converter 'onnx-tf-1.3'"),
                              ("adapt: [nearest_upsample]", "adapt: [nearest_upsampling]",
                               "unknown adapt rewrite 'nearest_upsampling'"),
                              ("      - onnx2tf-downgrade\n", "      - onnx2tf-dowgrade\n",
                               "no shared route 'onnx2tf-dowgrade'")]:
        (tmp_path / "compat.yaml").write_text(base.replace(old, new, 1))
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_compat(tmp_path / "compat.yaml", ROOT / "envs")


def test_every_stacks_measurements_rank_a_models_routes_and_each_route_exports_in_its_own_stack(tmp_path):
    from torch2tf.settings import Settings
    cfg = load_config(ROOT / "configs" / "modern" / "mobilenet_v3_small.yaml")
    settings = Settings(artifacts=tmp_path)       # no local matrix results: the shipped ones only
    ranked = routing.candidates(COMPAT, cfg, "tf1.4", None, settings)
    assert all(r.export.env == "torch113" for r, _ in ranked)
    # the shipped cells of every export stack count (by route name and a current definition)
    torch17 = [c for c in routing.measured_cells(settings) if c.get("export_stack") == "torch17"
               and c["target"] == "tf1.4"]
    assert torch17 and all("matrix models" in why and "nothing measured" not in why for _, why in ranked)


def test_the_matrix_runs_each_model_in_its_configs_stack():
    from torch2tf.matrix.cells import select
    from torch2tf.settings import Settings
    cells = select(Settings(), models=["mobilenet_v3", "sdpa", "resnet18"], targets=["tf1.4"])
    stacks = {c.model: c.export_stack for c in cells}
    assert stacks == {"mobilenet_v3": "torch113", "sdpa": "torch25", "resnet18": "torch17"}
    by_route = {(c.model, c.route): c.route_digest for c in cells}
    assert by_route[("sdpa", "onnx2tf-downgrade")] != by_route[("resnet18", "onnx2tf-downgrade")]


def test_the_docs_label_each_model_with_its_stack():
    from torch2tf.matrix.render import render_markdown
    cell = {"target": "tf1.4", "route": "r", "status": "passed", "max_abs_diff": 1e-7}
    text = render_markdown({"generated": "now", "cells": [{**cell, "model": "a", "export_stack": "torch25"},
                                                          {**cell, "model": "b"}]})
    assert "| a · torch25 |" in text and "| b |" in text


def test_converter_tools_and_layouts_are_the_convert_stages_declared_choices(tmp_path):
    from torch2tf.configs.compat import stage_sets
    from torch2tf.run import contracts
    sets = stage_sets(ROOT / "stages")
    assert sets["tool"] == {"onnx-tf", "onnx2tf"} and sets["layout"] == {"nchw", "nhwc"}
    base = (ROOT / "configs" / "compat.yaml").read_text()
    (tmp_path / "compat.yaml").write_text(base.replace("tool: onnx2tf", "tool: tf2onnx", 1))
    with pytest.raises(ConfigError, match="unknown converter tool 'tf2onnx'"):
        load_compat(tmp_path / "compat.yaml", ROOT / "envs")
    with pytest.raises(Exception, match="param 'tool' is 'tf2onnx', not one of onnx-tf, onnx2tf"):
        contracts.check(ROOT / "stages", "convert", {"model": "<from>"},
                        {"tool": "tf2onnx", "layout": "nchw", "inputs": [], "outputs": []}, "here")
