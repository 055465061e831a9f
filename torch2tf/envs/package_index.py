"""The package index's JSON simple API (PEP 691, with PEP 700's upload-time): a package's files, when a
release was published, and an sdist fetched by the hash a lock pins."""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/simple"
TIMEOUT = 15


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def files(package: str, index: str | None = None) -> list[dict]:
    """The index's files of a package (filename, url, hashes, upload-time); [] when it cannot say."""
    base = (index or os.environ.get("UV_INDEX_URL") or INDEX).rstrip("/")
    request = urllib.request.Request(f"{base}/{normalized(package)}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.load(response).get("files", [])
    except (OSError, ValueError):
        return []


def release_files(package: str, version: str, listing: list[dict]) -> list[dict]:
    """The files of package==version in a listing (they spell the name with -, _ or .)."""
    spelled = "[-_.]".join(re.escape(part) for part in normalized(package).split("-"))
    stem = re.compile(rf"^{spelled}-{re.escape(version)}(\.tar\.gz|\.zip|-)", re.I)
    return [f for f in listing if stem.match(f.get("filename", ""))]


def download(package: str, sha256: str, dest_dir: Path) -> Path:
    """The file of `package` whose sha256 is the one given, downloaded into dest_dir and checked.
    Raises OSError when the index has no such file or the bytes differ."""
    match = next((f for f in files(package) if (f.get("hashes") or {}).get("sha256") == sha256), None)
    if match is None:
        raise OSError(f"the index lists no file of {package} with sha256 {sha256[:12]}...")
    path = dest_dir / match["filename"]
    with urllib.request.urlopen(match["url"], timeout=TIMEOUT * 8) as response:
        data = response.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise OSError(f"{match['filename']} from the index does not have the sha256 its lock pins")
    path.write_bytes(data)
    return path
