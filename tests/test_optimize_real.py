"""The optimize stage's rules in the real TF 1.4.1, 1.13.1 and 1.15.5: small graphs in onnx-tf's shapes
(tests/optimize_cases.py builds them in the env), optimized by the stage's own code, run before and
after in that runtime. Each case names what its rule must have removed; every case must keep the numbers."""

from __future__ import annotations

import json

import pytest

from torch2tf import proc
from torch2tf.envs import store as envs
from torch2tf.settings import Settings

from conftest import ROOT

pytestmark = pytest.mark.stack


def run_cases(env_name: str) -> dict:
    env = envs.get(env_name, Settings())
    res = proc.run([env.python, ROOT / "tests" / "optimize_cases.py", ROOT / "stages"], env=env.environ(), capture=True)
    assert res.returncode == 0, res.stderr[-3000:]
    return {c["case"]: c for c in (json.loads(line) for line in res.stdout.splitlines() if line.startswith("{"))}


@pytest.mark.parametrize("env_name", ["tf14", "tf113", "tf115"])
def test_each_rule_removes_its_overhead_and_keeps_the_numbers(env_name):
    cases = run_cases(env_name)
    assert set(cases) == {"resnet_block", "concat_slice_split", "strided_pads", "maxpool_pad",
                          "matmul_bias_and_dead_output", "split_depthwise", "strided_depthwise", "detect_head",
                          "group_norm"}
    for name, c in cases.items():
        assert c["rel_diff"] < 1e-6, (name, c)
    # conv -> (BN) -> relu -> conv: the Transposes between the convs cancel; what is left is the input's
    # NCHW->NHWC and the one before the residual sum with the (NCHW) input; stride-1 pads become SAME
    block = cases["resnet_block"]
    assert block["before"]["transposes"] == 4 and block["after"]["transposes"] == 2
    assert block["after"]["pads"] == 0 and block["rewrites"]["fold_pad"] == 2 and "Pad" not in block["ops"]
    assert block["rewrites"]["bias_add"] == 2
    # Split / StridedSlice / ConcatV2 / Relu6 take the NHWC tensor with their axes, begins and masks remapped
    mixed = cases["concat_slice_split"]
    assert mixed["after"]["transposes"] == 2 and mixed["rewrites"]["push_transposes"] >= 5
    assert {"Split", "StridedSlice", "ConcatV2"} <= set(mixed["ops"])
    assert mixed["rewrites"]["clip_as_relu6"] == 1 and not {"Maximum", "Minimum"} & set(mixed["ops"])
    # a pad of the lowest float before a MaxPool is SAME pooling
    pool = cases["maxpool_pad"]
    assert pool["after"]["pads"] == 0 and "PadV2" not in pool["ops"]
    # a stride-2 pad of 1 is not SAME's: kept where the runtime's Conv2D has no explicit paddings (< 1.14)
    strided = cases["strided_pads"]
    if "Conv2D" in strided["explicit"]:
        assert strided["padding"] == ["EXPLICIT"] and strided["after"]["pads"] == 0
    else:
        assert env_name != "tf115" and strided["after"]["pads"] == 1 and strided["padding"] == ["VALID"]
        # that Pad is the model's padding (a native graph pads there too), traced apart from layout overhead
        assert strided["trace"]["kinds"]["Pad"] == "padding" and "Pad" not in strided["trace"]["overhead"]
    # the Transposes the block keeps (input and residual) are layout overhead in the trace
    kinds = block["trace"]["kinds"]
    assert kinds["Transpose"] == "layout" and "Pad" not in kinds and "Transpose" in block["trace"]["overhead"]
    # strided depthwise convs padded on both sides: SAME with a kernel one larger (a zero tap after), or
    # the runtime's explicit paddings; no Pad's copy either way
    sdw = cases["strided_depthwise"]
    assert sdw["after"]["pads"] == 0 and sdw["rewrites"]["fold_pad"] == 2
    assert sdw["padding"] == (["EXPLICIT"] if "DepthwiseConv2dNative" in sdw["explicit"] else ["SAME"])
    # a detection head's Transpose back to NCHW, Reshape and permute: one Reshape and one Transpose
    head = cases["detect_head"]
    assert head["rewrites"]["transpose_through_reshape"] == 1 and head["after"]["transposes"] == 2, head
    # the split depthwise conv is one DepthwiseConv2dNative again, its pad folded (SAME), its bias a BiasAdd
    dw = cases["split_depthwise"]
    assert dw["rewrites"]["merge_depthwise"] == 1 and "DepthwiseConv2dNative" in dw["ops"]
    assert not {"Split", "Conv2D", "ConcatV2", "Pad"} & set(dw["ops"]) and "BiasAdd" in dw["ops"]
    # a GroupNorm between two convs: its groups taken on the NHWC tensor, no Transpose left around it
    gn = cases["group_norm"]
    assert gn["rewrites"]["group_norm_channels_last"] == 1 and gn["before"]["transposes"] == 4, gn
    assert gn["after"]["transposes"] == 2, gn        # the input's and the output's, as in resnet_block
    dense = cases["matmul_bias_and_dead_output"]
    assert "BiasAdd" in dense["ops"] and dense["rewrites"]["prune"] == 1 and dense["after"]["nodes"] < dense["before"]["nodes"]
