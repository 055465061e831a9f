"""`invoke <task> --help` (and -h) prints that task's help for every task, including those whose
arguments are required: invoke's parser would otherwise take the flag as the argument's value."""

from __future__ import annotations

import pytest
from conftest import run_invoke

import tasks

TASKS = sorted(tasks.ns.task_names)


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_task_prints_its_help(name, flag):
    out = run_invoke(name, flag)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"[--core-opts] {name} [--options]" in out.stdout and "Docstring:" in out.stdout
    assert "torch2tf:" not in out.stderr
    assert "  --, " not in out.stdout, "a dash taken as a short flag (invoke does when a name's letters are taken)"


def test_help_after_another_argument_still_prints_help():
    out = run_invoke("env.run", "--name", "tf14", "--help")
    assert out.returncode == 0 and "[--core-opts] env.run" in out.stdout


@pytest.mark.parametrize("args, message", [(["batch"], "--configs is required"),
                                           (["env.run", "--name", "tf14"], "required positional arguments: 'command'")])
def test_a_missing_required_argument_says_which(args, message):
    out = run_invoke(*args)
    assert out.returncode in (1, 2) and message in out.stderr and "Traceback" not in out.stderr
