"""The single way torch2tf starts a subprocess: an argv list, never a shell string."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

log = logging.getLogger("torch2tf")

# Variables that would make a stage env's interpreter import the host's packages.
_LEAKY_VARS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONSTARTUP")


def clean_env(extra_path: Path | None = None, overrides: Mapping[str, str] | None = None) -> dict:
    """The host environment minus what leaks into another interpreter; `extra_path` goes first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_VARS}
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    env.update(overrides or {})
    return env


class Interrupted(BaseException):
    """SIGINT / SIGTERM / SIGHUP reached torch2tf. Not an Exception: no failure handler records it
    (an interrupted matrix cell or batch row is not a result); the CLI exits 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_live: set[subprocess.Popen] = set()     # children running now, each the leader of its own group
_live_lock = threading.Lock()
_stop = threading.Event()
_stop_signal = [0]


def _kill_group(p: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM to the child's whole process group (the stage and anything it started), SIGKILL after
    `grace` seconds: nothing is left running under PID 1."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            p.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def stop_all(signum: int) -> None:
    """Stop every running child group; later run() calls raise Interrupted at once."""
    _stop_signal[0] = signum
    _stop.set()
    with _live_lock:
        children = list(_live)
    for p in children:
        _kill_group(p)


def install_signal_handlers() -> None:
    """SIGINT, SIGTERM and SIGHUP stop the children's groups, then raise Interrupted in the main thread."""
    def handler(signum, _frame):
        stop_all(signum)
        raise Interrupted(signum)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, handler)


PARENT_ENV = "TORCH2TF_PARENT_PID"      # read by stages/_protocol.py's watch_parent


def run(argv: Sequence[str | os.PathLike], *, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, log_path: Path | None = None,
        capture: bool = False, timeout: float | None = None,
        stalled: Callable[[], bool] | None = None) -> subprocess.CompletedProcess:
    """Run argv to completion in its own process group; output goes to `log_path` (appended), is
    captured, or is inherited. On timeout or any interruption the whole group is stopped and the
    exception (subprocess.TimeoutExpired, Interrupted, ...) propagates.

    `stalled`, polled twice a second, stops the child the same way when it returns True (a batch of
    stage requests whose current one hangs).

    Never raises on a non-zero exit: callers turn the code into a Torch2TFError that names
    what was running and where its log is.
    """
    if _stop.is_set():
        raise Interrupted(_stop_signal[0])
    argv = [os.fspath(a) for a in argv]
    # a stage's _protocol.watch_parent kills its process group when this process is gone (kill -9)
    env = {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}
    log.debug("run: %s", shlex.join(argv))
    with contextlib.ExitStack() as stack:
        out = err = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = stack.enter_context(open(log_path, "ab"))
            out.write(f"$ {shlex.join(argv)}\n".encode())
            out.flush()
            err = subprocess.STDOUT
        elif capture:
            out = err = subprocess.PIPE
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             text=capture and log_path is None, start_new_session=True)
        with _live_lock:
            _live.add(p)
        try:
            stdout, stderr = _communicate(p, timeout, stalled)
        except BaseException:
            _kill_group(p)
            raise
        finally:
            with _live_lock:
                _live.discard(p)
    if _stop.is_set():
        raise Interrupted(_stop_signal[0])
    return subprocess.CompletedProcess(argv, p.returncode, stdout, stderr)


def _communicate(p: subprocess.Popen, timeout: float | None, stalled: Callable[[], bool] | None):
    if stalled is None:
        return p.communicate(timeout=timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            return p.communicate(timeout=0.5)
        except subprocess.TimeoutExpired:
            if stalled() or (deadline is not None and time.monotonic() > deadline):
                raise


def tail(path: Path, lines: int = 15) -> str:
    """Last lines of a log, for error messages."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])
