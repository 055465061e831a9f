"""The stage protocol, shared by every stage program. Runs under Python 3.6+ with stdlib only.

    python stages/<stage>.py request.json

request.json: {"stage", "inputs": {key: path}, "output_dir", "params": {...}}
The stage writes its outputs into output_dir and result.json there:
    {"status": "ok"|"error", "outputs": {key: {"path", "sha256"}}, "metrics", "warnings",
     "error": {"type", "message", "hint"}}
Exit code 0 only on success.
"""

import hashlib
import json
import os
import sys
import time
import traceback


class StageFailure(Exception):
    """A failure the stage understands: carries the hint shown to the user."""

    def __init__(self, message, hint=None, kind=None):
        Exception.__init__(self, message)
        self.hint = hint
        self.kind = kind


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_path(path):
    """A file's digest, or a directory's: over its relative paths and their files' digests."""
    if os.path.isfile(path):
        return sha256_file(path)
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            h.update(os.path.relpath(full, path).encode() + b"\0" + sha256_file(full).encode())
    return h.hexdigest()


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.rename(tmp, path)


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def main(run):
    """Read the request, call run(request) -> {"outputs": {key: filename}, "metrics", "warnings"}."""
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s request.json\n" % sys.argv[0])
        sys.exit(2)
    with open(sys.argv[1]) as fh:
        request = json.load(fh)
    out_dir = request["output_dir"]
    result_path = os.path.join(out_dir, "result.json")
    try:
        produced = run(request) or {}
        outputs = {}
        for key, name in sorted(produced.get("outputs", {}).items()):
            path = os.path.join(out_dir, name)
            if not os.path.exists(path):
                raise StageFailure("the stage did not write its output %s" % name, kind="StageBug")
            outputs[key] = {"path": name, "sha256": sha256_path(path)}
        result = {"status": "ok", "outputs": outputs, "metrics": produced.get("metrics", {}),
                  "warnings": produced.get("warnings", [])}
        code = 0
    except StageFailure as exc:
        traceback.print_exc()
        result = {"status": "error", "error": {"type": exc.kind or type(exc).__name__,
                                                "message": str(exc), "hint": exc.hint}}
        code = 1
    except Exception as exc:  # noqa: BLE001 - every failure must reach result.json
        traceback.print_exc()
        result = {"status": "error", "error": {"type": type(exc).__name__,
                                                "message": "%s: %s" % (type(exc).__name__, exc),
                                                "hint": None}}
        code = 1
    _write_json(result_path, result)
    sys.exit(code)
