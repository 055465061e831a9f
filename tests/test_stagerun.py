"""The stage runner and cache, with the env faked at one seam: `envs.resolve`/`envs.build`
return an env whose python is the host's. The stage programs and processes are real."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from torch2tf.errors import StageError
from torch2tf.run.stagerun import StageRunner

ROOT = Path(__file__).resolve().parent.parent

ECHO_STAGE = '''
import os, _protocol
from _protocol import StageFailure

def run(request):
    p = request["params"]
    if p.get("fail"):
        raise StageFailure("asked to fail", hint="do not ask", kind="Asked")
    if p.get("crash"):
        os._exit(3)
    if p.get("hang"):          # a stage that never returns, with a grandchild of its own
        import subprocess, time
        child = subprocess.Popen(["sleep", "300"])
        open(p["hang"], "w").write(str(child.pid))
        time.sleep(300)
    if p.get("abort"):       # what old TensorFlow does on a failed internal check
        import sys
        sys.stderr.write("2026-01-01 F tensorflow/core/framework/tensor.cc:586] Check failed: "
                         "dtype() == expected_dtype (9 vs. 3)\\n")
        sys.stderr.flush()
        os.abort()
    src = request["inputs"].get("src")
    text = open(src).read() if src else ""
    with open(os.path.join(request["output_dir"], "out.txt"), "w") as fh:
        fh.write(text + p.get("text", ""))
    return {"outputs": {"out": "out.txt"}, "metrics": {"pid": os.getpid()}, "warnings": p.get("warn", [])}

if __name__ == "__main__":
    _protocol.main(run, {"inputs": {"src": False}, "params": {"fail": False, "crash": False, "abort": False,
                                                              "text": False, "warn": False, "hang": False},
                         "outputs": ["out"]})
'''


@pytest.fixture
def runner(host_runner) -> StageRunner:
    (host_runner.settings.stages_dir / "echo.py").write_text(ECHO_STAGE)
    return host_runner


def test_cache_hit_reuses_outputs_and_params_change_reruns(runner, tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("a")
    first = runner.run("echo", "host", {"src": src}, {"text": "b"})
    assert not first.cached and first.outputs["out"].path.read_text() == "ab"
    again = runner.run("echo", "host", {"src": src}, {"text": "b"})
    assert again.cached and again.metrics["pid"] == first.metrics["pid"] and again.key == first.key
    changed = runner.run("echo", "host", {"src": src}, {"text": "c"})
    assert not changed.cached and changed.outputs["out"].path.read_text() == "ac"
    src.write_text("z")          # an input's content is part of the key, not its path
    assert not runner.run("echo", "host", {"src": src}, {"text": "b"}).cached
    fresh = StageRunner(runner.settings, fresh=True).run("echo", "host", {"src": src}, {"text": "b"})
    assert not fresh.cached


def test_stage_program_change_invalidates_cache(runner):
    runner.run("echo", "host", {}, {"text": "x"})
    prog = runner.settings.stages_dir / "echo.py"
    prog.write_text(prog.read_text() + "\n# changed\n")
    assert not runner.run("echo", "host", {}, {"text": "x"}).cached


def test_chained_outputs_feed_the_next_stage(runner):
    a = runner.run("echo", "host", {}, {"text": "1"})
    b = runner.run("echo", "host", {"src": a.outputs["out"]}, {"text": "2"})
    assert b.outputs["out"].path.read_text() == "12"


def test_failure_carries_message_hint_and_log_and_leaves_no_temp(runner):
    with pytest.raises(StageError) as info:
        runner.run("echo", "host", {}, {"fail": True})
    err = info.value
    assert "asked to fail" in err.message and err.hint == "do not ask" and err.error_class == "Asked"
    assert "stage echo, env host" in err.where and Path(err.log).is_file()
    assert "StageFailure" in Path(err.log).read_text()     # the traceback is in the log, not the message
    cache = runner.settings.store / "cache" / "echo"
    assert not [p for p in cache.rglob("*") if p.name.startswith(".tmp-")]
    assert not list(cache.rglob("result.json"))


def test_crash_without_result_json_is_reported_with_the_log_tail(runner):
    with pytest.raises(StageError) as info:
        runner.run("echo", "host", {}, {"crash": True})
    assert "exit code 3" in info.value.message


def test_abort_names_the_signal_and_the_fatal_line_and_the_catalogue_knows_it(runner):
    with pytest.raises(StageError) as info:
        runner.run("echo", "host", {}, {"abort": True})
    first = info.value.message.splitlines()[0]
    assert "killed by SIGABRT" in first and "Check failed: dtype() == expected_dtype (9 vs. 3)" in first
    assert info.value.error_class == "KernelDtypeCheck" and "int64" in info.value.hint


def test_known_error_catalogue_supplies_the_hint(runner):
    prog = runner.settings.stages_dir / "echo.py"
    prog.write_text(prog.read_text().replace('raise StageFailure("asked to fail", hint="do not ask", kind="Asked")',
                                             'raise ValueError("Your model ir_version is higher than the checker\'s.")'))
    with pytest.raises(StageError) as info:
        runner.run("echo", "host", {}, {"fail": True})
    assert info.value.error_class == "IRTooNew" and "ir_version" in info.value.hint


def test_warnings_and_result_json_shape(runner):
    run = runner.run("echo", "host", {}, {"warn": ["careful"]})
    assert run.warnings == ["careful"]
    result = json.loads((run.outputs["out"].path.parent / "result.json").read_text())
    assert result["status"] == "ok" and len(result["outputs"]["out"]["sha256"]) == 64


@pytest.mark.parametrize("damage", ["truncate", "same_size_edit", "delete", "bad_result_json"])
def test_a_damaged_cache_entry_is_never_reused(runner, damage):
    first = runner.run("echo", "host", {}, {"text": "payload"})
    out = first.outputs["out"].path
    entry = out.parent
    if damage == "truncate":
        out.write_text("pay")
    elif damage == "same_size_edit":          # same size and mtime: a memo by (size, mtime) would miss it
        st = out.stat()
        out.write_text("PAYLOAD")
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif damage == "delete":
        out.unlink()
    else:
        (entry / "result.json").write_text("{not json")
    again = runner.run("echo", "host", {}, {"text": "payload"})
    assert not again.cached and again.outputs["out"].path.read_text() == "payload"
    assert runner.repaired == [str(entry)]
    assert runner.run("echo", "host", {}, {"text": "payload"}).cached      # repaired for good


def test_a_request_outside_the_stage_contract_fails_naming_stage_and_key(runner):
    with pytest.raises(StageError) as info:
        runner.run("echo", "host", {}, {"text": "x", "colour": "red"})
    assert "stage echo: the request does not match its CONTRACT: unknown param 'colour'" in info.value.message
    assert info.value.error_class == "StageContract"
    with pytest.raises(StageError, match="unknown input 'other'"):
        runner.run("echo", "host", {"other": runner.settings.stages_dir / "echo.py"}, {})


def test_a_hanging_stage_is_stopped_at_its_timeout_with_its_whole_group(runner, tmp_path):
    import time
    pid_file = tmp_path / "grandchild.pid"
    runner.timeout = 3
    started = time.monotonic()
    with pytest.raises(StageError) as info:
        runner.run("echo", "host", {}, {"hang": str(pid_file)})
    assert time.monotonic() - started < 30
    err = info.value
    assert err.error_class == "StageTimeout" and "did not finish within 3 s" in err.message
    assert "timeout:" in err.hint and Path(err.log).is_file()
    grandchild = int(pid_file.read_text())
    for _ in range(50):
        if not Path(f"/proc/{grandchild}").exists() or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the stage's grandchild outlived the timeout")


def test_an_env_built_for_a_step_is_announced_and_its_time_kept(runner, monkeypatch):
    """A first build downloads hundreds of MB: a line before and after, and the step keeps what it took
    (with the lock's time when the run locked a model's requirements)."""
    from torch2tf.run import stagerun
    env = stagerun.envs.resolve(None, None)[0]
    said = []
    runner.say = said.append
    runner._locked["host"] = 7.2
    monkeypatch.setattr(stagerun.envs, "build", lambda spec, settings: (env, True))
    monkeypatch.setattr(stagerun.envs, "dir_size", lambda path: 1.3e9)
    run = runner.run("echo", "host", {}, {"text": "x"})
    assert said[0].strip().startswith("building env host") and "built env host in" in said[1]
    assert run.env_note.startswith("locked in 7s, built in ") and run.env_note.endswith("(1.3 GB)")
    monkeypatch.setattr(type(env), "is_built", lambda self: True)
    again = runner.run("echo", "host", {}, {"text": "y"})      # built now: nothing said; the run's note kept
    assert len(said) == 2 and again.env_note == run.env_note
    assert StageRunner(runner.settings).run("echo", "host", {}, {"text": "y"}).env_note == ""   # another run
