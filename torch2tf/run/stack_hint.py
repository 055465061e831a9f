"""When a factory is missing from the chosen export stack's packages ("torchvision.models has no
callable mobilenet_v3_small" in torchvision 0.8), say which other export stack has it and the
model.torch value that picks it. Asks each other built export env; unbuilt ones are only named."""

from __future__ import annotations

from torch2tf import proc
from torch2tf.configs.compat import Compat
from torch2tf.configs.config import PipelineConfig
from torch2tf.envs import store
from torch2tf.envs.specs import load_spec
from torch2tf.errors import Torch2TFError
from torch2tf.settings import Settings

# prints 1 when module:attr exists in this env; anything else (an import error, a crash) is a no
PROBE = ("import importlib, sys\n"
         "module, _, attr = sys.argv[1].rpartition(':')\n"
         "print(int(hasattr(importlib.import_module(module), attr)))\n")
PROBE_TIMEOUT = 120


def _has(env: store.Env, factory: str) -> bool:
    try:
        done = proc.run([env.python, "-c", PROBE, factory], env=env.environ(), capture=True, timeout=PROBE_TIMEOUT)
    except Exception:  # noqa: BLE001 - a hint must never replace the error it explains
        return False
    return done.returncode == 0 and done.stdout.strip() == "1"


def torch_value(version: str) -> str:
    """The shortest model.torch prefix naming a torch version: "1.13.1" -> "1.13"."""
    return ".".join(version.split(".")[:2])


def factory_hint(compat: Compat, cfg: PipelineConfig, chosen: str, settings: Settings) -> str | None:
    """Where the config's factory exists instead, for the hint; None when no other stack is known to."""
    if cfg.model.model_file:
        return None             # a model file's callable is the file's, not a package's
    found, unchecked = [], []
    for name, version in compat.export_stacks.items():
        if name == chosen:
            continue
        try:
            env, _, _ = store.resolve(load_spec(settings.envs_dir / f"{name}.yml"), settings)
        except Torch2TFError:
            continue
        if not env.is_built():
            unchecked.append(f"{name} (torch {version}, model.torch: \"{torch_value(version)}\")")
        elif _has(env, cfg.model.factory):
            found.append(f"export stack {name} has it (torch {version}): set model.torch: "
                         f"\"{torch_value(version)}\" in the config")
    if found:
        return "; ".join(found)
    if unchecked:
        return ("it may exist in a newer export stack (not built here, so not checked): " + ", ".join(unchecked))
    return None
