"""batch: run many requests of one stage in one process (Python 3.6+, stdlib plus the env).

    python stages/_batch.py batch.json

batch.json: {"stage": "convert", "requests": [path of a request.json, ...], "progress": path}
Each request is served exactly as `python stages/<stage>.py request.json` would serve it: its
result.json lands in its own output_dir, and its stage.log there holds what the stage printed (fd 1
and 2, TensorFlow's C++ logging too). Starting TensorFlow once for hundreds of small models is
what makes the ONNX node tests over every route fit in minutes, not hours.

Before each request the index and the time are written to `progress`: a request that hangs or kills
the process (a segfault in an old TensorFlow) is named by it, and the host goes on with the rest.
"""

import importlib
import json
import os
import sys
import time

import _protocol

CONTRACT_KEYS = ("stage", "requests", "progress")


def _write_progress(path, index):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"index": index, "started": time.time(), "pid": os.getpid()}, fh)
    os.rename(tmp, path)


def _fresh_graph_state():
    """A converter leaves ops in TF's default graph and Keras' session (onnx2tf): cleared between
    requests so that one model's names and memory never reach the next."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    v1 = getattr(getattr(tf, "compat", None), "v1", tf)
    reset = getattr(v1, "reset_default_graph", None)
    if reset is not None:
        try:
            reset()
        except Exception:   # noqa: BLE001 - inside a graph context: nothing to clear
            pass
    keras = getattr(tf, "keras", None)
    if keras is not None and hasattr(keras, "backend"):
        try:
            keras.backend.clear_session()
        except Exception:   # noqa: BLE001
            pass


class _Redirected(object):
    """fd 1 and 2 (Python's and C++'s output alike) into one request's stage.log."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        return self

    def __exit__(self, *exc):
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        os.close(self.saved[0])
        os.close(self.saved[1])
        return False


def main():
    _protocol.watch_parent()
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s batch.json\n" % sys.argv[0])
        sys.exit(2)
    with open(sys.argv[1]) as fh:
        batch = json.load(fh)
    unknown = sorted(set(batch) - set(CONTRACT_KEYS))
    if unknown or "stage" not in batch or "requests" not in batch:
        sys.stderr.write("batch.json: unknown keys %s or stage / requests missing\n" % unknown)
        sys.exit(2)
    module = importlib.import_module(batch["stage"])
    failed = 0
    for index, request_path in enumerate(batch["requests"]):
        if batch.get("progress"):
            _write_progress(batch["progress"], index)
        with open(request_path) as fh:
            request = json.load(fh)
        log = os.path.join(request["output_dir"], "stage.log")
        os.chdir(request["output_dir"])          # as the host starts a single stage: in its output dir
        with _Redirected(log):
            _protocol.log("batch item %d: %s" % (index, request_path))
            failed += _protocol.serve(module.run, module.CONTRACT, request, batch["stage"])
        _fresh_graph_state()
    if batch.get("progress"):
        _write_progress(batch["progress"], len(batch["requests"]))
    sys.stderr.write("batch %s: %d requests, %d failed\n" % (batch["stage"], len(batch["requests"]), failed))


if __name__ == "__main__":
    main()
