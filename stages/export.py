"""export: PyTorch model -> model.onnx, plus the inputs and PyTorch's outputs as .npy references.

Runs in an export stack (torch17: Python 3.8, torch 1.7.1; torch113; torch25: Python 3.11, torch 2.5),
the one the config's model.torch picks; kept 3.6-compatible like every stage.
"""

import importlib
import importlib.util
import os
import pickle
import re
import sys
import types

import _protocol
import _shims
from _inputs import make_input, torch_index_bound
import numpy as np
from _protocol import ModelFailure, StageFailure

# what this stage takes and gives (checked by _protocol.main; read by the host too)
CONTRACT = {
    "inputs": {"model_file": False, "weights": False, "sample.*": False},
    "params": {"factory": True, "kwargs": True, "seed": True, "opset": True, "inputs": True, "outputs": True,
               "keep_initializers_as_inputs": True, "runs": True, "trust_weights": True},
    "outputs": ["model", "input.*", "ref.*"],
}

THREADS, WARMUP = 1, 3        # as in verify: latencies compare like with like


def load_factory(factory, model_file):
    """'module:callable' or, with model_file given, the callable from that Python file."""
    module_name, _, attr = factory.rpartition(":")
    try:
        if model_file:
            sys.path.insert(0, os.path.dirname(model_file))   # let the file import its siblings
            spec = importlib.util.spec_from_file_location("torch2tf_user_model", model_file)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        if model_file or (exc.name or "") != module_name.split(".")[0]:   # not a typo in the factory's own module
            raise missing_module("importing the model module %r" % (model_file or module_name), exc)
        raise ModelFailure("cannot import the model module %r: %s: %s" % (module_name, type(exc).__name__, exc),
                           hint="check model.factory in the config", kind="ModelImportError")
    except Exception as exc:
        raise ModelFailure("cannot import the model module %r: %s: %s"
                           % (model_file or module_name, type(exc).__name__, exc),
                           hint="check model.factory in the config; the module must import in the "
                                "export env (%s)" % stack_versions(), kind="ModelImportError")
    try:
        found = module
        for part in attr.split("."):       # a classmethod too: 'efficientnet_pytorch:EfficientNet.from_name'
            found = getattr(found, part)
        return found
    except AttributeError:
        # the host turns this kind into a hint naming the export stack that has it, if one does
        raise ModelFailure("%r has no callable %r (in %s)" % (model_file or module_name, attr, stack_versions()),
                           hint="model.factory is 'module:callable' or 'file.py:callable'",
                           kind="FactoryMissing")


def stack_versions():
    """'torch X, torchvision Y' of this env, for messages."""
    found = []
    for name in ("torch", "torchvision"):
        try:
            found.append("%s %s" % (name, importlib.import_module(name).__version__))
        except Exception:  # noqa: BLE001 - a message helper must not fail
            pass
    return ", ".join(found) or "no torch"


# modules that moved out of, or were dropped by, the package that used to bring them: what to pin
MOVED_MODULES = {
    "pkg_resources": "setuptools<81 (setuptools 81 and later have no pkg_resources): `setuptools==80.9.0`",
    "distutils": "setuptools (Python 3.12 dropped distutils; setuptools provides it): `setuptools==69.5.1`",
    "imp": "nothing: Python 3.12 dropped imp; use a stack with an older Python (model.torch)",
    "cv2": "opencv-python-headless (the module cv2): `opencv-python-headless==4.8.1.78`",
    "yaml": "PyYAML (the module yaml): `PyYAML==6.0.1`",
    "PIL": "pillow (the module PIL)",
    "sklearn": "scikit-learn (the module sklearn)",
}


def missing_module(doing, exc):
    name = (exc.name or str(exc)).split(".")[0]
    moved = MOVED_MODULES.get(name)
    package = ("its package is %s" % moved) if moved else "add its package, pinned"
    return ModelFailure("%s failed: %s: %s" % (doing, type(exc).__name__, exc),
                        hint="the export env has no module %r: %s, in the config's "
                             "`model.requirements: [<package>==<version>]` (an env for this model's export, "
                             "locked beside the config)" % (name, package), kind="MissingModule")


