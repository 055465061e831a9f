"""File locks and atomic writes: a waiter says whose lock it waits on; files get ordinary modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from torch2tf import atomic

HOLDER = """
import sys, time
from pathlib import Path
from torch2tf import atomic
with atomic.file_lock(Path(sys.argv[1]), what="building env tf14"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold_in_other_process(lock: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_waiter_names_the_holder_pid_and_what_it_does(tmp_path):
    lock = tmp_path / "locks" / "tf14.lock"
    holder = _hold_in_other_process(lock, 1.5)
    said: list[str] = []
    t0 = time.monotonic()
    with atomic.file_lock(lock, what="me", notify=said.append, notice_after=0.3):
        waited = time.monotonic() - t0
    holder.wait()
    assert waited > 0.5, "the lock was not exclusive across processes"
    assert any(f"pid {holder.pid}" in m and "building env tf14" in m for m in said), said
    assert any("got the lock" in m for m in said), said


def test_no_notice_when_the_lock_is_free_and_the_file_is_not_world_writable(tmp_path):
    lock = tmp_path / "x.lock"
    said: list[str] = []
    with atomic.file_lock(lock, what="me", notify=said.append, notice_after=0.0):
        assert f"pid {os.getpid()}" in atomic.lock_holder(lock)
    assert said == []
    assert not stat.S_IMODE(lock.stat().st_mode) & stat.S_IWOTH


def test_threads_of_one_process_exclude_each_other(tmp_path):
    lock, inside, overlaps = tmp_path / "t.lock", [], []

    def work():
        with atomic.file_lock(lock, notify=lambda m: None):
            inside.append(1)
            if len(inside) > 1:
                overlaps.append(1)
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []


def test_write_text_gives_the_mode_of_any_other_file(tmp_path):
    written, plain = tmp_path / "report.json", tmp_path / "plain.txt"
    atomic.write_text(written, "{}")
    plain.write_text("{}")
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
