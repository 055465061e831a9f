"""The bad-input corpus: every bad config in tests/bad_inputs/ and every bad flag or environment gets
exit code 1, one clear message naming the file and key (or flag), no traceback, and runs no stage.

Each corpus file says what the message must contain in its first line (`# expect: ...`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ROOT, run_invoke

CORPUS = sorted((ROOT / "tests" / "bad_inputs").glob("*.yaml"))
EXPECT_BINARY = "not UTF-8 text"


def expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0]
    return first[len(b"# expect: "):].decode() if first.startswith(b"# expect: ") else EXPECT_BINARY


def assert_one_clear_error(out, *fragments: str) -> None:
    assert out.returncode == 1, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    assert out.stderr.startswith("torch2tf: "), out.stderr
    for f in fragments:
        assert f in out.stderr, (f, out.stderr)


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 50


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_bad_config(path, tmp_path):
    out = run_invoke("pipeline", "--config", str(path),
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "artifacts")}, timeout=120)
    assert_one_clear_error(out, expected(path), path.name)
    assert "[1/" not in out.stdout, "a stage ran for a bad config"
    assert not (tmp_path / "artifacts").exists() or not any((tmp_path / "artifacts").iterdir())
    assert not (path.parent / "locks").exists(), "a lock (or its folder) was left for a refused config"


GOOD = str(ROOT / "configs" / "tinynet.yaml")


@pytest.mark.parametrize("args, fragments", [
    (["pipeline", "--config", GOOD, "--opset", "abc"], ["--opset takes a whole number >= 7, got 'abc'"]),
    (["pipeline", "--config", GOOD, "--opset", "0"], ["--opset takes a whole number >= 7, got '0'"]),
    (["pipeline", "--config", GOOD, "--opset", "12", "--route", "onnx-tf-1.3.0-opset9"], ["opset 12 is above"]),
    (["pipeline", "--config", str(ROOT / "configs")], ["is a directory, not a YAML file"]),
    (["pipeline", "--config", "no/such.yaml"], ["file not found", "such.yaml"]),
    (["batch", "--configs", GOOD, "--jobs", "abc"], ["--jobs takes a whole number >= 1, got 'abc'"]),
    (["matrix", "--jobs", "0"], ["--jobs takes a whole number >= 1, got '0'"]),
    (["matrix", "--models", "nosuch"], ["no matrix model 'nosuch'"]),
    (["batch", "--configs", GOOD, "--executor", "foo"], ["unknown executor 'foo'", "one of local, slurm"]),
    (["matrix", "--models", "multihead", "--executor", "slurm", "--max-jobs", "abc"],
     ["--max-jobs takes a whole number >= 1, got 'abc'"]),
    (["inspect", "no/such/model.pb"], ["no/such/model.pb does not exist"]),
    (["inspect", GOOD], ["not a .pb, .onnx, .tflite or SavedModel directory"]),
])
def test_bad_flags(args, fragments, tmp_path):
    out = run_invoke(*args, env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")}, timeout=120)
    assert_one_clear_error(out, *fragments)
    assert "[1/" not in out.stdout


def test_store_that_is_a_file(tmp_path):
    (tmp_path / "store").write_text("not a dir")
    out = run_invoke("pipeline", "--config", GOOD, env_overrides={
        "TORCH2TF_STORE": str(tmp_path / "store"), "INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")}, timeout=120)
    assert_one_clear_error(out, "is not a writable directory", "TORCH2TF_STORE")


def test_artifacts_dir_that_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("x")
    out = run_invoke("pipeline", "--config", GOOD, env_overrides={
        "INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "file" / "artifacts")}, timeout=120)
    assert_one_clear_error(out, "artifacts dir")
    assert "[1/" not in out.stdout


def test_a_symlinked_artifacts_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "a").mkdir()
    os.symlink(outside, tmp_path / "a" / "tinynet")
    out = run_invoke("pipeline", "--config", GOOD, env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")},
                     timeout=120)
    assert_one_clear_error(out, "is a symbolic link")
    assert not any(outside.iterdir())


def test_batch_checks_every_config_before_running_any(tmp_path):
    out = run_invoke("batch", "--configs", f"{GOOD},{ROOT / 'tests' / 'bad_inputs' / 'atol-negative.yaml'}",
                     env_overrides={"INVOKE_TORCH2TF_ARTIFACTS": str(tmp_path / "a")}, timeout=120)
    assert_one_clear_error(out, "atol must be a number >= 0", "atol-negative.yaml")
    assert not (tmp_path / "a" / "tinynet").exists()


@pytest.mark.parametrize("name", ["model.pb", "model.onnx", "model.tflite"])
def test_inspect_of_an_empty_file_is_refused(name, tmp_path):
    (tmp_path / name).write_bytes(b"")
    out = run_invoke("inspect", str(tmp_path / name), timeout=120)
    assert_one_clear_error(out, "is empty (0 bytes)", name)


@pytest.mark.stack
@pytest.mark.parametrize("name", ["model.pb", "model.onnx"])
def test_inspect_of_a_file_that_parses_as_an_empty_graph_is_refused(name, tmp_path):
    # field 127, varint 1: a valid protobuf message with no nodes, as a foreign file may be
    (tmp_path / name).write_bytes(b"\xf8\x07\x01")
    out = run_invoke("inspect", str(tmp_path / name), timeout=300)
    assert_one_clear_error(out, "holds no graph (0 nodes)", name)
