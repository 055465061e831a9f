"""Putting a hashed lock into a fresh venv: uv (the default, fast) or pip (the fallback).

Both install exactly the lock's pins with --require-hashes into `build_dir`, which the caller then
renames to `final_dir`; both leave a venv that works from `final_dir`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from torch2tf import proc
from torch2tf.errors import EnvError

INSTALLERS = ("uv", "pip")


def pick(requested: str | None) -> str:
    """TORCH2TF_INSTALLER, else `requested` (torch2tf.installer), else uv when it is there, else pip
    (the environment variable wins, as TORCH2TF_STORE does over invoke.yaml)."""
    choice = os.environ.get("TORCH2TF_INSTALLER") or requested or None
    if choice and choice not in INSTALLERS:
        raise EnvError(f"unknown installer {choice!r}", where="torch2tf.installer / TORCH2TF_INSTALLER",
                       hint=f"one of {', '.join(INSTALLERS)}")
    if choice:
        return choice
    try:
        from torch2tf.hosttools import uv_bin
        uv_bin()
        return "uv"
    except EnvError:
        return "pip"


def steps(installer: str, python: Path, lock: Path, build_dir: Path, final_dir: Path,
          find_links: Path | None = None) -> list[list[str]]:
    """The commands that make the venv and install the lock into it (`find_links`: the store's wheels
    built from sdists, which the lock names by hash)."""
    target_python = str(build_dir / "bin" / "python")
    links = ["--find-links", str(find_links)] if find_links else []
    if installer == "uv":
        from torch2tf.hosttools import uv_bin
        uv = uv_bin()
        # --relocatable: entry-point scripts find their python relative to themselves, so the
        # finished venv can be renamed from its build dir into place.
        return [[uv, "venv", "--relocatable", "--python", str(python), str(build_dir)],
                [uv, "pip", "sync", "--python", target_python, "--require-hashes", *links, str(lock)]]
    # --no-deps: the lock already holds every transitive pin, hashed
    return [[str(python), "-m", "venv", "--prompt", final_dir.name, str(build_dir)],
            [target_python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
             "--require-hashes", "--no-deps", *links, "-r", str(lock)]]


def relocate(build_dir: Path, final_dir: Path) -> int:
    """pip writes the build dir's path into bin/ scripts (shebangs, activate); point them at the
    final dir before the rename. Returns how many files were rewritten."""
    old, new = str(build_dir).encode(), str(final_dir).encode()
    rewritten = 0
    for path in (build_dir / "bin").iterdir():
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data and b"\0" not in data[:1024]:      # text scripts only
            tmp = path.with_name(path.name + ".torch2tf-tmp")
            tmp.write_bytes(data.replace(old, new))
            shutil.copymode(path, tmp)
            os.replace(tmp, path)
            rewritten += 1
    return rewritten


def install(installer: str, python: Path, lock: Path, build_dir: Path, final_dir: Path, log_path: Path,
            find_links: Path | None = None) -> int | None:
    """Run the installer's steps; returns None on success, else the failing exit code."""
    env = proc.clean_env(overrides={"PIP_CONFIG_FILE": os.devnull} if installer == "pip" else None)
    for argv in steps(installer, python, lock, build_dir, final_dir, find_links):
        result = proc.run(argv, env=env, log_path=log_path)
        if result.returncode != 0:
            return result.returncode
    if installer == "pip":
        relocate(build_dir, final_dir)
    return None
