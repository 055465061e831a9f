"""Choosing the installer and relocating pip-written scripts (no env is built here; the real pip build
is tests/test_env_store.py::test_pip_fallback_installer_builds_a_working_relocated_env)."""

import os

import pytest

from torch2tf.envs import installers
from torch2tf.errors import EnvError


def test_environment_variable_beats_config_and_unknown_is_refused(monkeypatch):
    monkeypatch.setenv("TORCH2TF_INSTALLER", "pip")
    assert installers.pick("uv") == "pip"
    monkeypatch.setenv("TORCH2TF_INSTALLER", "conda")
    with pytest.raises(EnvError, match="unknown installer 'conda'"):
        installers.pick(None)
    monkeypatch.delenv("TORCH2TF_INSTALLER")
    assert installers.pick("pip") == "pip" and installers.pick(None) == "uv"   # uv ships with the host install


def test_relocate_rewrites_scripts_but_not_binaries_or_links(tmp_path):
    build, final = tmp_path / ".build-x-1", tmp_path / "x"
    (build / "bin").mkdir(parents=True)
    script = build / "bin" / "tool"
    script.write_text(f"#!{build}/bin/python\nprint('hi')\n")
    script.chmod(0o755)
    binary = build / "bin" / "blob"
    binary.write_bytes(b"\0ELF" + str(build).encode())
    os.symlink(script, build / "bin" / "link")
    assert installers.relocate(build, final) == 1
    assert script.read_text().startswith(f"#!{final}/bin/python\n") and os.access(script, os.X_OK)
    assert str(build).encode() in binary.read_bytes()
