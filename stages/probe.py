"""Import the env's stack and report the versions it really imports (python, tf, onnx, ...)."""

import importlib
import platform

import _protocol

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {"inputs": {}, "params": {"modules": False, "required": False}, "outputs": []}

MODULES = ["numpy", "google.protobuf", "onnx", "onnx_tf", "tensorflow", "torch", "torchvision",
           "onnxruntime", "onnx2tf", "tensorflow_addons", "tensorflow_probability", "ai_edge_litert"]


DISTRIBUTIONS = {"onnx_tf": "onnx-tf", "google.protobuf": "protobuf"}


def _dist_version(module):
    """Version from the installed distribution, for packages without __version__ (onnx-tf 1.1.2)."""
    try:
        from importlib import metadata
    except ImportError:  # Python 3.6/3.7: the backport the TF 1.x locks carry
        try:
            import importlib_metadata as metadata
        except ImportError:
            return "?"
    try:
        return metadata.version(DISTRIBUTIONS.get(module, module))
    except Exception:  # noqa: BLE001 - any lookup failure just means unknown
        return "?"


def run(request):
    wanted = request["params"].get("modules") or MODULES
    required = set(request["params"].get("required", []))
    versions = {"python": platform.python_version()}
    for name in wanted:
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:
            if name in required:
                raise _protocol.StageFailure("required module %s does not import: %s" % (name, exc),
                                             hint="rebuild the env: invoke env.build --fresh --name <env>")
            continue
        versions[name] = getattr(mod, "__version__", None) or _dist_version(name)
    return {"metrics": {"versions": versions}}


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