class WeightsUnpickler(pickle.Unpickler):
    """Only what a checkpoint of tensors needs (torch 1.7's torch.load has no weights_only): tensor
    and storage rebuilders, storage types, plain containers. Anything else could run code on load."""

    SAFE = {("collections", "OrderedDict"), ("torch", "Size"), ("torch", "device"), ("builtins", "set"),
            ("builtins", "frozenset"), ("builtins", "slice"), ("torch._utils", "_rebuild_tensor_v2"),
            ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_tensor"), ("torch", "float32"),
            ("torch", "float16"), ("torch", "int64"), ("torch.storage", "_load_from_bytes")}

    def find_class(self, module, name):
        if (module, name) in self.SAFE or (module == "torch" and name.endswith("Storage")):
            return pickle.Unpickler.find_class(self, module, name)
        raise pickle.UnpicklingError("%s.%s" % (module, name))


def _restricted_pickle():
    """A pickle module for torch.load's pickle_module= that unpickles with WeightsUnpickler."""
    def load(fh, **kwargs):
        return WeightsUnpickler(fh, **kwargs).load()
    return types.SimpleNamespace(Unpickler=WeightsUnpickler, load=load, __name__="torch2tf_weights_pickle")


def _plain(text):
    """torch 2.x colours parts of its messages with terminal escapes; a message here is plain text."""
    import re
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _has_kwarg(fn, name):
    import inspect
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def read_weights(path, torch, trust):
    """The checkpoint's content; refuses Python objects beyond tensors unless the config trusts the file.
    torch >= 1.13 has its own restricted loader (weights_only=True, the default from 2.6); 1.7 gets ours."""
    safe_loader = _has_kwarg(torch.load, "weights_only")
    try:
        if trust:
            _protocol.log("WARNING: model.trust_weights: unpickling %s fully; it can run any code" % path)
            return torch.load(path, map_location="cpu", **({"weights_only": False} if safe_loader else {}))
        if safe_loader:
            return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", pickle_module=_restricted_pickle())
    except pickle.UnpicklingError as exc:
        if not trust and (("." in str(exc) and " " not in str(exc)) or "Weights only load failed" in str(exc)):
            raise ModelFailure("weights file %s holds Python objects beyond tensors and containers (%s); "
                               "loading it would run its code" % (path, _plain(str(exc).strip().splitlines()[0])),
                               hint="save only the state_dict (torch.save(model.state_dict(), path)), or, if you "
                                    "trust the file, set model.trust_weights: true", kind="UnsafeWeights")
        raise ModelFailure("cannot read weights file %s: %s" % (path, exc), kind="WeightsError",
                           hint="is it a torch.save checkpoint, whole (not truncated)?")
    except Exception as exc:  # noqa: BLE001 - truncated zips, random bytes, EOF: all name the file
        raise ModelFailure("cannot read weights file %s: %s: %s" % (path, type(exc).__name__, exc),
                           kind="WeightsError", hint="is it a torch.save checkpoint, whole (not truncated)?")


def load_weights(model, path, torch, trust=False):
    blob = read_weights(path, torch, trust)
    if isinstance(blob, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(blob.get(key), dict):
                blob = blob[key]
                break
    if not isinstance(blob, dict):
        raise ModelFailure("weights file %s holds a %s, not a state_dict" % (path, type(blob).__name__),
                           hint="save with torch.save(model.state_dict(), path)", kind="WeightsError")
    state = {}
    for k, v in blob.items():
        state[k[len("module."):] if k.startswith("module.") else k] = v   # DataParallel prefix
    expected = set(model.state_dict().keys())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise ModelFailure("weights %s do not match the model: missing keys %s; unexpected keys %s"
                           % (path, missing[:20], unexpected[:20]),
                           hint="check model.factory / model.kwargs match the checkpoint's architecture",
                           kind="WeightsMismatch")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFailure("weights %s do not fit the model: %s" % (path, exc),
                           hint="a tensor shape differs: check model.kwargs (e.g. num_classes)",
                           kind="WeightsMismatch")


def forward(model, tensors, specs):
    """The model on the example inputs; a failure here is the model's (or the config's shapes), on any route."""
    try:
        return model(*tensors)
    except Exception as exc:  # noqa: BLE001 - whatever the model raises, it is the model's message
        shapes = ", ".join("%s %s %s" % (s["name"], list(s["shape"]), s.get("dtype", "float32")) for s in specs)
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ModelFailure("the model's forward on the example inputs (%s) failed: %s: %s"
                           % (shapes, type(exc).__name__, first),
                           hint="check inputs[] in the config (shape, dtype, count) against what the model's "
                                "forward expects", kind="ForwardError", cause="%s: %s" % (type(exc).__name__, first))


def flatten_outputs(out, torch):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in flatten_outputs(v, torch)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in flatten_outputs(v, torch)]
    raise ModelFailure("the model returned a %s; only tensors and lists/tuples/dicts of tensors export"
                       % type(out).__name__, kind="OutputError")


