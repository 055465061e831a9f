"""Strict reading of YAML mappings: unknown keys are errors naming the file, the key and a guess."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from torch2tf.errors import ConfigError


def load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}", where=str(path)) from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory, not a YAML file", where=str(path),
                          hint="name one file; `invoke batch --configs 'dir/*.yaml'` takes many") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}): is it a YAML file?", where=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror}", where=str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", where=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a YAML mapping", where=str(path))
    return data


def check_keys(data: Any, allowed: set[str], where: str, required: set[str] = frozenset()) -> dict:
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping, got {type(data).__name__}", where=where)
    for key in data:
        if key not in allowed:
            guess = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            raise ConfigError(f"unknown key {key!r}", where=f"{where}.{key}",
                              hint=(f"did you mean {guess[0]!r}? " if guess else "")
                              + f"allowed keys: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(data))
    if missing:
        raise ConfigError(f"missing required key(s): {', '.join(missing)}", where=where)
    return data


def typed(value: Any, kind: type | tuple, where: str, what: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{what} must be a number, got {value!r}", where=where)
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{what} must be {name}, got {value!r}", where=where)
    return value
