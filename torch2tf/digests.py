"""The project's two digests: of a file or directory's bytes, and of a JSON-able value. Every
identity (env, spec, model, route, stage-cache key) is one of these, so they agree everywhere."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def json_digest(value, length: int | None = None) -> str:
    """sha256 of the canonical JSON of `value` (sorted keys; paths and other objects as str)."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:length] if length else digest


def file_digest(path: Path, _memo: dict = {}) -> str:  # noqa: B006 - per-process memo by (path, mtime, size)
    """sha256 of a file, or of a directory as stages/_protocol.py's sha256_path computes it.
    Memoized by (path, mtime, size): for digests of inputs the user may not touch mid-run; a cache
    hit re-reads its outputs with `fresh=True`."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = Path(root) / name
                h.update(str(full.relative_to(path)).encode() + b"\0" + file_digest(full, _memo).encode())
        return h.hexdigest()
    st = path.stat()
    memo_key = (str(path), st.st_mtime_ns, st.st_size)
    if memo_key not in _memo:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _memo[memo_key] = h.hexdigest()
    return _memo[memo_key]