def describe_outputs(out, torch):
    """What a forward returned, for a count that does not match: its type, and its keys / fields in the
    order the outputs are flattened (a dict or an HF ModelOutput by its values, a namedtuple by its fields)."""
    kind = type(out).__name__
    if isinstance(out, dict):
        keys = ["%s (%d)" % (k, len(flatten_outputs(v, torch))) if not isinstance(v, torch.Tensor) else str(k)
                for k, v in out.items()]
        return "a %s with keys %s" % (kind if kind == "dict" else kind + " (a dict)", ", ".join(keys))
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        return "a %s (a namedtuple) with fields %s" % (kind, ", ".join(out._fields))
    if isinstance(out, (list, tuple)):
        return "a %s of %d" % (kind, len(out))
    return "a %s" % kind


def run(request):
    import torch
    params = request["params"]
    inputs = request["inputs"]
    out_dir = request["output_dir"]
    torch.manual_seed(params["seed"])
    rng = np.random.RandomState(params["seed"])
    build = load_factory(params["factory"], inputs.get("model_file"))
    try:
        model = build(**params["kwargs"])
    except ImportError as exc:        # the model's code needs a package the export env lacks: not the kwargs
        raise missing_module("building the model %s(**%s)" % (params["factory"], params["kwargs"]), exc)
    except Exception as exc:
        raise ModelFailure("building the model %s(**%s) failed: %s: %s"
                           % (params["factory"], params["kwargs"], type(exc).__name__, exc),
                           hint="check model.kwargs in the config", kind="ModelImportError")
    if not isinstance(model, torch.nn.Module):
        raise ModelFailure("model.factory %s returned a %s, not a torch.nn.Module"
                           % (params["factory"], type(model).__name__),
                           hint="the factory must build and return the model (e.g. `return Net()`)",
                           kind="ModelImportError")
    if inputs.get("weights"):
        load_weights(model, inputs["weights"], torch, params["trust_weights"])
    model.eval()

    bound = torch_index_bound(model, torch)
    arrays = [make_input(spec, inputs.get("sample." + spec["name"]), rng, bound) for spec in params["inputs"]]
    tensors = tuple(torch.from_numpy(a) for a in arrays)
    with torch.no_grad():
        returned = forward(model, tensors, params["inputs"])
    refs = flatten_outputs(returned, torch)
    names = params["outputs"]
    if len(refs) != len(names):
        raise ModelFailure("the model returns %d output(s) but the config names %d: %s; its forward returns %s"
                           % (len(refs), len(names), names, describe_outputs(returned, torch)),
                           hint="list one name per tensor under `outputs:`, in that order; to keep only some, "
                                "export a wrapper whose forward returns them (model.factory pointing at a "
                                "function that builds it)", kind="ConfigMismatch")

    sensitivity = input_sensitivity(model, params["inputs"], refs, names, rng, torch)
    onnx_path = os.path.join(out_dir, "model.onnx")
    shims = export_onnx(model, tensors, onnx_path, names, params, torch)

    outputs = {"model": "model.onnx"}
    for spec, arr in zip(params["inputs"], arrays):
        np.save(os.path.join(out_dir, "input.%s.npy" % spec["name"]), arr)
        outputs["input." + spec["name"]] = "input.%s.npy" % spec["name"]
    for name, ref in zip(names, refs):
        np.save(os.path.join(out_dir, "ref.%s.npy" % name), ref.numpy())
        outputs["ref." + name] = "ref.%s.npy" % name
    _protocol.log("exported %s at opset %d%s" % (params["factory"], params["opset"],
                                                 "; shims: %s" % ", ".join(sorted(shims)) if shims else ""))
    return {"outputs": outputs, "metrics": {"torch": torch.__version__, "opset": params["opset"],
                                            "shims": sorted(shims), "input_sensitivity": sensitivity,
                                            "latency_ms": eager_latency(model, tensors, torch, params)}}


