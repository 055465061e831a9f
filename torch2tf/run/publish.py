"""Publishing a run under artifacts/<name>/: the plan's files and logs, and report.json.

A passed run is assembled in a temp dir beside the destination and swapped in whole. Files are
copies, never hard links into the stage cache: editing a published model must not change the cache
entry that every config sharing it reuses. A failed run keeps the last good artifacts and says what
failed in report.json, with the failing log beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from torch2tf import atomic
from torch2tf.digests import file_digest
from torch2tf.errors import Torch2TFError
from torch2tf.run.execute import Execution
from torch2tf.run.report import Published, Report


def check_destination(dest: Path) -> None:
    """Before any stage runs: artifacts/<name> is a real directory (or absent) in a writable parent."""
    from torch2tf.errors import ConfigError
    if dest.is_symlink():
        raise ConfigError(f"{dest} is a symbolic link", where=str(dest),
                          hint="torch2tf writes only inside its artifacts dir: remove the link or rename the config")
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"{dest} exists and is not a directory", where=str(dest), hint="move it away")
    parent = dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the artifacts dir: {exc.strerror}", where=str(parent),
                          hint="point torch2tf.artifacts (invoke.yaml) or INVOKE_TORCH2TF_ARTIFACTS elsewhere") from None
    try:      # a real write: os.access says yes to root on a read-only mount
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise ConfigError(f"the artifacts dir {parent} is not writable: {exc.strerror}", where=str(parent),
                          hint="fix its permissions, or point torch2tf.artifacts (invoke.yaml) elsewhere") from None


def publish(dest: Path, execution: Execution, report: Report) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "logs").mkdir(parents=True)
        for name, ref in execution.plan.published().items():
            art = execution.artifact(ref)
            _copy_checked(art.path, tmp / name, art.sha256)
            report.artifacts[name] = Published(path=str(dest / name), sha256=art.sha256)
        for label, run in execution.runs.items():
            _copy(run.log, tmp / "logs" / f"{label}.log")
        report.write(tmp / "report.json")
        atomic.replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish_failure(dest: Path, report: Report) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    previous = dest / "report.json"
    report.last_good = _last_good(previous)
    log = (report.error or {}).get("log")
    if log and Path(log).is_file():
        (dest / "logs").mkdir(exist_ok=True)
        target = dest / "logs" / f"{report.error.get('step') or 'failed'}.log"
        shutil.copyfile(log, target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)
        report.error["log"] = str(target)
    _keep_failed_artifact(dest, report)
    report.write(previous)


def _keep_failed_artifact(dest: Path, report: Report) -> None:
    """The artifact that failed its verification, under failed/, for inspection (never beside the
    last good one's files: a consumer must not pick it up by its usual name)."""
    src = Path((report.error or {}).get("artifact") or "")
    if not src.name or not src.exists():
        return
    target = dest / "failed" / report.error.get("artifact_name", src.name)
    shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
    target.parent.mkdir(exist_ok=True)
    (shutil.copytree if src.is_dir() else shutil.copyfile)(src, target)
    report.error["artifact"] = str(target)


def _last_good(previous: Path) -> dict | None:
    """The passed report this failure leaves in place (or the one the last failure kept)."""
    try:
        old = json.loads(previous.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(old, dict):
        return None
    return old if old.get("status") == "passed" else old.get("last_good")


def _copy_checked(src: Path, dst: Path, sha256: str) -> None:
    """Copy a stage output and check the copy is what the stage made: a cache entry changed or
    removed meanwhile (by a repair, or by hand) must never be published."""
    try:
        if Path(src).is_dir():
            shutil.copytree(src, dst)
            copied = file_digest(dst, {})
        else:
            copied = _copy_hashing(src, dst)
    except FileNotFoundError:
        copied = None
    if copied != sha256:
        raise Torch2TFError(f"the stage output {src} changed or vanished before it was published", where=str(src),
                            hint="run again: the stage is re-run from a repaired cache entry",
                            error_class="CacheChanged")


def _copy_hashing(src: Path, dst: Path) -> str:
    """Copy a file and return the sha256 of the bytes written, reading the source once."""
    h = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for block in iter(lambda: fin.read(1 << 20), b""):
            h.update(block)
            fout.write(block)
    shutil.copymode(src, dst)
    return h.hexdigest()


def _copy(src: Path, dst: Path) -> None:
    if Path(src).is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)
