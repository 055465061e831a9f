"""Atomic writes and per-resource file locks: nothing half-written, no two builders at once."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

# mkstemp creates 0600 files; published files get the mode any other file would (0644 under umask 022).
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
LOCK_NOTICE_AFTER = 3.0     # seconds of silent waiting before saying whose lock it is
# POSIX locks exclude processes, not threads (and closing any fd of the file drops them), so
# threads of one process (parallel matrix cells) first queue on a per-path thread lock.
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same dir, then replace: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def lock_holder(path: Path) -> str:
    """Who holds (or last held) a lock, from what the holder wrote into the lock file."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "an unknown process"
    if not info:
        return "an unknown process"
    started = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
    return f"pid {info.get('pid')} on {info.get('host')} ({info.get('what')}, since {started})"


@contextlib.contextmanager
def file_lock(path: Path, what: str = "", notify: Callable[[str], None] = _stderr,
              notice_after: float = LOCK_NOTICE_AFTER) -> Iterator[None]:
    """Exclusive lock held for the block; the kernel drops it if the holder dies (even SIGKILL).

    POSIX record locks (lockf), not flock: they also hold across hosts on NFS. The holder writes
    its pid, host and `what` into the file so that a waiter can say whose lock it waits on.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCKS_GUARD:
        in_process = _THREAD_LOCKS.setdefault(str(path.resolve()), threading.Lock())
    if not in_process.acquire(timeout=notice_after):
        notify(f"  waiting for {path} held by another run in this process")
        in_process.acquire()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            _acquire(fd, path, notify, notice_after)
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                          "what": what or path.stem, "since": time.time()}).encode(), 0)
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.lockf(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        in_process.release()


def _acquire(fd: int, path: Path, notify: Callable[[str], None], notice_after: float) -> None:
    start = time.monotonic()
    told = False
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if told:
                notify(f"  got the lock {path.name} after {time.monotonic() - start:.1f} s")
            return
        except OSError:
            pass
        if not told and time.monotonic() - start >= notice_after:
            notify(f"  waiting for {path} held by {lock_holder(path)}")
            told = True
        time.sleep(0.1)


def replace_dir(src: Path, dst: Path) -> None:
    """Move a finished dir into place, replacing any old one (old moved aside, then removed)."""
    old = None
    if dst.exists():
        old = dst.with_name(f".old-{dst.name}-{os.getpid()}")
        os.rename(dst, old)
    os.rename(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
