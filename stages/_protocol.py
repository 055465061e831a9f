"""The stage protocol, shared by every stage program. Runs under Python 3.6+ with stdlib only.

    python stages/<stage>.py request.json

request.json: {"stage", "inputs": {key: path}, "output_dir", "params": {...}}
The stage writes its outputs into output_dir and result.json there:
    {"status": "ok"|"error", "outputs": {key: {"path", "sha256"}}, "metrics", "warnings",
     "error": {"type", "message", "hint"}}
Exit code 0 only on success.

Each stage declares at its top what it takes and gives, as a plain literal the host can read too:
    CONTRACT = {"inputs": {key: required}, "params": {key: required}, "outputs": [key, ...],
                "choices": {param: [allowed values]}}     (choices: optional; a closed set's one home)
A key ending in ".*" stands for a family ("ref.*": ref.output, ref.boxes). main() refuses a request
with a missing or unknown key before the stage does anything, naming the stage and the key.
"""

import hashlib
import json
import os
import signal
import sys
import threading
import time
import traceback

PARENT_ENV = "TORCH2TF_PARENT_PID"     # set by the host for every process it starts
WATCH_SECONDS = 0.25


class StageFailure(Exception):
    """A failure the stage understands: carries the hint shown to the user. Its kind is the stage's
    word (the host's catalogue never renames it); `cause` is the underlying program's own first line
    when the message wraps it (the op and node when the stage knows them)."""
    route_independent = False

    def __init__(self, message, hint=None, kind=None, cause=None, wrapped=False):
        Exception.__init__(self, message)
        self.hint = hint
        self.kind = kind
        self.cause = cause
        self.wrapped = wrapped      # kind is a library's exception class, not a name of the stage's own:
                                    # the host's catalogue of known messages may name it better


class ModelFailure(StageFailure):
    """A failure of the user's model itself (it does not import, its weights do not load or fit, its
    forward fails on the example inputs, its outputs do not match the config): every route would
    meet it alike, so the host tries no other."""
    route_independent = True


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


def _declared(key, keys):
    """The contract entry that covers `key` (itself, or a "prefix.*" family), else None."""
    if key in keys:
        return key
    for pattern in keys:
        if pattern.endswith(".*") and key.startswith(pattern[:-1]):
            return pattern
    return None


def contract_problems(contract, request):
    """Every missing or unknown input/param key of the request, as readable phrases."""
    problems = []
    for section, noun in (("inputs", "input"), ("params", "param")):
        declared = contract.get(section, {})
        given = request.get(section) or {}
        problems += ["unknown %s %r" % (noun, k) for k in sorted(given) if _declared(k, declared) is None]
        problems += ["missing %s %r" % (noun, k) for k, required in sorted(declared.items())
                     if required and not k.endswith(".*") and k not in given]
    params = request.get("params") or {}
    for key, allowed in sorted(contract.get("choices", {}).items()):     # closed sets, declared once here
        if key in params and params[key] not in allowed:
            problems.append("param %r is %r, not one of %s" % (key, params[key], ", ".join(allowed)))
    return problems


def _check_outputs(contract, produced):
    unknown = [k for k in sorted(produced) if _declared(k, contract.get("outputs", [])) is None]
    if unknown:
        raise StageFailure("the stage gave outputs its CONTRACT does not declare: %s" % ", ".join(unknown),
                           kind="StageBug")


def watch_parent():
    """Die with the process that started this stage. The host starts each stage as the leader of a
    process group of its own; a killed host (kill -9: no handler of its runs) would leave the stage,
    and whatever it started (onnx2tf runs onnxsim), running on with no timeout. A thread notices the
    host is gone (this process was re-parented) and kills the whole group. A thread, not a signal
    handler: the main thread may sit in a long C call (a TF session run) that defers handlers."""
    expected = os.environ.get(PARENT_ENV)
    if not expected or not expected.isdigit():
        return          # run by hand, outside torch2tf

    def watch():
        while os.getppid() == int(expected):
            time.sleep(WATCH_SECONDS)
        if os.getpgrp() == os.getpid():         # the leader of its own group, as the host starts it
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    thread = threading.Thread(target=watch, name="torch2tf-parent-watch")
    thread.daemon = True
    thread.start()


def serve(run, contract, request, stage):
    """One request: check it against the CONTRACT, call run(request), write result.json into its
    output_dir. Returns the exit code (0 only on success). Every failure reaches result.json."""
    result_path = os.path.join(request["output_dir"], "result.json")
    try:
        problems = contract_problems(contract, request)
        if problems:
            raise StageFailure("stage %s: the request does not match its CONTRACT: %s" % (stage, "; ".join(problems)),
                               hint="the caller and stages/%s.py disagree: a torch2tf bug, or a stage program "
                                    "from another torch2tf version" % stage, kind="StageContract")
        produced = run(request) or {}
        _check_outputs(contract, produced.get("outputs", {}))
        outputs = {}
        for key, name in sorted(produced.get("outputs", {}).items()):
            path = os.path.join(request["output_dir"], name)
            if not os.path.exists(path):
                raise StageFailure("the stage did not write its output %s" % name, kind="StageBug")
            outputs[key] = {"path": name, "sha256": sha256_path(path)}
        result = {"status": "ok", "outputs": outputs, "metrics": produced.get("metrics", {}),
                  "warnings": produced.get("warnings", [])}
        code = 0
    except StageFailure as exc:
        traceback.print_exc()
        result = {"status": "error", "error": {"type": exc.kind or type(exc).__name__, "declared": bool(exc.kind) and not exc.wrapped,
                                                "message": str(exc), "hint": exc.hint, "cause": exc.cause,
                                                "route_independent": exc.route_independent}}
        code = 1
    except Exception as exc:  # noqa: BLE001 - every failure must reach result.json
        traceback.print_exc()
        result = {"status": "error", "error": {"type": type(exc).__name__,
                                                "message": "%s: %s" % (type(exc).__name__, exc),
                                                "hint": None}}
        code = 1
    _write_json(result_path, result)
    return code


def main(run, contract):
    """Read the request, check it against the stage's CONTRACT, call
    run(request) -> {"outputs": {key: filename}, "metrics", "warnings"}."""
    watch_parent()
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s request.json\n" % sys.argv[0])
        sys.exit(2)
    with open(sys.argv[1]) as fh:
        request = json.load(fh)
    stage = request.get("stage") or os.path.splitext(os.path.basename(sys.argv[0]))[0]
    sys.exit(serve(run, contract, request, stage))
