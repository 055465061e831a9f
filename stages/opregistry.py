"""opregistry: dump this env's TensorFlow op registry (ops, their attrs, defaults and allowed values)
to registry.json, so graphs can be rewritten to this runtime's real op set. Cached with the env."""

import base64
import json
import os

import _protocol

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {"inputs": {}, "params": {}, "outputs": ["registry"]}


def all_op_defs(tf):
    """Every registered OpDef: the C API list where it exists (TF >= 1.13), else the Python registry."""
    try:
        from tensorflow.python.framework import c_api_util
        return dict(c_api_util.ApiDefMap()._op_per_name)
    except (ImportError, AttributeError):
        from tensorflow.python.framework import op_def_registry
        return dict(op_def_registry.get_registered_ops())


def encode(attr_value):
    return base64.b64encode(attr_value.SerializeToString(deterministic=True)).decode("ascii")


def run(request):
    import tensorflow as tf
    ops = {}
    for name, op in sorted(all_op_defs(tf).items()):
        attrs = {}
        for a in op.attr:
            entry = {"type": a.type}
            if a.HasField("default_value"):
                entry["default"] = encode(a.default_value)
            if a.HasField("allowed_values"):
                entry["allowed"] = encode(a.allowed_values)
            attrs[a.name] = entry
        ops[name] = {"attrs": attrs, "inputs": len(op.input_arg), "outputs": len(op.output_arg)}
    with open(os.path.join(request["output_dir"], "registry.json"), "w") as fh:
        json.dump({"tensorflow": tf.__version__, "ops": ops}, fh, sort_keys=True)
    return {"outputs": {"registry": "registry.json"}, "metrics": {"tensorflow": tf.__version__, "ops": len(ops)}}


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