def input_sensitivity(model, specs, refs, names, rng, torch):
    """Per output, how far a second random input moves it (max abs): the host marks a check weak
    when that is within the tolerance, since a graph that ignored its input would then pass."""
    bound = torch_index_bound(model, torch)
    second = tuple(torch.from_numpy(make_input(spec, None, rng, bound)) for spec in specs)
    with torch.no_grad():
        others = flatten_outputs(model(*second), torch)
    return dict((name, float((a.double() - b.double()).abs().max()) if a.numel() else 0.0)
                for name, a, b in zip(names, refs, others))


def export_onnx(model, tensors, onnx_path, names, params, torch):
    """torch.onnx.export with the shims; returns the names of the shims the export used."""
    dynamic = {}
    for spec in params["inputs"]:
        if spec.get("dynamic"):
            dynamic[spec["name"]] = dict((int(k), v) for k, v in spec["dynamic"].items())
    shims = set()      # run() took the references from the unmodified model: only the export is shimmed
    # torch >= 2.5 has a second (dynamo) exporter, the default from 2.9: the routes need the TorchScript one
    exporter = {"dynamo": False} if _has_kwarg(torch.onnx.export, "dynamo") else {}
    try:
        with _shims.export_shims(torch, shims):
            torch.onnx.export(model, tensors, onnx_path, opset_version=params["opset"],
                              input_names=[s["name"] for s in params["inputs"]], output_names=names,
                              dynamic_axes=dynamic or None, do_constant_folding=True,
                              keep_initializers_as_inputs=params["keep_initializers_as_inputs"], **exporter)
    except Exception as exc:
        msg = "%s: %s" % (type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        # no --opset advice: a route's converter reads only its own opsets; another route may export higher
        hint = ("torch %s has no ONNX form of this at opset %d: take a route of the target that exports at a "
                "higher opset (leave route: out to let torch2tf try them; routes in configs/compat.yaml), another "
                "export stack (model.torch), or replace the op in the model" % (torch.__version__, params["opset"]))
        if "step!=1" in str(exc):
            hint = ("strided slicing needs opset >= 10: take a route that exports at 10 or more (for TF 1.4: "
                    "onnx2tf-downgrade)")
        python_op = re.search(r"Couldn't export Python operator (\w+)", str(exc))
        if python_op:       # a torch.autograd.Function: no opset has it, so no other route would do better
            raise ModelFailure("torch.onnx.export failed: %s" % msg, kind="PythonOperator", cause=msg,
                               hint="the model computes %s with a torch.autograd.Function, which has no ONNX form "
                                    "at any opset: build it with the plain-op variant (efficientnet_pytorch: "
                                    "model.set_swish(memory_efficient=False)) in a factory file" % python_op.group(1))
        raise StageFailure("torch.onnx.export at opset %s failed: %s" % (params["opset"], msg), hint=hint,
                           kind="ExportError", cause=msg)
    return shims


def eager_latency(model, tensors, torch, params):
    """PyTorch eager CPU latency on the same input and thread count the verify stages use."""
    import time
    torch.set_num_threads(THREADS)
    samples = []
    with torch.no_grad():
        for i in range(WARMUP + params["runs"]):
            t0 = time.perf_counter()
            model(*tensors)
            if i >= WARMUP:
                samples.append(time.perf_counter() - t0)
    return float(np.median(samples)) * 1000.0


if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
