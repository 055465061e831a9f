"""Many requests of one stage in one process (stages/_batch.py driven by torch2tf/run/stagebatch.py),
with the env faked at the store seam (conftest.host_runner); the processes are real."""

from __future__ import annotations

import os

from torch2tf.run.stagebatch import Request, run_batch

TOY_STAGE = '''
import os, sys, time, _protocol
from _protocol import StageFailure

CONTRACT = {"inputs": {}, "params": {"text": False, "fail": False, "hang": False, "crash": False},
            "outputs": ["out"]}

def run(request):
    p = request["params"]
    sys.stderr.write("serving %s\\n" % p)
    if p.get("fail"):
        raise StageFailure("asked to fail", kind="Asked")
    if p.get("hang"):
        time.sleep(600)
    if p.get("crash"):
        os._exit(3)
    with open("out.txt", "w") as fh:      # relative: the driver serves each request in its output dir
        fh.write(p.get("text", ""))
    return {"outputs": {"out": "out.txt"}, "metrics": {"pid": os.getpid()}}

if __name__ == "__main__":
    _protocol.main(run, CONTRACT)
'''


def _runner(host_runner):
    (host_runner.settings.stages_dir / "toy.py").write_text(TOY_STAGE)
    return host_runner


def _leftovers(runner):
    cache = runner.settings.store / "cache"
    return [p for p in cache.rglob("*") if p.name.startswith((".tmp-", ".batch-"))]


def test_one_process_serves_many_requests_in_order_each_with_its_own_result(host_runner):
    runner = _runner(host_runner)
    requests = [Request({}, {"text": "a"}), Request({}, {"fail": True}), Request({}, {"text": "b"}),
                Request({}, {"text": "a"})]
    outcomes = run_batch(runner, "toy", "host", requests)
    assert [o.error is None for o in outcomes] == [True, False, True, True]
    assert outcomes[0].run.outputs["out"].path.read_text() == "a"
    assert outcomes[2].run.outputs["out"].path.read_text() == "b"
    assert outcomes[0].run.metrics["pid"] == outcomes[2].run.metrics["pid"]       # one process for all
    assert outcomes[3].run.key == outcomes[0].run.key                              # same key: run once
    err = outcomes[1].error
    assert err.error_class == "Asked" and "asked to fail" in err.message
    assert "serving" in open(err.log).read()            # its own log holds what it printed, not the others'
    assert "'text': 'b'" not in open(err.log).read()
    assert not _leftovers(runner)


def test_a_second_batch_takes_finished_requests_from_the_cache(host_runner):
    runner = _runner(host_runner)
    first = run_batch(runner, "toy", "host", [Request({}, {"text": "x"})])
    again = run_batch(runner, "toy", "host", [Request({}, {"text": "x"}), Request({}, {"text": "y"})])
    assert again[0].run.cached and again[0].run.key == first[0].run.key
    assert not again[1].run.cached


def test_a_hanging_request_is_stopped_and_the_rest_still_served(host_runner):
    runner = _runner(host_runner)
    outcomes = run_batch(runner, "toy", "host", [Request({}, {"text": "1"}), Request({}, {"hang": True}),
                                                 Request({}, {"text": "3"})], item_timeout=3)
    assert outcomes[0].error is None and outcomes[2].error is None
    assert outcomes[1].error.error_class == "StageTimeout" and "3 s" in outcomes[1].error.message
    assert outcomes[0].run.metrics["pid"] != outcomes[2].run.metrics["pid"]      # served by a new process
    assert not _leftovers(runner)


def test_a_request_that_kills_the_process_is_named_and_the_rest_still_served(host_runner):
    runner = _runner(host_runner)
    outcomes = run_batch(runner, "toy", "host", [Request({}, {"crash": True}), Request({}, {"text": "2"})])
    assert "died (exit code 3)" in outcomes[0].error.message
    assert outcomes[1].run.outputs["out"].path.read_text() == "2"
    assert os.path.basename(os.path.dirname(outcomes[0].error.log)).startswith("toy-")   # kept under failed/


def test_finished_requests_reach_the_cache_while_the_batch_still_runs(host_runner):
    """A run killed halfway (Ctrl-C, a Slurm time limit) keeps what its batch process had finished."""
    import threading
    import time
    runner = _runner(host_runner)
    requests = [Request({}, {"text": "kept"}), Request({}, {"hang": True})]
    entry = runner._entry("toy", runner.key("toy", "host", requests[0].inputs, requests[0].params))
    batch = threading.Thread(target=run_batch, args=(runner, "toy", "host", requests), kwargs={"item_timeout": 8})
    batch.start()
    deadline = time.time() + 8
    while not runner._intact(entry) and time.time() < deadline:
        time.sleep(0.1)
    published_while_running = runner._intact(entry) and batch.is_alive()
    batch.join()
    assert published_while_running
